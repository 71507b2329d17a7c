#!/usr/bin/env bash
# op-dbus bootstrap's UEFI proof (issue 14): examples/complete-server.json installed from inside a VM (a real
# Debian kernel, which has the vfat this host's kernel lacks) onto a blank virtio disk, then THAT disk booted
# alone with OVMF (UEFI firmware, a fresh copy of its variables: no boot entries, so grub's removable path
# EFI/BOOT/BOOTX64.EFI is what boots). A unit added to the document reports from the booted system on the second
# serial port (ttyS1; a getty owns ttyS0): hostname, mounts and btrfs subvolumes, the user and her key, units
# and the timer enabled and running, the bridge and its address, the firewall table, and whether
# `op-dbus plan /etc/op-dbus/state.json` exits 0. An SSH login with the document's key goes through a qemu
# user-net forward.
# The example is changed only where the test must: the SSH key (the test's own), the NIC's address (for the
# SSH login through the forward), the report unit; the install disk is given on the command line (/dev/vdc in
# the install VM, /dev/vda, as the document says, when booted alone).
# Packages: the install VM reaches deb.debian.org through qemu's user network; what it downloads is kept on a
# cache disk, /var/cache/op-dbus-tests/bootstrap-uefi/cache-SUITE.img (one run at a time uses it). Before the
# VM starts, `op-dbus bootstrap --prepare-cache` makes the base system and the installed system for the same
# document on this host (natively: minutes, where debootstrap and apt under TCG take 30-50) and they are copied
# onto that disk, so the install in the VM unpacks them: the VM proves the install from the cache, the stages
# that follow it, the ESP and the UEFI boot; the apt path itself is proved by bootstrap-loop.
# With BOOTLOADER systemd-boot (the test bootstrap-uefi-sdboot) the document says "bootloader": "systemd-boot"
# and the install VM checks systemd-boot's files and loader entry instead of GRUB's. With BOOTLOADER both (the
# test bootstrap-both) the layout gains a bios_grub partition, GRUB is installed for UEFI and BIOS, and after
# the OVMF boot the same disk is booted by SeaBIOS as well.
# usage: run.sh OPDBUS SRCDIR [BOOTLOADER]     (prints TAP; needs root and qemu; BOOTLOADER: grub-efi (default),
#                                              systemd-boot or both)
set -u
OPDBUS=$(readlink -f "$1")
SRC=$(readlink -f "$2")
BOOTLOADER=${3:-grub-efi}
BUILD=$(dirname "$OPDBUS")
HERE=$SRC/tests/vm/bootstrap
. "$SRC/tests/lib/tap.sh"
. "$SRC/tests/vm/lib/phases.sh"

vm_require
OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
[ -f "$OVMF_CODE" ] && [ -f "$OVMF_VARS" ] || tap_skip_all "OVMF is not installed (package ovmf)"
for t in python3 ssh ssh-keygen dpkg-deb help2man; do
  command -v "$t" >/dev/null || tap_skip_all "$t is not installed (scripts/install-deps.sh)"
done
T=$(mktemp -d /tmp/opdbus-uefi-vm.XXXXXX)
QEMU_PID=
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
TAP_OUT=$T/out
START=$SECONDS

# The package cache disk, one run at a time.
CACHE=${OPDBUS_TEST_CACHE:-/var/cache/op-dbus-tests}/bootstrap-uefi
mkdir -p "$CACHE"
exec {cache_lock}>"$CACHE/.test.lock"
flock "$cache_lock"
mkdir -p "$T/disks" "$T/uefi"
ln -s "$CACHE/cache-bookworm.img" "$T/disks/vdd.img"

# The package bootstrap installs into the target.
DEB=$("$SRC/scripts/package.sh" --build-dir "$BUILD" --output "$T/dist" --no-build 2>"$T/package.err" | tail -n 1)
[ -f "$DEB" ] || { echo "Bail out! scripts/package.sh failed: $(tail -5 "$T/package.err")"; exit 1; }
cp "$DEB" "$T/uefi/op-dbus.deb"

