#!/usr/bin/env bash
# Benchmark: reading N stopped containers. op-dbus plan of a document naming N containers (in sync: exit 0),
# and op-dbus show, against `lxc-ls --fancy` listing the same lxcpath. The containers are defined only (a config
# file each, as lxc-create writes it, with an empty directory as rootfs): what is measured is the listing and
# the config reads, not a template. Everything lives in a private lxcpath removed at the end; nothing is
# started. Prints the best of REPEATS runs in milliseconds per N. Needs root and lxc-ls.
# usage: bench/lxc-plan.sh [OPDBUS] [COUNTS] [REPEATS]     e.g. bench/lxc-plan.sh build/op-dbus "100 1000" 3
set -euo pipefail
OPDBUS=$(readlink -f "${1:-build/op-dbus}")
COUNTS=${2:-100 1000}
REPEATS=${3:-3}
[ "$(id -u)" -eq 0 ] || { echo "needs root (liblxc)" >&2; exit 1; }
command -v lxc-ls >/dev/null || { echo "needs lxc-ls (package lxc)" >&2; exit 1; }

T=$(mktemp -d)
P=/var/lib/op-dbus-tests/lxc-bench-$$
cleanup() { rm -rf "$T" "$P"; }
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

now() { date +%s%N; }
best() { sort -n | head -1; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

printf '%8s %12s %12s %14s\n' N plan_ms show_ms lxc-ls_ms
for n in $COUNTS; do
  rm -rf "$P" && mkdir -p "$P"
  containers=""
  for i in $(seq 1 "$n"); do
    name=lxct-bench$i
    mkdir -p "$P/$name/rootfs"
    cat >"$P/$name/config" <<CFG
lxc.rootfs.path = dir:$P/$name/rootfs
lxc.uts.name = $name
lxc.net.0.type = veth
lxc.net.0.link = lxcbr-tbench
lxc.net.0.flags = up
lxc.cgroup.memory.limit_in_bytes = 268435456
lxc.start.auto = 0
CFG
    containers+="${containers:+, }\"$name\": {\"config\": {\"memory\": \"256M\", \"network\": {\"bridge\": \"lxcbr-tbench\"}}, \"autostart\": false, \"state\": \"stopped\"}"
  done
  printf '{"version": 1, "plugins": {"lxc": {"lxcpath": "%s", "containers": {%s}}}}\n' "$P" "$containers" >"$T/doc.json"
  plan=() show=() ls=()
  for r in $(seq 1 "$REPEATS"); do
    a=$(now); "$OPDBUS" plan "$T/doc.json" >/dev/null; b=$(now); plan+=("$(ms "$a" "$b")")
    a=$(now); OPDBUS_LXC_PATH=$P "$OPDBUS" show --plugin lxc >/dev/null; b=$(now); show+=("$(ms "$a" "$b")")
    a=$(now); lxc-ls -P "$P" --fancy >/dev/null; b=$(now); ls+=("$(ms "$a" "$b")")
  done
  printf '%8s %12s %12s %14s\n' "$n" "$(printf '%s\n' "${plan[@]}" | best)" "$(printf '%s\n' "${show[@]}" | best)" \
    "$(printf '%s\n' "${ls[@]}" | best)"
done
