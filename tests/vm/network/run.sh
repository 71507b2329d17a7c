#!/usr/bin/env bash
# The network plugin in a VM (tests/vm/lib/vm-run.sh), for what the host kernel lacks: dummy, bond and VLAN
# links and an Open vSwitch bridge through a real ovsdb-server/ovs-vswitchd, read back from the kernel and
# OVSDB; then a reboot, where the boot units must bring the same network back before and after ovs-vswitchd.
# usage: run.sh OPDBUS SRCDIR        (prints TAP; needs root and qemu)
set -u
OPDBUS=$(readlink -f "$1")
SRC=$(readlink -f "$2")
VM=$SRC/tests/vm/lib/vm-run.sh
HERE=$SRC/tests/vm/network
PACKAGES="openvswitch-switch systemd-resolved"

if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for t in qemu-system-x86_64 qemu-img debootstrap; do
  command -v "$t" >/dev/null || { echo "1..0 # SKIP $t is not installed"; exit 0; }
done

T=$(mktemp -d /tmp/opdbus-network-vm.XXXXXX)
trap 'rm -rf "$T"' EXIT

n=0
fails=0
# Re-numbers the guest's TAP lines under a phase name; anything else the guest printed becomes a comment.
relay() {
  local phase=$1 file=$2
  while IFS= read -r line; do
    case $line in
      "ok "*) n=$((n + 1)); echo "ok $n - $phase: ${line#ok * - }" ;;
      "not ok "*) n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $phase: ${line#not ok * - }" ;;
      1..*) ;;
      *) echo "# $line" ;;
    esac
  done <"$file"
}
phase() {  # phase NAME SCRIPT
  local name=$1 script=$2
  "$VM" --opdbus "$OPDBUS" --script "$script" --packages "$PACKAGES" --disks-dir "$T/disks" --timeout 900 \
    --artifacts "$T/artifacts-$name" >"$T/$name.out" 2>"$T/$name.err"
  local rc=$?
  relay "$name" "$T/$name.out"
  n=$((n + 1))
  if [ "$rc" -eq 0 ]; then
    echo "ok $n - $name: the guest script passed"
  else
    fails=$((fails + 1))
    echo "not ok $n - $name: the guest script passed (exit $rc)"
    tail -n 40 "$T/$name.err" | sed 's/^/# /'
  fi
  return "$rc"
}

if phase apply "$HERE/guest-apply.sh"; then
  phase reboot "$HERE/guest-boot.sh"
else
  n=$((n + 1))
  echo "not ok $n - reboot: not run, the apply phase failed"
  fails=$((fails + 1))
fi
echo "1..$n"
[ "$fails" -eq 0 ]
