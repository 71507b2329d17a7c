#!/usr/bin/env bash
# op-dbus bootstrap on loop devices, then the installed disk booted alone in qemu (SeaBIOS, BIOS/GPT layout):
#   - refusals that write nothing (byte-identical images): a disk holding a filesystem without "wipe", or with
#     "wipe" but without --allow-destructive; a mounted disk; a partition; the host's own root disk (dry run);
#     no --deb; --dry-run itself
#   - a failure injected in the packages stage (a kernel package that does not exist) names the stage and apt's
#     words and leaves nothing mounted; the re-run with the cause fixed resumes (the base system is not made
#     again) and completes
#   - the caches: the base system and the installed system (after the packages stage) kept as tarballs with
#     their records, without host-specific files or the root password; a second blank disk installed from the
#     installed-system cache (no debootstrap, no apt) with its own machine-id and SSH host key; --prepare-cache
#     makes the same entry without a disk
#   - the disk made from the cache boots: a unit from the state reports on a second serial port (ttyS1: a getty starting on the
#     console's ttyS0 hangs that tty up, cutting a report short on a slow boot) the hostname, the btrfs subvolumes,
#     the user, sshd (installed by the packagekit section), the first-boot unit, the bridge and NIC addresses
#     (applied at boot by the network plugin's unit) and the firewall table; an SSH login with the declared key
#     works through the firewall, another key is refused; `op-dbus plan` of the installed state finds nothing to
#     change.
# Downloaded packages are cached in /var/cache/op-dbus-tests/bootstrap (--cache-dir).
# usage: run.sh OPDBUS SRCDIR        (prints TAP; needs root, debootstrap, qemu)
set -u
OPDBUS=$(readlink -f "$1")
SRC=$(readlink -f "$2")
BUILD=$(dirname "$OPDBUS")
. "$SRC/tests/lib/tap.sh"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root (loop devices, mounts, chroot)"
for t in debootstrap losetup qemu-system-x86_64 mkfs.ext4 sha256sum unshare dpkg-deb help2man; do
  command -v "$t" >/dev/null || tap_skip_all "$t is not installed (scripts/install-deps.sh)"
done
# Everything this test mounts stays in a mount namespace of its own.
if [ -z "${OPDBUS_BOOTSTRAP_TEST_NS:-}" ]; then
  OPDBUS_BOOTSTRAP_TEST_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

T=$(mktemp -d /tmp/opdbus-bootstrap-test.XXXXXX)
LOOPS=()
QEMU_PID=
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
  grep -o " $T/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
TAP_OUT=$T/out
CACHE=${OPDBUS_TEST_CACHE:-/var/cache/op-dbus-tests}/bootstrap
mkdir -p "$CACHE"
# Two runs of this test at once would share the package cache: the second waits.
exec {cache_lock}>"$CACHE/.test.lock"
flock "$cache_lock"

attach() {  # attach IMAGE SIZE: sets LOOP to a loop device on it (partitions scanned), detached at exit
  truncate -s "$2" "$1"
  LOOP=$(losetup -f --show -P "$1") || { echo "Bail out! losetup failed"; exit 1; }
  LOOPS+=("$LOOP")
}
hash_of() { sha256sum "$1" | cut -d' ' -f1; }
mounted_below() { grep -c " $1" /proc/self/mountinfo; }

# The package bootstrap installs into the target.
DEB=$("$SRC/scripts/package.sh" --build-dir "$BUILD" --output "$T/dist" --no-build 2>"$T/package.err" | tail -n 1)
[ -f "$DEB" ] || { echo "Bail out! scripts/package.sh failed: $(tail -5 "$T/package.err")"; exit 1; }

