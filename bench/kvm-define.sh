#!/usr/bin/env bash
# Benchmark: N stopped VMs (domain type qemu, 64 MiB, no disk) defined through libvirt, op-dbus against a
# `virsh define` loop of the same XML op-dbus generates, measured in the same run. Prints, for each N, the time
# in milliseconds and per VM for:
#   apply  - define N VMs from nothing (op-dbus apply: plan, define, verify, journal  vs  N x virsh define)
#   no-op  - the same document once it holds (op-dbus plan, exit 0  vs  virsh list --all + N x dumpxml)
# Everything is named kvmb-$$-*, and undefined at the end. op-dbus runs in a private mount namespace with its
# journal in the benchmark's directory. Needs root and a running libvirtd (qemu:///system).
#
# On a host whose /dev/kvm is unusable for libvirt's qemu user (as on the test machines), libvirtd re-probes
# QEMU's capabilities on every define ("KVM was enabled when probing, but it is not available now" in its debug
# log), which costs seconds (tens of seconds under load) per define for op-dbus and virsh alike: compare the two
# columns, not the totals. There, even N=20 takes many minutes; the 100-10,000 scale needs a host with working
# KVM (or libvirtd's capability cache stable).
# usage: bench/kvm-define.sh [OPDBUS] [COUNTS]     e.g. bench/kvm-define.sh build/op-dbus "10 100 1000"
set -euo pipefail
OPDBUS_BIN=$(readlink -f "${1:-build/op-dbus}")
COUNTS=${2:-3 10}
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
virsh -q uri >/dev/null || { echo "needs a running libvirtd" >&2; exit 1; }

T=$(mktemp -d)
P=kvmb-$$
undefine_all() {
  for d in $(virsh -q list --all --name | grep "^$P-" || true); do virsh -q undefine "$d" >/dev/null 2>&1 || true; done
}
cleanup() {
  undefine_all
  rm -rf "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run
mkdir -p -m 700 "$T/journal"
opdbus() { unshare -m --propagation private sh -c 'mount --bind "$0" /var/lib/op-dbus && exec "$@"' "$T/journal" "$OPDBUS_BIN" "$@"; }
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }

printf '%-6s %-6s %12s %12s %10s\n' N what op-dbus_ms virsh_ms per_vm_ms
for n in $COUNTS; do
  python3 - "$n" "$P-o" >"$T/o.json" <<'PY'
import json, sys
n, prefix = int(sys.argv[1]), sys.argv[2]
vms = {f"{prefix}{i}": {"virt_type": "qemu", "memory": 64, "cores": 1, "state": "stopped"} for i in range(n)}
print(json.dumps({"version": 1, "plugins": {"kvm": {"vms": vms}}}))
PY
  t0=$(now); opdbus apply "$T/o.json" >/dev/null 2>&1; t1=$(now)
  # The XML op-dbus wrote, renamed, for virsh.
  for i in $(seq 0 $((n - 1))); do
    virsh -q dumpxml --inactive "$P-o$i" | sed -e "s/<name>$P-o$i</<name>$P-v$i</" -e '/<uuid>/d' >"$T/v$i.xml"
  done
  t2=$(now); for i in $(seq 0 $((n - 1))); do virsh -q define "$T/v$i.xml" >/dev/null; done; t3=$(now)
  printf '%-6s %-6s %12s %12s %10s\n' "$n" apply "$(ms "$t0" "$t1")" "$(ms "$t2" "$t3")" "$(( $(ms "$t0" "$t1") / n ))"
  t0=$(now); opdbus plan "$T/o.json" >/dev/null; t1=$(now)
  t2=$(now); virsh -q list --all --name >/dev/null; for i in $(seq 0 $((n - 1))); do virsh -q dumpxml --inactive "$P-v$i" >/dev/null; done; t3=$(now)
  printf '%-6s %-6s %12s %12s %10s\n' "$n" no-op "$(ms "$t0" "$t1")" "$(ms "$t2" "$t3")" "$(( $(ms "$t0" "$t1") / n ))"
  undefine_all
done