# The example, adapted: the test's key, the NIC's address, the report unit (systemd: $$ is a $).
ssh-keygen -q -t ed25519 -N '' -C admin@uefi-test -f "$T/admin" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$T/other" >/dev/null
echo "$BOOTLOADER" >"$T/uefi/bootloader"
python3 - "$SRC/examples/complete-server.json" "$T/admin.pub" "$T/uefi/state.json" "$BOOTLOADER" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
key = open(sys.argv[2]).read().strip()
doc["bootstrap"]["bootloader"] = sys.argv[4]
if sys.argv[4] == "both":
    # BIOS boot from GPT needs a bios_grub partition: number 3, after a root of fixed size (ESP and root keep
    # their numbers, so the report's expectations stay)
    parts = doc["plugins"]["storage"]["devices"]["/dev/vda"]["partitions"]
    parts[1]["size"] = "5G"
    parts.append({"number": 3, "size": "1M", "type": "bios_grub"})
p = doc["plugins"]
p["users"]["accounts"]["admin"]["ssh_authorized_keys"] = [key]
p["network"]["interfaces"]["ens3"] = {"type": "ethernet", "address": "10.0.2.15/24", "gateway": "10.0.2.2"}
report = [
    'echo UE-EFI=$(test -d /sys/firmware/efi && echo yes)',
    'echo UE-HOSTNAME=$(hostname)',
    'echo UE-FQDN=$(hostname -f)',
    'echo UE-ROOT=$(findmnt -no SOURCE /)',
    'echo UE-HOME=$(findmnt -no SOURCE /home)',
    'echo UE-ESP=$(findmnt -no SOURCE,FSTYPE /boot/efi | xargs)',
    'echo UE-SUBVOLS=$(btrfs subvolume list / | sed "s/.* path //" | sort | xargs)',
    'echo UE-USER=$(id -un 1000)',
    'echo UE-SUDO=$(id -nG admin | grep -ow sudo)',
    'echo UE-KEY=$(cut -d" " -f3 /home/admin/.ssh/authorized_keys)',
    'echo UE-SSH=$(systemctl is-enabled ssh)/$(systemctl is-active ssh)',
    'echo UE-TIMER=$(systemctl is-enabled btrfs-scrub-root.timer)/$(systemctl is-active btrfs-scrub-root.timer)',
    'echo UE-TIMER-CAL=$(systemctl show -P TimersCalendar btrfs-scrub-root.timer | grep -cF "OnCalendar=Sun *-*-* 04:00:00")',
    'echo UE-SCRUB=$(systemctl is-enabled btrfs-scrub-root.service)',
    'echo UE-REPORT=$(systemctl is-enabled ue-report.service)',
    'echo UE-FIRSTBOOT=$(systemctl is-active op-dbus-firstboot.service)',
    'echo UE-BRIDGE=$(ip -4 -o addr show dev vmbr1 | tr -s " " | cut -d" " -f4)',
    'echo UE-NIC=$(ip -4 -o addr show dev ens3 | tr -s " " | cut -d" " -f4)',
    'echo UE-NFT=$(nft list table inet op_dbus | grep -c "tcp dport 22 accept")',
    'echo UE-PLAN-START',
    'timeout 600 op-dbus plan /etc/op-dbus/state.json >/run/ue-plan.txt 2>&1; echo UE-PLAN=$?',
    'tail -n 30 /run/ue-plan.txt | sed "s/^/UE-PLANOUT:/"',
    'journalctl -b --no-pager -o cat -u op-dbus-network -u op-dbus-firewall -u op-dbus-firstboot 2>&1 | tail -n 30 | sed "s/^/UE-LOG:/"',
    'echo UE-REPORT-END',
]
script = "; ".join(report)
assert "'" not in script and "\\" not in script and "%" not in script
p["systemd"]["custom_units"]["ue-report.service"] = {
    "content": "[Unit]\nDescription=UEFI bootstrap test report\n"
               "After=multi-user.target op-dbus-firstboot.service ssh.service\n"
               "[Service]\nType=oneshot\nTimeoutStartSec=infinity\nStandardOutput=tty\nTTYPath=/dev/ttyS1\n"
               "TTYVHangup=no\nExecStart=/bin/bash -c '" + script.replace("$", "$$") + "'\n"
               "[Install]\nWantedBy=multi-user.target\n",
    "enabled": True,
}
json.dump(doc, open(sys.argv[3], "w"), indent=2)
PY
expect "the adapted example validates" 0 "$OPDBUS" validate "$T/uefi/state.json"