# state NAME KERNEL [WIPE]: a BIOS/GPT server. bootstrap.device is the disk as the booted VM sees it (vda);
# the install writes the loop device given on the command line.
ssh-keygen -q -t ed25519 -N '' -C alice@test -f "$T/alice" >/dev/null
KEY=$(cat "$T/alice.pub")
# A root password hash (schema: crypt(3) form); the cached installed system must not carry it.
ROOTHASH='$6$bttest$0cHw0Gv4oLQ0k5l0Sx9pP3lYhFq8bN1m2Zc7tUeR6yWjA4sD5fG8hK9lM0nB1vC2xZ3qW4eR5tY6uI7oP8aS9d'
state() {
  local wipe=${3:-false}
  cat >"$T/$1.json" <<EOF
{
  "version": 1,
  "metadata": {"name": "bootstrap-test", "description": "the complete server on BIOS/GPT: btrfs @ and @home, packages, a sudo user with a key, ssh, a bridge, the NIC's address, a firewall, a report unit"},
  "bootstrap": {"device": "/dev/vda", "hostname": "bt1", "domain": "example.test", "timezone": "Europe/Berlin",
                "kernel": "$2", "bootloader": "grub-bios", "kernel_args": "console=ttyS0,115200",
                "root_password_hash": "$ROOTHASH"},
  "plugins": {
    "storage": {
      "devices": {
        "/dev/vda": {"partition_table": "gpt", "wipe": $wipe, "partitions": [
          {"number": 1, "size": "1M", "type": "bios_grub"},
          {"number": 2, "size": "remaining", "type": "linux", "filesystem": "btrfs", "label": "btroot"}
        ]}
      },
      "btrfs_subvolumes": {"/dev/vda2": [{"name": "@", "mount": "/"}, {"name": "@home", "mount": "/home"}]},
      "mounts": {
        "/": {"device": "/dev/vda2", "subvol": "@", "options": "compress=zstd:3"},
        "/home": {"device": "/dev/vda2", "subvol": "@home", "options": "compress=zstd:3"}
      }
    },
    "packagekit": {"packages": {"openssh-server": {}, "sudo": {}, "nftables": {}}},
    "users": {
      "groups": {"sudo": {"gid": 27}},
      "accounts": {"alice": {"uid": 1500, "shell": "/bin/bash", "groups": ["sudo"], "ssh_authorized_keys": ["$KEY"]}}
    },
    "network": {
      "interfaces": {
        "ens3": {"type": "ethernet", "address": "10.0.2.15/24", "gateway": "10.0.2.2"},
        "vmbr1": {"type": "bridge", "address": "10.10.0.1/24"}
      }
    },
    "firewall": {
      "rules": [{"port": 22, "proto": "tcp", "action": "accept", "comment": "SSH"}],
      "default_policy": {"input": "drop", "forward": "accept", "output": "accept"}
    },
    "systemd": {
      "services": {"ssh": {"state": "enabled"}},
      "custom_units": {
        "bt-report.service": {
          "content": "[Unit]\nDescription=bootstrap test report\nAfter=multi-user.target op-dbus-firstboot.service ssh.service\n[Service]\nType=oneshot\nTimeoutStartSec=infinity\nStandardOutput=tty\nTTYPath=/dev/ttyS1\nTTYVHangup=no\nExecStart=/bin/bash -c 'echo BT-HOSTNAME=\$(hostname); echo BT-FQDN=\$(hostname -f); echo BT-ROOT=\$(findmnt -no SOURCE /); echo BT-HOME=\$(findmnt -no SOURCE /home); echo BT-TZ=\$(readlink /etc/localtime); echo BT-USER=\$(id -un 1500); echo BT-SUDO=\$(id -nG alice | grep -ow sudo); echo BT-KEY=\$(cut -d\" \" -f3 /home/alice/.ssh/authorized_keys); echo BT-ENABLED=\$(systemctl is-enabled bt-report.service); echo BT-SSH=\$(systemctl is-active ssh); echo BT-FIRSTBOOT=\$(systemctl is-active op-dbus-firstboot.service); echo BT-BRIDGE=\$(ip -4 -o addr show dev vmbr1 | tr -s \" \" | cut -d\" \" -f4); echo BT-LINKS=\$(ls /sys/class/net | xargs); echo BT-NIC=\$(ip -4 -o addr show dev ens3 | tr -s \" \" | cut -d\" \" -f4); echo BT-NFT=\$(nft list table inet op_dbus | grep -c \"tcp dport 22 accept\"); if timeout -k 10 600 op-dbus plan /etc/op-dbus/state.json >/run/bt-plan.out 2>&1; then echo BT-PLAN=0; else echo BT-PLAN=failed; fi; tail -n 40 /run/bt-plan.out | sed s/^/BT-PLANOUT:/; journalctl -b --no-pager -o cat -u op-dbus-network -u op-dbus-firewall -u op-dbus-firstboot 2>&1 | tail -n 40 | sed s/^/BT-LOG:/; echo BT-REPORT-END'\n[Install]\nWantedBy=multi-user.target\n",
          "enabled": true
        }
      }
    }
  }
}
EOF
}
state good linux-image-cloud-amd64
state wipe linux-image-cloud-amd64 true
state badkernel op-dbus-test-no-such-kernel
bs() { "$OPDBUS" bootstrap --target "$T/target" --cache-dir "$CACHE" "$@" >"$T/out" 2>&1; }
# The same with --json: the report in $T/json, the progress lines in $T/out.
bs_json() { "$OPDBUS" --json bootstrap --target "$T/target" --cache-dir "$CACHE" "$@" >"$T/json" 2>"$T/json.err"; }

