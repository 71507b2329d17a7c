#!/usr/bin/env bash
# The installer ISO (installer/build-iso, docs/installer.md), proved in qemu:
#   - build-iso refuses bad arguments clearly; builds an ISO for examples/complete-server.json (adapted: the
#     test's SSH key, no pause, the NIC's address, a report unit) on a cached live root, and a generic ISO (no
#     --state) in seconds from the same cache;
#   - the generic ISO under SeaBIOS, with the document on a drive labelled OPDBUS-STATE and a target disk that
#     holds a filesystem: the installer's first screen (document, target disk, hostname) on the serial console,
#     then its stop message, and the disk byte-identical; the same ISO's kernel booted with
#     opdbus.state=LABEL=OPDBUS-STATE:/other.json naming a target disk that is not there: the stop message;
#     and with opdbus.wait=120 and a blank disk, the countdown, which Enter on the serial console aborts;
#   - the complete-server ISO under OVMF (UEFI) with a blank virtio disk installs unattended and powers off;
#     then the disk alone boots with OVMF and a unit from the document reports on ttyS1 (a getty on ttyS0 would
#     hang it up): hostname, btrfs @ and @home, the user and key, sshd, the first-boot unit, the bridge, the
#     firewall, the install log copied in, `op-dbus plan` of the installed state finds nothing to change; an SSH
#     login with the key works through a qemu user-net forward.
# Caches (outside the repo): /var/cache/op-dbus-tests/iso/live (the live root), .../bootstrap-prepare
# (bootstrap --prepare-cache of the document on this host, shared with bootstrap-uefi-vm) and
# .../iso/installer-cache.img, the drive labelled OPDBUS-CACHE the installer hands to bootstrap as
# --cache-dir, given the host's entries before each run.
# usage: run.sh OPDBUS SRCDIR [quick] (prints TAP; needs root, mmdebstrap, xorriso, grub, qemu, OVMF)
# quick (meson test `iso`, suite slow) stops after the SeaBIOS part; the whole run (meson test `iso-install`)
# adds the unattended install from the cache drive (about 7 minutes under TCG; 20-45 without the cache).
set -u
OPDBUS=$(readlink -f "$1")
SRC=$(readlink -f "$2")
MODE=${3:-full}
BUILD=$(dirname "$OPDBUS")
. "$SRC/tests/lib/tap.sh"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root (mmdebstrap, loop mounts)"
for t in mmdebstrap mksquashfs xorriso grub-mkrescue mformat qemu-system-x86_64 mkfs.ext4 jq ssh-keygen ssh \
  dpkg-deb help2man sha256sum; do
  command -v "$t" >/dev/null || tap_skip_all "$t is not installed (scripts/install-deps.sh)"
done
OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
[ -f "$OVMF_CODE" ] && [ -f "$OVMF_VARS" ] || tap_skip_all "OVMF is not installed (scripts/install-deps.sh)"
if [ -z "${OPDBUS_ISO_TEST_NS:-}" ]; then
  OPDBUS_ISO_TEST_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

START=$(date +%s)
T=$(mktemp -d /tmp/opdbus-iso-test.XXXXXX)
QEMU_PID=
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
  grep -o " $T/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