# ---- the cache disk: the installed system made on this host ------------------------------------------------------
# Shared with iso-install (the same document's entries): one --prepare-cache at a time.
. "$SRC/tests/vm/lib/seed-cache.sh"
PREP=${OPDBUS_TEST_CACHE:-/var/cache/op-dbus-tests}/bootstrap-prepare
mkdir -p "$PREP"
t0=$SECONDS
flock "$PREP/.lock" "$OPDBUS" bootstrap --prepare-cache --cache-dir "$PREP" "$T/uefi/state.json" >"$T/prepare.log" 2>&1
prep_rc=$?
grep -a "done in\|already holds" "$T/prepare.log" | sed 's/^/#   /'
if [ "$prep_rc" = 0 ]; then ok "bootstrap --prepare-cache of the document on this host ($((SECONDS - t0)) s)"; else
  not_ok "bootstrap --prepare-cache of the document on this host" "exit $prep_rc" "$(tail -n 30 "$T/prepare.log")"; fi
check "...its entries copied onto the VM's cache disk" seed_cache_image "$CACHE/cache-bookworm.img" uefi-cache 8G "$PREP"

# ---- the install, inside a VM ------------------------------------------------------------------------------------
if ! vm_phase install "$HERE/guest-install.sh" --payload "$T/uefi" --blank 6G --blank 4G --net --unsafe-cache --memory 2048 \
       --packages debootstrap --timeout 3600; then
  vm_not_run boot "the install phase failed"
  tap_done
  exit
fi
echo "# install phase done at $((SECONDS - START)) s"

# ---- that disk alone, booted with OVMF -----------------------------------------------------------------------------
cp "$OVMF_VARS" "$T/OVMF_VARS.fd"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 1200 qemu-system-x86_64 -m 1024 -smp 2 -display none -no-reboot \
  -drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" -drive "if=pflash,format=raw,file=$T/OVMF_VARS.fd" \
  -drive "file=$T/disks/vdc.img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0,addr=0x4,bootindex=1 \
  -serial "file:$T/console.log" -serial "file:$T/report.log" \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=n0,addr=0x3,romfile= &
QEMU_PID=$!
booted=$SECONDS
for _ in $(seq 1 240); do
  grep -aq UE-REPORT-END "$T/report.log" 2>/dev/null && break
  kill -0 "$QEMU_PID" 2>/dev/null || break
  sleep 5
