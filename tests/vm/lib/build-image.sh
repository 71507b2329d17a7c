#!/usr/bin/env bash
# Builds the VM test image into OUTDIR: base.img (ext4 root filesystem, label "root"), vmlinuz, initrd.img.
# usage: build-image.sh OUTDIR MIRROR PACKAGE...
#
# vm-run.sh calls this under a lock, into a temporary directory that it renames into place afterwards, and keys
# the cache on this file's content: any change here rebuilds the image.
set -euo pipefail

out=$1
mirror=$2
shift 2
packages=("$@")
root=$out/root

# Whatever happens, nothing stays mounted under the rootfs, and the rootfs itself is removed.
cleanup() {
  local m
  # Deepest mount points first.
  for m in $(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
  if awk -v r="$root/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    echo "build-image: mounts remain under $root; not removing it" >&2
    return
  fi
  rm -rf "$root"
}
trap cleanup EXIT

step() { echo "build-image: $*" >&2; }

step "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$root" "$mirror"

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

# Package maintainer scripts must not start daemons inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# Same suites as the host (bookworm, -updates, -security), so the libraries match what op-dbus was built against.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
  rm -f "$root/etc/apt/sources.list"
fi

step "installing ${packages[*]}"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
chroot "$root" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${packages[@]}"
chroot "$root" apt-get clean

rm -f "$root/usr/sbin/policy-rc.d"
for m in dev/pts dev sys proc; do umount "$root/$m"; done

step "configuring the guest"
echo opdbus-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 opdbus-vm\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 0' >"$root/etc/fstab"
chroot "$root" passwd -d root >/dev/null
# A fresh machine-id at every boot, as on a newly installed machine.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Nothing that would run in the background of a test or print a login prompt into the console log.
for u in serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done

mkdir -p "$root/usr/local/libexec" "$root/run/test"
cat >"$root/usr/local/libexec/op-dbus-test-run" <<'RUNNER'
#!/bin/bash
# Runs /run/test/run.sh from the payload disk, keeps its output and exit code there, powers off.
set -u
con=/dev/ttyS0
say() { echo "op-dbus-test: $*" >"$con"; }
finish() {
  sync
  cd /
  umount /run/test 2>/dev/null || mount -o remount,ro /run/test 2>/dev/null
  sync
  say "powering off"
  systemctl --no-block poweroff
  exit 0
}

mkdir -p /run/test
for _ in $(seq 1 120); do
  mount LABEL=OPDBUS-TEST /run/test 2>/dev/null && break
  sleep 0.5
done
if ! mountpoint -q /run/test; then
  say "payload disk (label OPDBUS-TEST) not found"
  finish
fi

if [ -x /run/test/bin/op-dbus ]; then
  install -m 0755 /run/test/bin/op-dbus /usr/local/bin/op-dbus
fi
# Libraries from the build tree that no Debian package provides.
if [ -d /run/test/lib ] && [ -n "$(ls -A /run/test/lib)" ]; then
  cp -a /run/test/lib/. /usr/local/lib/
  ldconfig
fi

rm -rf /run/test/out.log /run/test/exit-code /run/test/journal.txt /run/test/artifacts
mkdir -p /run/test/artifacts
echo "$(date +%s)" >/run/test/started
sync
say "running run.sh"

export OPDBUS=/usr/local/bin/op-dbus PAYLOAD=/run/test/payload ARTIFACTS=/run/test/artifacts
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
chmod +x /run/test/run.sh
# Output goes to a file first, so a daemon the script leaves running (holding its stdout) cannot stall us.
(cd /run/test && exec /run/test/run.sh </dev/null >/run/test/out.log 2>&1) &
script_pid=$!
tail -n +1 -F --pid="$script_pid" -s 0.2 /run/test/out.log >"$con" 2>/dev/null &
tail_pid=$!
wait "$script_pid"
rc=$?
wait "$tail_pid"

journalctl -b --no-pager -o short-monotonic >/run/test/journal.txt 2>&1
echo "$rc" >/run/test/exit-code.tmp
sync
mv /run/test/exit-code.tmp /run/test/exit-code
say "run.sh exited with $rc"
# vm-run.sh --shell: a root shell on the console before powering off.
if grep -qw opdbus.shell /proc/cmdline; then
  say "root shell; exit it to power off"
  (cd /run/test && setsid -c -w /bin/bash -l <>"$con" >&0 2>&1)
fi
finish
RUNNER
chmod 755 "$root/usr/local/libexec/op-dbus-test-run"

cat >"$root/etc/systemd/system/op-dbus-test.service" <<'UNIT'
[Unit]
Description=op-dbus VM test
After=multi-user.target

[Service]
# Type=exec, not oneshot: the start job completes at once, so boot finishes and the script sees a "running"
# system (a oneshot would keep the boot transaction open until the script exits).
Type=exec
ExecStart=/usr/local/libexec/op-dbus-test-run
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/op-dbus-test.service \
  "$root/etc/systemd/system/multi-user.target.wants/op-dbus-test.service"

step "extracting kernel and initrd"
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)
cp "$kernel" "$out/vmlinuz"
cp "$initrd" "$out/initrd.img"
basename "$kernel" | sed 's/^vmlinuz-//' >"$out/kernel-version"
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' >"$out/packages.txt"

step "making base.img"
truncate -s 4G "$out/base.img"
mkfs.ext4 -q -F -L root -d "$root" "$out/base.img"
# Runs only ever write to qcow2 overlays on top of it.
chmod 0444 "$out/base.img"
step "done"