TAP_OUT=$T/out
TAP_CHECK_OUT=$T/check  # check must not overwrite the console logs copied to TAP_OUT
CACHE=${OPDBUS_TEST_CACHE:-/var/cache/op-dbus-tests}/iso
mkdir -p "$CACHE/live" "$CACHE/pkgs/archives"
exec {cache_lock}>"$CACHE/.test.lock"
flock "$cache_lock"
# The first run starts from what the bootstrap test downloaded.
if [ -z "$(ls "$CACHE/pkgs/archives" | head -n1)" ] && [ -d "$CACHE/../bootstrap/archives" ]; then
  cp -n "$CACHE"/../bootstrap/archives/*.deb "$CACHE/pkgs/archives/" 2>/dev/null
fi
elapsed() { echo $(($(date +%s) - START)); }
# until_stopped LOG [PID...]: waits (10 minutes at most) for the installer's stop message in the serial log LOG of
# the qemu started last ($QEMU_PID), or for that qemu to end; stops it and PIDs, and leaves LOG without CRs in
# $T/out for contains.
until_stopped() {
  local log=$1
  shift
  for _ in $(seq 1 150); do
    grep -aq "STOPPED:" "$log" 2>/dev/null && sleep 3 && break
    kill -0 "$QEMU_PID" 2>/dev/null || break
    sleep 4
  done
  kill "$QEMU_PID" "$@" 2>/dev/null
  wait "$QEMU_PID" "$@" 2>/dev/null
  QEMU_PID=
  tr -d '\r' <"$log" >"$T/out"
}

DEB=$("$SRC/scripts/package.sh" --build-dir "$BUILD" --output "$T/dist" --no-build 2>"$T/package.err" | tail -n 1)
[ -f "$DEB" ] || { echo "Bail out! scripts/package.sh failed: $(tail -5 "$T/package.err")"; exit 1; }
BUILD_ISO=$SRC/installer/build-iso

# ---- build-iso's arguments ---------------------------------------------------------------------------------------
expect "build-iso --help exits 0" 0 "$BUILD_ISO" --help
contains "...and names --state" "--state FILE"
expect "build-iso without --output is refused" 1 "$BUILD_ISO" --deb "$DEB"
contains "...saying what is missing" "--output FILE.iso is required"
expect "a --state that does not exist is refused" 1 "$BUILD_ISO" --state "$T/nope.json" --output "$T/x.iso" --deb "$DEB"
contains "...naming the file" "no such file: $T/nope.json"
echo '{"version": 1, "bootstrap": {"device": "sda"}}' >"$T/bad.json"
expect "an invalid document is refused" 1 "$BUILD_ISO" --state "$T/bad.json" --output "$T/x.iso" --deb "$DEB"
contains "...with op-dbus validate's words" "/bootstrap/device"
check "...and no ISO is written" test ! -e "$T/x.iso"

# ---- the documents -----------------------------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C admin@iso-test -f "$T/admin" >/dev/null
REPORT='[Unit]
Description=iso test report
After=multi-user.target op-dbus-firstboot.service ssh.service
[Service]
Type=oneshot
TimeoutStartSec=infinity
StandardOutput=tty
TTYPath=/dev/ttyS1
TTYVHangup=no
ExecStart=/bin/bash -c '"'"'echo IT-HOSTNAME=$$(hostname); echo IT-FQDN=$$(hostname -f); echo IT-ROOT=$$(findmnt -no SOURCE /); echo IT-HOME=$$(findmnt -no SOURCE /home); echo IT-ESP=$$(findmnt -no FSTYPE /boot/efi); echo IT-EFI=$$(test -d /sys/firmware/efi && echo yes); echo IT-USER=$$(id -un 1000); echo IT-SUDO=$$(id -nG admin | grep -ow sudo); echo IT-KEY=$$(cut -d" " -f3 /home/admin/.ssh/authorized_keys); echo IT-SSH=$$(systemctl is-active ssh); echo IT-FIRSTBOOT=$$(systemctl is-active op-dbus-firstboot.service); echo IT-TIMER=$$(systemctl is-enabled btrfs-scrub-root.timer); echo IT-BRIDGE=$$(ip -4 -o addr show dev vmbr1 | tr -s " " | cut -d" " -f4); echo IT-NFT=$$(nft list table inet op_dbus | grep -c "tcp dport 22 accept"); echo IT-LOG=$$(grep -c "DONE:" /var/log/op-dbus-install.log); echo IT-LOGMODE=$$(stat -c %%a /var/log/op-dbus-install.log); if timeout -k 10 600 op-dbus plan /etc/op-dbus/state.json >/run/it-plan.out 2>&1; then echo IT-PLAN=0; else echo IT-PLAN=failed; fi; tail -n 30 /run/it-plan.out | sed s/^/IT-PLANOUT:/; echo IT-REPORT-END'"'"'
[Install]
WantedBy=multi-user.target
'
jq --arg key "$(cat "$T/admin.pub")" --arg report "$REPORT" '
  .metadata.name = "iso-test"
  | .bootstrap.installer = {"wait": 0}
  | .plugins.users.accounts.admin.ssh_authorized_keys = [$key]
  | .plugins.network.interfaces.ens3 = {"type": "ethernet", "address": "10.0.2.15/24", "gateway": "10.0.2.2"}
  | .plugins.systemd.custom_units["it-report.service"] = {"content": $report, "enabled": true}
' "$SRC/examples/complete-server.json" >"$T/server.json"
check "the test's document (complete-server.json adapted) is valid" "$OPDBUS" validate "$T/server.json"

# ---- the ISOs ----------------------------------------------------------------------------------------------------
t0=$(date +%s)
expect "build-iso builds the complete-server ISO" 0 "$BUILD_ISO" --state "$T/server.json" --output "$T/server.iso" \
  --deb "$DEB" --cache-dir "$CACHE/live"
FIRST_BUILD=$(($(date +%s) - t0))
contains "...printing its steps" "[5/5] the hybrid ISO"
check "...an ISO 9660 image with an El Torito EFI boot image and a BIOS one" bash -c "
  xorriso -indev '$T/server.iso' -report_el_torito plain 2>/dev/null >'$T/eltorito' &&
  grep -q 'UEFI' '$T/eltorito' && grep -q 'BIOS' '$T/eltorito'"
check "...carrying the document, op-dbus and the installer beside the live root" bash -c "
  xorriso -indev '$T/server.iso' -find / -type f 2>/dev/null | tr -d \"'\" | sort | xargs >'$T/files' &&
  grep -q '/live/filesystem.squashfs' '$T/files' && grep -q /opdbus/state.json '$T/files' &&
  grep -q /opdbus/op-dbus.deb '$T/files' && grep -q /opdbus/installer.sh '$T/files'"
live_digest() { find "$CACHE/live" -type f -printf '%p %s %T@ %i\n' | sort | sha256sum | cut -d' ' -f1; }
live_before=$(live_digest)
t0=$(date +%s)
expect "build-iso without --state builds a generic ISO" 0 "$BUILD_ISO" --output "$T/generic.iso" --deb "$DEB" \
  --cache-dir "$CACHE/live" --wait 30
GENERIC_BUILD=$(($(date +%s) - t0))
contains "...from the cached live root" "cached: $CACHE/live/live-"
is "...which it leaves as it was (no file of the live-root cache rewritten)" "$live_before" live_digest
echo "# ISO $(du -h "$T/server.iso" | cut -f1); first build $FIRST_BUILD s (cached live root or not), generic $GENERIC_BUILD s"

# ---- SeaBIOS: the generic ISO, the document on a drive, a disk holding a filesystem --------------------------------
truncate -s 256M "$T/used.img"
mkfs.ext4 -q -L data "$T/used.img"
before=$(sha256sum "$T/used.img" | cut -d' ' -f1)
mkdir -p "$T/statedrive"
cp "$T/server.json" "$T/statedrive/state.json"
truncate -s 16M "$T/state.img"
mkfs.ext4 -q -L OPDBUS-STATE -d "$T/statedrive" "$T/state.img"
timeout 900 qemu-system-x86_64 -m 1536 -smp 1 -display none -no-reboot -boot d -cdrom "$T/generic.iso" \
  -drive "file=$T/used.img,format=raw,if=virtio" -drive "file=$T/state.img,format=raw,if=virtio" \
  -serial "file:$T/bios.log" &
QEMU_PID=$!
until_stopped "$T/bios.log"
check "SeaBIOS boots the generic ISO to the installer's first screen ($(elapsed) s so far)" \
  bash -c "grep -q 'op-dbus installer: target disk: /dev/vda' '$T/out' || { tail -c 3000 '$T/out'; false; }"
contains "...the document from the drive labelled OPDBUS-STATE" "from the drive labelled OPDBUS-STATE"
contains "...the hostname" "hostname:    server1.example.test"
contains "...then it stops: the disk holds data and the document does not say wipe" \
  "STOPPED: the target disk /dev/vda holds data"
contains "...saying nothing was written" "nothing was written"
contains "...and a shell is offered" "a root shell is open on this console"
is "...and the disk is byte-identical" "$before" bash -c "sha256sum '$T/used.img' | cut -d' ' -f1"

# ---- the document named on the kernel command line, its target disk missing ------------------------------------------
# The ISO's own kernel and initrd booted directly with opdbus.state=LABEL=OPDBUS-STATE:/other.json (GRUB's menu
# cannot be edited here); live-boot finds its medium on the CD as from GRUB.
jq '.bootstrap.device = "/dev/vdz"' "$T/server.json" >"$T/statedrive/other.json"
rm -f "$T/state.img"
truncate -s 16M "$T/state.img"
mkfs.ext4 -q -L OPDBUS-STATE -d "$T/statedrive" "$T/state.img"
mkdir -p "$T/isoboot"
xorriso -osirrox on -indev "$T/generic.iso" -extract /live/vmlinuz "$T/isoboot/vmlinuz" \
  -extract /live/initrd.img "$T/isoboot/initrd.img" >/dev/null 2>&1
timeout 900 qemu-system-x86_64 -m 1536 -smp 1 -display none -no-reboot -cdrom "$T/generic.iso" \
  -kernel "$T/isoboot/vmlinuz" -initrd "$T/isoboot/initrd.img" \
  -append "boot=live components console=ttyS0,115200 opdbus.state=LABEL=OPDBUS-STATE:/other.json" \
  -drive "file=$T/state.img,format=raw,if=virtio" -serial "file:$T/cmdline.log" &
QEMU_PID=$!
until_stopped "$T/cmdline.log"
check "the document named on the kernel command line (opdbus.state=LABEL=OPDBUS-STATE:/other.json) is read" \
  bash -c "grep -q 'state document: /run/opdbus-state/other.json (from the kernel command line' '$T/out' || { tail -c 3000 '$T/out'; false; }"
contains "...and with its target disk missing the installer stops, naming it" "STOPPED: the target disk /dev/vdz is missing"
contains "...listing the disks there are" "disks here:"
contains "...and a shell is offered" "a root shell is open on this console"

# ---- the pause: opdbus.wait on the kernel command line, and Enter on the serial console aborts -------------------
# A blank target (nothing to refuse), the document's own wait 0 overridden by opdbus.wait=120; the serial console
# is a socket the test reads, and it sends Enter once the countdown is on the screen.
truncate -s 4G "$T/blank.img"
blank_before=$(sha256sum "$T/blank.img" | cut -d' ' -f1)
python3 - "$T/serial.sock" "$T/abort.log" <<'PY' &
import socket, sys, time
path, log = sys.argv[1], sys.argv[2]
deadline = time.time() + 900
s = socket.socket(socket.AF_UNIX)
while True:
    try:
        s.connect(path)
        break
    except OSError:
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.2)
s.settimeout(1)
seen, sent = b"", False
with open(log, "wb") as f:
    while time.time() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        f.write(data)
        f.flush()
        seen = (seen + data)[-4096:]
        if not sent and b"press Enter on this console to abort" in seen:
            s.sendall(b"\r")
            sent = True
PY
READER_PID=$!
timeout 900 qemu-system-x86_64 -m 1536 -smp 1 -display none -no-reboot -cdrom "$T/generic.iso" \
  -kernel "$T/isoboot/vmlinuz" -initrd "$T/isoboot/initrd.img" \
  -append "boot=live components console=ttyS0,115200 opdbus.wait=120" \
  -drive "file=$T/blank.img,format=raw,if=virtio" -drive "file=$T/state.img,format=raw,if=virtio" \
  -chardev "socket,id=ser0,path=$T/serial.sock,server=on,wait=on" -serial chardev:ser0 &
QEMU_PID=$!
until_stopped "$T/abort.log" "$READER_PID"
check "opdbus.wait=120 on the kernel command line wins over the document's wait 0: a countdown" \
  bash -c "grep -q 'installing onto /dev/vda in 120 seconds; press Enter on this console to abort' '$T/out' ||
    { tail -c 3000 '$T/out'; false; }"
contains "...and Enter on the serial console aborts, before anything is written" \
  "STOPPED: aborted by the operator: nothing was written to /dev/vda"
contains "...and a shell is offered" "a root shell is open on this console"
is "...and the blank disk is still blank" "$blank_before" bash -c "sha256sum '$T/blank.img' | cut -d' ' -f1"

if [ "$MODE" = quick ]; then
  echo "# quick run: the unattended UEFI install and the installed disk are the test iso-install (suite slow)"
  tap_done
  exit
fi

# ---- OVMF: the unattended install ----------------------------------------------------------------------------------
truncate -s 6G "$T/disk.img"
# The drive labelled OPDBUS-CACHE (bootstrap --cache-dir in the installer) is kept between runs. Before the
# VM starts, `op-dbus bootstrap --prepare-cache` makes the base system and the installed system for the same
# document on this host (natively: minutes, where debootstrap and apt under TCG take 30-50) and they are
# copied onto it, so the installer unpacks them: this test proves the ISO, the installer, the install from the
# cache, the stages after it and the UEFI boot; the apt path itself is proved by bootstrap-loop.
. "$SRC/tests/vm/lib/seed-cache.sh"
CACHE_IMG=$CACHE/installer-cache.img
[ -f "$CACHE_IMG" ] || { truncate -s 8G "$CACHE_IMG"; mkfs.ext4 -q -L OPDBUS-CACHE -d "$CACHE/pkgs" "$CACHE_IMG"; }
t1=$(date +%s)
# Shared with bootstrap-uefi-vm (the same document's entries): one --prepare-cache at a time.
PREP=${OPDBUS_TEST_CACHE:-/var/cache/op-dbus-tests}/bootstrap-prepare
mkdir -p "$PREP"
flock "$PREP/.lock" "$OPDBUS" bootstrap --prepare-cache --cache-dir "$PREP" "$T/server.json" >"$T/prepare.log" 2>&1
prep_rc=$?
grep -a "done in\|already holds" "$T/prepare.log" | sed 's/^/#   /'
if [ "$prep_rc" = 0 ]; then ok "bootstrap --prepare-cache of the document on this host ($(($(date +%s) - t1)) s)"; else
  not_ok "bootstrap --prepare-cache of the document on this host" "exit $prep_rc" "$(tail -n 30 "$T/prepare.log")"; fi
check "...its entries copied onto the drive labelled OPDBUS-CACHE" seed_cache_image "$CACHE_IMG" OPDBUS-CACHE 8G "$PREP"
ln -s "$CACHE_IMG" "$T/cache.img"
cp "$OVMF_VARS" "$T/vars-install.fd"
t0=$(date +%s)
timeout 3600 qemu-system-x86_64 -m 2048 -smp 2 -display none -no-reboot \
  -drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" -drive "if=pflash,format=raw,file=$T/vars-install.fd" \
  -drive "file=$T/disk.img,format=raw,if=virtio" -drive "file=$T/cache.img,format=raw,if=virtio" \
  -cdrom "$T/server.iso" -netdev user,id=n0 -device virtio-net-pci,netdev=n0,addr=0x3 \
  -serial "file:$T/install.log" &
QEMU_PID=$!
wait "$QEMU_PID"
rc=$?
QEMU_PID=
INSTALL_TIME=$(($(date +%s) - t0))
tr -d '\r' <"$T/install.log" >"$T/out"
check "OVMF boots the ISO and the installer installs unattended, then powers off (${INSTALL_TIME} s)" \
  bash -c "[ $rc = 0 ] && grep -q 'op-dbus installer: DONE: server1.example.test is installed on /dev/vda' '$T/out' || { echo qemu exit $rc; tail -c 4000 '$T/out'; false; }"
contains "...after showing the plan" "the plan (op-dbus bootstrap --dry-run)"
contains "...with bootstrap's progress on the console" "finish done in"
contains "...and the log copied into the installed system" "the log is in the installed system: /var/log/op-dbus-install.log"
echo "# install stages: $(grep -o 'bootstrap: *[a-z-]* done in [0-9hms.]*' "$T/out" | sed 's/bootstrap: *//; s/ done in /=/' | paste -sd' ')"
contains "...unpacking the installed system from the cache drive (made on the host)" "installed system from the cache ("

