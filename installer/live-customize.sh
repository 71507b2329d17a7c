#!/usr/bin/env bash
# The live root's customisation, run by mmdebstrap (--customize-hook) after the packages are installed, with
# the tree as $1. Part of the live root's cache key (installer/build-iso).
set -euo pipefail
r=$1
mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
# The boot unit: runs the installer the ISO carries (/opdbus/installer.sh on the live medium), on the
# consoles, instead of the gettys there (a getty starting on a console would hang the installer's output
# up; the installer starts shells itself when it stops).
cat >"$r/etc/systemd/system/opdbus-installer.service" <<'UNIT'
[Unit]
Description=op-dbus installer (from the live medium)
Wants=network-online.target
After=network-online.target systemd-udev-settle.service local-fs.target systemd-user-sessions.service
Before=getty@tty1.service serial-getty@ttyS0.service
Conflicts=getty@tty1.service serial-getty@ttyS0.service
ConditionPathExists=/run/live/medium/opdbus/installer.sh

[Service]
Type=oneshot
RemainAfterExit=yes
KillMode=process
TimeoutStartSec=infinity
StandardInput=null
StandardOutput=journal+console
ExecStart=/bin/bash /run/live/medium/opdbus/installer.sh

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/opdbus-installer.service \
  "$r/etc/systemd/system/multi-user.target.wants/opdbus-installer.service"
# Any wired NIC by DHCP (the target's packages come from the mirror); give up waiting after a minute.
mkdir -p "$r/etc/systemd/network" "$r/etc/systemd/system/systemd-networkd-wait-online.service.d"
printf '[Match]\nName=en* eth*\n[Network]\nDHCP=yes\n' >"$r/etc/systemd/network/50-opdbus-dhcp.network"
printf '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60\n' \
  >"$r/etc/systemd/system/systemd-networkd-wait-online.service.d/opdbus.conf"
ln -sf /lib/systemd/system/systemd-networkd.service "$r/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
mkdir -p "$r/etc/systemd/system/network-online.target.wants"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service \
  "$r/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"
echo opdbus-installer >"$r/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 opdbus-installer\n' >"$r/etc/hosts"
# Root without a password on the live system's consoles (the shells the installer starts on a stop).
sed -i 's/^root:[^:]*:/root::/' "$r/etc/shadow"
rm -f "$r/etc/machine-id" && touch "$r/etc/machine-id"
