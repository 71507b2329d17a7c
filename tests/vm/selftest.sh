#!/usr/bin/env bash
# Checks the VM harness itself: output and exit codes come back, the guest kernel has the link kinds the host lacks,
# blank disks appear, a second phase on the same --disks-dir sees the first phase's changes, timeouts are reported.
# usage: selftest.sh OPDBUS        (prints TAP; needs root; the first run builds the cached image, ~3 min)
set -u
OPDBUS=$(readlink -f "${1:?usage: selftest.sh OPDBUS}")
VM=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/vm-run.sh

if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for t in qemu-system-x86_64 qemu-img debootstrap; do
  command -v "$t" >/dev/null || { echo "Bail out! $t not installed (run scripts/install-deps.sh)"; exit 1; }
done

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/../lib/tap.sh"
echo "1..9"
check_logs() {  # check_logs NAME CONDITION-EXIT-STATUS LOGS...: on failure, the tail of each log
  local name=$1 cond=$2 f
  shift 2
  if [ "$cond" -eq 0 ]; then ok "$name"; else not_ok "$name" "$(for f in "$@"; do [ -f "$f" ] && tail -n 60 "$f"; done)"; fi
}
has() { grep -qxF -- "$1" "$2"; }

# Phase 1: output, exit code, op-dbus in the guest, dummy + VLAN, the blank disk; leaves traces for phase 2.
mkdir -p "$T/data"
echo "from the host" >"$T/data/note.txt"
cat >"$T/phase1.sh" <<'GUEST'
#!/bin/bash
echo "guest-marker $(hostname)"
"$OPDBUS" --version >/dev/null 2>&1 && echo "opdbus-runs"
[ "$(cat "$PAYLOAD/data/note.txt")" = "from the host" ] && echo "payload-ok"
ip link add d0 type dummy && modprobe 8021q && ip link add link d0 name d0.5 type vlan id 5 &&
  ip -d link show d0.5 | grep -q 'vlan protocol 802.1Q id 5' && echo "vlan-ok"
[ -b /dev/vdc ] && [ "$(blockdev --getsize64 /dev/vdc)" -eq $((64 * 1024 * 1024)) ] && echo "vdc-ok"
mkfs.ext4 -q -L blank /dev/vdc && mount /dev/vdc /mnt && echo on-the-blank >/mnt/f && umount /mnt
echo "written in phase 1" >/root/phase1
exit 3
GUEST
"$VM" --opdbus "$OPDBUS" --script "$T/phase1.sh" --payload "$T/data" --blank 64M --disks-dir "$T/disks" \
  >"$T/out1" 2>"$T/err1"
rc=$?
has "guest-marker opdbus-vm" "$T/out1"; check_logs "the guest script runs and its output comes back" $? "$T/out1" "$T/err1"
[ "$rc" -eq 3 ]; check_logs "the guest's exit code propagates (3 -> $rc)" $? "$T/err1"
has "opdbus-runs" "$T/out1"; check_logs "op-dbus runs in the guest" $? "$T/out1" "$T/err1"
has "payload-ok" "$T/out1"; check_logs "--payload directories reach the guest" $? "$T/out1"
has "vlan-ok" "$T/out1"; check_logs "dummy link + 8021q + VLAN link work in the guest" $? "$T/out1" "$T/err1"
has "vdc-ok" "$T/out1"; check_logs "a 64M --blank disk appears as /dev/vdc" $? "$T/out1" "$T/err1"

# Phase 2: the same root overlay and blank disk, a new script.
cat >"$T/phase2.sh" <<'GUEST'
#!/bin/bash
cat /root/phase1
mount -o ro /dev/vdc /mnt && cat /mnt/f
GUEST
"$VM" --opdbus "$OPDBUS" --script "$T/phase2.sh" --blank 64M --disks-dir "$T/disks" >"$T/out2" 2>"$T/err2"
rc=$?
[ "$rc" -eq 0 ] && has "written in phase 1" "$T/out2"
check_logs "a second phase on the same --disks-dir keeps the root disk's changes" $? "$T/out2" "$T/err2"
has "on-the-blank" "$T/out2"; check_logs "... and the blank disk's content" $? "$T/out2" "$T/err2"

# Timeout: the VM is stopped and the harness says so with 124.
printf '#!/bin/bash\nsleep 600\n' >"$T/slow.sh"
"$VM" --opdbus "$OPDBUS" --script "$T/slow.sh" --timeout 5 >"$T/out3" 2>"$T/err3"
rc=$?
[ "$rc" -eq 124 ] && grep -q TIMEOUT "$T/err3"; check_logs "a timeout exits 124 with a message (got $rc)" $? "$T/err3"

[ "$fails" -eq 0 ]
