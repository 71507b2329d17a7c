# The shared part of the VM test wrappers (tests/vm/*/run.sh): checks that a VM can run here, then runs guest
# scripts in phases through vm-run.sh and relays each guest's TAP lines, renumbered, under the phase name.
# Source it after tests/lib/tap.sh, with OPDBUS (the binary) and SRC (the source tree) set:
#   vm_require                          skips the whole test (TAP "1..0 # SKIP") without root or qemu
#   vm_tmpdir NAME                      sets T to a fresh directory, removed on exit
#   vm_phase NAME SCRIPT [ARGS...]      boots a VM that runs SCRIPT (vm-run.sh ARGS added); returns its exit
#   vm_not_run NAME WHY                 a phase that could not run counts as a failure
VM=$SRC/tests/vm/lib/vm-run.sh

vm_require() {
  [ "$(id -u)" -eq 0 ] || tap_skip_all "needs root"
  local t
  for t in qemu-system-x86_64 qemu-img debootstrap; do
    command -v "$t" >/dev/null || tap_skip_all "$t is not installed"
  done
}

vm_tmpdir() {
  T=$(mktemp -d "/tmp/opdbus-$1-vm.XXXXXX")
  trap 'rm -rf "$T"' EXIT
}

# Re-numbers the guest's TAP lines under a phase name; anything else the guest printed becomes a comment.
vm_relay() {
  local phase=$1 file=$2 line
  while IFS= read -r line; do
    case $line in
      "ok "*) ok "$phase: ${line#ok * - }" ;;
      "not ok "*) not_ok "$phase: ${line#not ok * - }" ;;
      1..*) ;;
      *) echo "# $line" ;;
    esac
  done <"$file"
}

vm_phase() {
  local name=$1 script=$2
  shift 2
  "$VM" --opdbus "$OPDBUS" --script "$script" --disks-dir "$T/disks" --timeout 900 \
    --artifacts "$T/artifacts-$name" "$@" >"$T/$name.out" 2>"$T/$name.err"
  local rc=$?
  vm_relay "$name" "$T/$name.out"
  if [ "$rc" -eq 0 ]; then
    ok "$name: the guest script passed"
  else
    not_ok "$name: the guest script passed (exit $rc)" "$(tail -n 40 "$T/$name.err")"
  fi
  return "$rc"
}

vm_not_run() { not_ok "$1: not run, $2"; }