# ---- refusals: nothing is written -------------------------------------------------------------------------------
attach "$T/used.img" 64M
L=$LOOP
mkfs.ext4 -q -L data "$L"
before=$(hash_of "$T/used.img")
expect "a disk holding a filesystem is refused without \"wipe\"" 1 bs --deb "$DEB" --allow-destructive "$L" "$T/good.json"
contains "...saying what it holds and what would be needed" '"wipe": true'
is "...and the disk is byte-identical" "$before" hash_of "$T/used.img"
expect "with \"wipe\" but without --allow-destructive it is refused too" 1 bs --deb "$DEB" "$L" "$T/wipe.json"
contains "...naming --allow-destructive" "--allow-destructive"
is "...and the disk is byte-identical" "$before" hash_of "$T/used.img"
expect "--dry-run on it exits 0" 0 "$OPDBUS" bootstrap --dry-run "$L" "$T/good.json"
contains "...prints the stages" "[10/10] finish"
is "...and writes nothing" "$before" hash_of "$T/used.img"

mkdir -p "$T/mnt"
mount -o ro,noload "$L" "$T/mnt"
expect "a mounted disk is refused" 1 bs --deb "$DEB" --allow-destructive "$L" "$T/wipe.json"
contains "...naming the mount" "$T/mnt"
umount "$T/mnt"
is "...and the disk is byte-identical" "$before" hash_of "$T/used.img"

