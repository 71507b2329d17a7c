#!/usr/bin/env bash
# The storage plugin end to end in a VM (tests/vm/lib/vm-run.sh): the roadmap's storage example on a blank
# virtio disk (GPT, ESP + btrfs, subvolumes @ and @home, compress=zstd:3, fstab by UUID), then a reboot into
# the new root, where everything must be mounted again and the state must plan to nothing.
# usage: run.sh OPDBUS SRCDIR        (prints TAP; needs root and qemu)
set -u
OPDBUS=$(readlink -f "$1")
SRC=$(readlink -f "$2")
VM=$SRC/tests/vm/lib/vm-run.sh
HERE=$SRC/tests/vm/storage

if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for t in qemu-system-x86_64 qemu-img debootstrap; do
  command -v "$t" >/dev/null || { echo "1..0 # SKIP $t is not installed"; exit 0; }
done

T=$(mktemp -d /tmp/opdbus-storage-vm.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/storage"
cp "$HERE/state.json" "$T/storage/state.json"

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
phase() {  # phase NAME SCRIPT [vm-run args...]
  local name=$1 script=$2
  shift 2
  "$VM" --opdbus "$OPDBUS" --script "$script" --payload "$T/storage" --blank 4G --blank 256M \
    --disks-dir "$T/disks" --timeout 900 --artifacts "$T/artifacts-$name" "$@" >"$T/$name.out" 2>"$T/$name.err"
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

if phase install "$HERE/guest-install.sh"; then
  phase reboot "$HERE/guest-boot.sh" --kernel-args "root=LABEL=vmroot rootflags=subvol=@"
else
  n=$((n + 1))
  echo "not ok $n - reboot: not run, the install phase failed"
  fails=$((fails + 1))
fi
echo "1..$n"
[ "$fails" -eq 0 ]