done
echo "# the report came $((SECONDS - booted)) s after power-on"
check "the disk boots alone under OVMF to the report" bash -c "grep -aq UE-REPORT-END '$T/report.log' || { tail -c 3000 '$T/console.log'; cat '$T/report.log'; false; }"
# The firmware writes to every serial port too: its escape sequences and carriage returns go before reading.
report() { sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\r//g' "$T/report.log" | grep -a "^UE-$1=" | tail -n1 | cut -d= -f2-; }
is "...booted by UEFI firmware (/sys/firmware/efi)" yes report EFI
is "...with the document's hostname" server1 report HOSTNAME
is "...and FQDN" server1.example.test report FQDN
is ".../ on the @ subvolume" "/dev/vda2[/@]" report ROOT
is ".../home on @home" "/dev/vda2[/@home]" report HOME
is ".../boot/efi the vfat ESP" "/dev/vda1 vfat" report ESP
is "...the subvolumes @ and @home" "@ @home" report SUBVOLS
is "...the user" admin report USER
is "...in the sudo group" sudo report SUDO
is "...with the test's key" admin@uefi-test report KEY
is "...sshd (from the packagekit section) enabled and running" enabled/active report SSH
is "...the timer enabled and waiting" enabled/active report TIMER
is "...on its calendar" 1 report TIMER-CAL
check "...the scrub service it starts, not enabled itself (no [Install]: static)" bash -c "[ '$(report SCRUB)' = static ] || [ '$(report SCRUB)' = disabled ]"
is "...the report unit enabled" enabled report REPORT
is "...the first-boot unit done" active report FIRSTBOOT
is "...the bridge with its address" 10.10.0.1/24 report BRIDGE
is "...the NIC with its address" 10.0.2.15/24 report NIC
is "...the firewall table with the SSH rule" 1 report NFT
plan_rc=$(report PLAN)
if [ "$plan_rc" = 0 ]; then
  ok "op-dbus plan /etc/op-dbus/state.json exits 0 in the booted system"
else
  not_ok "op-dbus plan /etc/op-dbus/state.json exits 0 in the booted system" "exit ${plan_rc:-none} (124: the 600 s timeout)" \
    "$(grep -a '^UE-PLANOUT:' "$T/report.log" | cut -d: -f2-)"
fi
SSH=(ssh -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=30
     -o IdentitiesOnly=yes)
is "an SSH login with the document's key works (through the firewall)" admin "${SSH[@]}" -i "$T/admin" admin@127.0.0.1 id -un
expect "...and another key is refused" 255 "${SSH[@]}" -i "$T/other" admin@127.0.0.1 id -un
kill "$QEMU_PID" 2>/dev/null
wait "$QEMU_PID" 2>/dev/null
QEMU_PID=

# ---- "bootloader": "both": the same disk booted by SeaBIOS too ----------------------------------------------------
if [ "$BOOTLOADER" = both ]; then
  timeout 1200 qemu-system-x86_64 -m 1024 -smp 2 -display none -no-reboot \
    -drive "file=$T/disks/vdc.img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0,addr=0x4,bootindex=1 \
    -serial "file:$T/console-bios.log" -serial "file:$T/report-bios.log" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=n0,addr=0x3,romfile= &
  QEMU_PID=$!
  booted=$SECONDS
  for _ in $(seq 1 240); do
    grep -aq UE-REPORT-END "$T/report-bios.log" 2>/dev/null && break
    kill -0 "$QEMU_PID" 2>/dev/null || break
    sleep 5
  done
  echo "# the report came $((SECONDS - booted)) s after power-on (SeaBIOS)"
  check "the same disk boots alone under SeaBIOS (BIOS) to the report" \
    bash -c "grep -aq UE-REPORT-END '$T/report-bios.log' || { tail -c 3000 '$T/console-bios.log'; cat '$T/report-bios.log'; false; }"
  bios_report() { sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\r//g' "$T/report-bios.log" | grep -a "^UE-$1=" | tail -n1 | cut -d= -f2-; }
  is "...not by UEFI firmware (no /sys/firmware/efi)" "" bios_report EFI
  is "...with the document's hostname" server1 bios_report HOSTNAME
  is ".../ on the @ subvolume" "/dev/vda2[/@]" bios_report ROOT
  is ".../boot/efi the vfat ESP" "/dev/vda1 vfat" bios_report ESP
  is "...sshd running" enabled/active bios_report SSH
  is "...the firewall table with the SSH rule" 1 bios_report NFT
  is "...and op-dbus plan /etc/op-dbus/state.json exits 0" 0 bios_report PLAN
  is "an SSH login with the document's key works" admin "${SSH[@]}" -i "$T/admin" admin@127.0.0.1 id -un
  kill "$QEMU_PID" 2>/dev/null
  wait "$QEMU_PID" 2>/dev/null
  QEMU_PID=
fi
if [ -n "${OPDBUS_UEFI_KEEP:-}" ]; then mkdir -p "$OPDBUS_UEFI_KEEP" && cp "$T"/*.log "$OPDBUS_UEFI_KEEP/"; cp -r "$T"/artifacts-* "$OPDBUS_UEFI_KEEP/" 2>/dev/null; fi
echo "# total $((SECONDS - START)) s"
tap_done