# An MBR with one partition (sectors 2048..18431), written by hand.
truncate -s 64M "$T/parted.img"
python3 -c '
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(446)
    f.write(struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", 2048, 16384))
    f.seek(510)
    f.write(b"\x55\xaa")
' "$T/parted.img"
attach "$T/parted.img" 64M
P=$LOOP
partx -a "$P" 2>/dev/null  # for kernels built without the MBR parser
expect "a partition instead of a disk is refused" 1 bs --deb "$DEB" "${P}p1" "$T/good.json"
contains "...saying bootstrap takes the whole disk" "is a partition of $P"

ROOTDEV=$(findmnt -no SOURCE / | sed 's/\[.*//')
ROOTDISK=/dev/$(lsblk -no PKNAME "$ROOTDEV" 2>/dev/null | head -n1)
[ "$ROOTDISK" = /dev/ ] && ROOTDISK=$ROOTDEV
expect "--dry-run on the host's own root disk ($ROOTDISK) exits 0..." 0 "$OPDBUS" bootstrap --dry-run "$ROOTDISK" "$T/wipe.json"
contains "...and says the check stage would refuse it as the running system's" "holds the running system's root filesystem"

attach "$T/disk.img" 3G
B=$LOOP
expect "without --deb nothing starts" 1 bs "$B" "$T/good.json"
contains "...and the message says what to give" "--deb FILE"
check "...and the disk is still blank" bash -c "! blkid -p '$B' >/dev/null 2>&1"

# ---- a failure in the packages stage, then a re-run that resumes --------------------------------------------------
expect "a kernel package that does not exist fails the bootstrap" 1 bs --deb "$DEB" "$B" "$T/badkernel.json"
contains "...naming the stage" "stage packages failed"
contains "...with apt's own words" "Unable to locate package op-dbus-test-no-such-kernel"
expect "...again, with --json" 1 bs_json --deb "$DEB" "$B" "$T/badkernel.json"
check "...and --json reports the failed stage after the finished ones" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is False and d["failed_stage"] == "packages", d
assert [s["name"] for s in d["stages"]] == ["check", "storage", "base", "configure", "chroot"], d
assert "Unable to locate package" in d["error"], d
' "$T/json"
is "...and nothing stays mounted under the target" 0 mounted_below "$T/target"
expect "the re-run with the kernel fixed completes" 0 bs --deb "$DEB" "$B" "$T/good.json"
contains "...recognising the earlier run's disk" "resuming an earlier bootstrap"
contains "...and not making the base system again" "the base system is already there"
contains "...with every stage timed" "finish done in"
is "...and nothing stays mounted" 0 mounted_below "$T/target"
cp "$T/out" "$T/install.log"
expect "a third run changes nothing and completes" 0 bs_json --deb "$DEB" "$B" "$T/good.json"
check "...and --json lists the ten stages with their durations" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is True and len(d["stages"]) == 10 and all(s["seconds"] >= 0 for s in d["stages"]), d
assert d["device_source"] == "command line", d
' "$T/json"

# ---- the base-system cache (docs/bootstrap.md) -------------------------------------------------------------------
# The first install kept its base system in the cache (a later run of this test unpacks it instead of running
# debootstrap: the "base system from the cache" line is then in install.log).
BASE_TAR=$(ls "$CACHE"/base/*.tar 2>/dev/null | head -n 1)
check "the base system is kept in the cache as a tarball" test -s "$BASE_TAR"
check "...with its record: the size and sha256 measured when it was written" bash -c '
k=${1%.tar}.key; t=$1
grep -qx "size=$(stat -c %s "$t")" "$k" && grep -qx "sha256=$(sha256sum "$t" | cut -d" " -f1)" "$k" &&
grep -qx "suite=bookworm" "$k" && grep -qx "arch=$(dpkg --print-architecture)" "$k"' _ "$BASE_TAR"
check "...keeping hard links as links (perl's binaries, not two copies)" bash -c '
tar -tvf "$1" | grep -q " link to "' _ "$BASE_TAR"
lacks_in_tar() { ! tar -tf "$BASE_TAR" | grep -qE "$1"; }
check "...without the markers, fstab, SSH host keys or what is under /proc /sys /dev /run" \
  lacks_in_tar '^\./(var/lib/op-dbus|etc/fstab$|etc/ssh/ssh_host_|(proc|sys|dev|run)/.)'
# A cache holding only the base system (links to this one's entry).
mkdir -p "$T/cachebase/base"
ln -s "$BASE_TAR" "${BASE_TAR%.tar}.key" "$T/cachebase/base/"
expect "--dry-run with only the base system cached says it would come from the cache" 0 \
  "$OPDBUS" bootstrap --dry-run --cache-dir "$T/cachebase" "$B" "$T/good.json"
contains "...after saying why not the installed system" "no cached installed system for these settings: the base system, then apt"
contains "...naming the tarball" "base system from the cache: $T/cachebase/base/$(basename "$BASE_TAR")"
chmod g+w "$T/cachebase/base"
expect "an entry in a directory its group may write is not trusted" 0 \
  "$OPDBUS" bootstrap --dry-run --cache-dir "$T/cachebase" "$B" "$T/good.json"
contains "...saying why" "the cached base system is not used: $T/cachebase/base is writable by its group (mode 0775)"
chmod g-w "$T/cachebase/base"
expect "--dry-run --no-cache says debootstrap" 0 \
  "$OPDBUS" bootstrap --dry-run --no-cache --cache-dir "$CACHE" "$B" "$T/good.json"
contains "...and why" "--no-cache: debootstrap"
expect "...as does its older name --no-base-cache" 0 \
  "$OPDBUS" bootstrap --dry-run --no-base-cache --cache-dir "$CACHE" "$B" "$T/good.json"
contains "...and why" "--no-cache: debootstrap"
mkdir -p "$T/cache2/base"
cp "${BASE_TAR%.tar}.key" "$T/cache2/base/"
truncate -s 4096 "$T/cache2/base/$(basename "$BASE_TAR")"
expect "a tarball shorter than its record (a partial copy) is not used" 0 \
  "$OPDBUS" bootstrap --dry-run --cache-dir "$T/cache2" "$B" "$T/good.json"
contains "...debootstrap runs instead" "(a partial copy): debootstrap"

# ---- the installed-system cache: the tree after the packages stage -----------------------------------------------
PKG_TAR=$(ls "$CACHE"/packages/*.tar 2>/dev/null | head -n 1)
check "the installed system (base, kernel, bootloader, the packagekit section) is kept in the cache" \
  bash -c "test -s '$PKG_TAR' || { grep -i -A2 'cache' '$T/install.log'; false; }"
check "...with its record naming the packages" bash -c '
k=${1%.tar}.key; t=$1
grep -qx "size=$(stat -c %s "$t")" "$k" && grep -qx "sha256=$(sha256sum "$t" | cut -d" " -f1)" "$k" &&
grep -qx "packages=grub-pc,linux-image-cloud-amd64,packagekit" "$k"' _ "$PKG_TAR"
check "...holding the kernel and the packagekit section's sshd" bash -c '
tar -tf "$1" | grep -q "^\./boot/vmlinuz-" && tar -tf "$1" | grep -qx "\./usr/sbin/sshd"' _ "$PKG_TAR"
lacks_in_pkg_tar() { ! tar -tf "$PKG_TAR" | grep -qE "$1"; }
check "...without the markers, fstab, SSH host keys or what is under /proc /sys /dev /run" \
  lacks_in_pkg_tar '^\./(var/lib/op-dbus|etc/fstab$|etc/ssh/ssh_host_|(proc|sys|dev|run)/.)'
is "...and without the root password (root's shadow entry is \"*\")" '*' bash -c \
  "tar -xOf '$PKG_TAR' ./etc/shadow | grep '^root:' | cut -d: -f2"
expect "--dry-run says the installed system would come from the cache" 0 \
  "$OPDBUS" bootstrap --dry-run --cache-dir "$CACHE" "$B" "$T/good.json"
contains "...naming the tarball" "installed system from the cache: $PKG_TAR"
contains "...and the packages stage says so" "(from the cache, with the base system:)"

# --prepare-cache: the same entries made without a disk, in a cache of their own that has only the base system
# and the downloads (links to this one's); its entry must get the install's name, i.e. the same key.
PREP=$CACHE/prepare-test
rm -rf "$PREP"
mkdir -p "$PREP/base"
ln -s "$BASE_TAR" "${BASE_TAR%.tar}.key" "$PREP/base/"
ln -s "$CACHE/archives" "$PREP/archives"
expect "bootstrap --prepare-cache makes the installed system without a disk" 0 \
  "$OPDBUS" bootstrap --prepare-cache --cache-dir "$PREP" "$T/good.json"
grep -a "done in" "$T/out" | sed 's/^/#   /'
contains "...from the cached base system" "base system from the cache ("
contains "...running apt" "packages set up"
check "...under the install's name (the same key)" bash -c "test -s '$PREP/packages/$(basename "$PKG_TAR")' || ls -R '$PREP'"
check "...whose record names the same key" bash -c "cmp <(sed 1,2d '${PKG_TAR%.tar}.key') <(sed 1,2d '$PREP/packages/$(basename "${PKG_TAR%.tar}").key')"
check "...and the scratch tree is gone" bash -c "! ls -d '$PREP'/prepare.* 2>/dev/null"
is "...with nothing left mounted" 0 mounted_below "$PREP"
expect "a second --prepare-cache finds the entry and does nothing" 0 \
  "$OPDBUS" bootstrap --prepare-cache --cache-dir "$PREP" "$T/good.json"
contains "...saying so" "the cache already holds the installed system"
expect "--prepare-cache with a DEVICE is refused" 1 \
  "$OPDBUS" bootstrap --prepare-cache --cache-dir "$PREP" "$B" "$T/good.json"
contains "...saying it writes no disk" "--prepare-cache writes no disk"
rm -rf "$PREP"

# ---- what is on the disk ---------------------------------------------------------------------------------------
mount -o subvol=@ "${B}p2" "$T/mnt"
check "the disk has the hostname" grep -qx bt1 "$T/mnt/etc/hostname"
check "...fstab mounts / (subvolume @) by UUID" grep -qE '^UUID=[0-9a-f-]+[[:space:]]+/[[:space:]]+btrfs[[:space:]].*subvol=@' "$T/mnt/etc/fstab"
check "...grub.cfg boots root=UUID" grep -q 'root=UUID=' "$T/mnt/boot/grub/grub.cfg"
check "...with the kernel arguments" grep -q 'console=ttyS0,115200' "$T/mnt/boot/grub/grub.cfg"
check "...op-dbus installed from its package" bash -c "chroot '$T/mnt' dpkg-query -W -f='\${Status}' op-dbus | grep -qx 'install ok installed'"
check "...the state in /etc/op-dbus, readable by root only" bash -c "[ \$(stat -c %a '$T/mnt/etc/op-dbus/state.json') = 600 ]"
mount -o subvol=@home "${B}p2" "$T/mnt/home"
check "...alice with her key" grep -qF "$KEY" "$T/mnt/home/alice/.ssh/authorized_keys"
umount "$T/mnt/home"
check "...no policy-rc.d left behind" test ! -e "$T/mnt/usr/sbin/policy-rc.d"
is ".../etc/localtime pointing at the zone" /usr/share/zoneinfo/Europe/Berlin readlink "$T/mnt/etc/localtime"
check "...the zone file itself untouched (a regular file)" test -f "$T/mnt/usr/share/zoneinfo/Europe/Berlin" -a ! -L "$T/mnt/usr/share/zoneinfo/Europe/Berlin"
check "...the first-boot unit a file, enabled" bash -c "test -f '$T/mnt/etc/systemd/system/op-dbus-firstboot.service' -a ! -L '$T/mnt/etc/systemd/system/op-dbus-firstboot.service' && [ \"\$(readlink '$T/mnt/etc/systemd/system/multi-user.target.wants/op-dbus-firstboot.service')\" = /etc/systemd/system/op-dbus-firstboot.service ]"
check "...root's password from the document" bash -c "grep -q '^root:$ROOTHASH:' '$T/mnt/etc/shadow'"
cp "$T/mnt/etc/machine-id" "$T/machine-id.1"
ssh-keygen -l -f "$T/mnt/etc/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2 >"$T/hostkey.1"
umount "$T/mnt"
losetup -d "$B"

# ---- a second disk from the installed-system cache: this is the disk booted below -------------------------------
attach "$T/disk2.img" 3G
B2=$LOOP
expect "an install onto a second blank disk completes" 0 bs --deb "$DEB" "$B2" "$T/good.json"
contains "...unpacking the installed system from the cache (no debootstrap)" "installed system from the cache ("
contains "...and running no apt in the packages stage" "the cached installed system, or an earlier run"
lacks "...nor debootstrap" "debootstrap: "
grep -a "done in" "$T/out" | sed 's/^/#   /'
mount -o subvol=@ "${B2}p2" "$T/mnt"
check "...the new disk has its own machine-id" bash -c "[ -s '$T/mnt/etc/machine-id' ] && ! cmp -s '$T/machine-id.1' '$T/mnt/etc/machine-id'"
check "...and its own SSH host key" bash -c "[ \"\$(ssh-keygen -l -f '$T/mnt/etc/ssh/ssh_host_ed25519_key.pub' | cut -d' ' -f2)\" != \"\$(cat '$T/hostkey.1')\" ]"
check "...root's password from the document" bash -c "grep -q '^root:$ROOTHASH:' '$T/mnt/etc/shadow'"
check "...fstab of its own filesystem" bash -c "grep -q \"^UUID=\$(blkid -p -o value -s UUID ${B2}p2)\" '$T/mnt/etc/fstab'"
check "...grub.cfg booting that filesystem" bash -c "grep -q \"root=UUID=\$(blkid -p -o value -s UUID ${B2}p2)\" '$T/mnt/boot/grub/grub.cfg'"
umount "$T/mnt"
losetup -d "$B2"

# ---- the disk alone boots (SeaBIOS), with a NIC on qemu's user network; SSH reaches it through a forward -------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 900 qemu-system-x86_64 -m 1024 -smp 1 -drive "file=$T/disk2.img,format=raw,if=virtio" -display none \
  -serial "file:$T/console.log" -serial "file:$T/report.log" -no-reboot \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=n0,addr=0x3 &
QEMU_PID=$!
for _ in $(seq 1 180); do
  grep -aq BT-REPORT-END "$T/report.log" 2>/dev/null && break
  kill -0 "$QEMU_PID" 2>/dev/null || break
  sleep 5
done
check "the disk installed from the cache boots to the report" bash -c "grep -aq BT-REPORT-END '$T/report.log' || { tail -c 3000 '$T/console.log'; cat '$T/report.log'; false; }"
report() { grep -a "^BT-$1=" "$T/report.log" | tail -n1 | cut -d= -f2- | tr -d '\r'; }
is "...with the document's hostname" bt1 report HOSTNAME
is "...and FQDN" bt1.example.test report FQDN
is ".../ on the @ subvolume" "/dev/vda2[/@]" report ROOT
is ".../home on @home" "/dev/vda2[/@home]" report HOME
is "...the time zone" /usr/share/zoneinfo/Europe/Berlin report TZ
is "...the user" alice report USER
is "...in the sudo group" sudo report SUDO
is "...her key" alice@test report KEY
is "...the report unit enabled" enabled report ENABLED
is "...sshd (installed by the packagekit section) running" active report SSH
is "...the first-boot unit done" active report FIRSTBOOT
is "...the bridge with its address" 10.10.0.1/24 report BRIDGE
is "...the NIC with its address" 10.0.2.15/24 report NIC
is "...the firewall table with the SSH rule" 1 report NFT
is "...and \`op-dbus plan /etc/op-dbus/state.json\` in the guest finds nothing to change" 0 report PLAN
grep -a '^BT-PLANOUT:' "$T/report.log" | tr -d '\r' | sed 's/^BT-PLANOUT:/#   /'
SSH=(ssh -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=30
     -o IdentitiesOnly=yes)
ssh-keygen -q -t ed25519 -N '' -f "$T/other" >/dev/null
is "an SSH login with the declared key works (through the firewall)" alice "${SSH[@]}" -i "$T/alice" alice@127.0.0.1 id -un
expect "...and another key is refused" 255 "${SSH[@]}" -i "$T/other" alice@127.0.0.1 id -un
kill "$QEMU_PID" 2>/dev/null
wait "$QEMU_PID" 2>/dev/null
QEMU_PID=
tap_done