# ---- OVMF: the disk alone -----------------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp "$OVMF_VARS" "$T/vars-boot.fd"
timeout 900 qemu-system-x86_64 -m 1024 -smp 2 -display none -no-reboot \
  -drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" -drive "if=pflash,format=raw,file=$T/vars-boot.fd" \
  -drive "file=$T/disk.img,format=raw,if=virtio" \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=n0,addr=0x3 \
  -serial "file:$T/console.log" -serial "file:$T/report.log" &
QEMU_PID=$!
for _ in $(seq 1 180); do
  grep -aq IT-REPORT-END "$T/report.log" 2>/dev/null && break
  kill -0 "$QEMU_PID" 2>/dev/null || break
  sleep 5
done
check "the installed disk boots alone under OVMF to the report" \
  bash -c "grep -aq IT-REPORT-END '$T/report.log' || { tail -c 3000 '$T/console.log'; cat '$T/report.log'; false; }"
# The firmware's and GRUB's escape sequences can precede the first report line on the same line.
report() { grep -a "IT-$1=" "$T/report.log" | tail -n1 | sed "s/.*IT-$1=//" | tr -d '\r'; }
is "...booted by UEFI" yes report EFI
is "...with the document's hostname" server1 report HOSTNAME
is "...and FQDN" server1.example.test report FQDN
is ".../ on the @ subvolume" "/dev/vda2[/@]" report ROOT
is ".../home on @home" "/dev/vda2[/@home]" report HOME
is "...the ESP on /boot/efi" vfat report ESP
is "...the user" admin report USER
is "...in the sudo group" sudo report SUDO
is "...with the test's key" admin@iso-test report KEY
is "...sshd running" active report SSH
is "...the first-boot unit done" active report FIRSTBOOT
is "...the timer enabled" enabled report TIMER
is "...the bridge with its address" 10.10.0.1/24 report BRIDGE
is "...the firewall table with the SSH rule" 1 report NFT
is "...the install log copied in (/var/log/op-dbus-install.log)" 1 report LOG
is "...readable by root only" 600 report LOGMODE
plan_rc=$(report PLAN)
if [ "$plan_rc" = 0 ]; then
  ok "...and \`op-dbus plan /etc/op-dbus/state.json\` in the installed system finds nothing to change"
else
  not_ok "...and \`op-dbus plan /etc/op-dbus/state.json\` in the installed system finds nothing to change" \
    "plan: ${plan_rc:-no answer}" "$(grep -a 'IT-PLANOUT:' "$T/report.log" | sed 's/.*IT-PLANOUT://' | tr -d '\r')"
fi
SSH=(ssh -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=30
  -o IdentitiesOnly=yes)
is "an SSH login with the document's key works (through the firewall)" admin "${SSH[@]}" -i "$T/admin" admin@127.0.0.1 id -un
kill "$QEMU_PID" 2>/dev/null
wait "$QEMU_PID" 2>/dev/null
QEMU_PID=
echo "# wall time $(elapsed) s (install $INSTALL_TIME s)"
tap_done
