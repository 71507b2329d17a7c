#!/usr/bin/env bash
# Benchmark: creating N Linux bridges (and bringing them up) in a fresh network namespace, op-dbus against
# one `ip -batch` making the same links, measured in the same run. Prints, for each N, the best of REPEATS
# runs in milliseconds, the time per bridge, and the ratio op-dbus / ip for:
#   apply  - make N bridges from nothing, up   (op-dbus apply: plan, checkpoint, apply, verify, journal
#                                                vs  ip -batch: "link add brN type bridge" + "link set brN up")
#   apply-tmpfs  the same, with op-dbus's journal on a tmpfs (a private mount namespace): what is left once
#                the journal's per-action fsyncs are taken out
#   no-op  - the same document once it holds   (op-dbus plan, exit 0  vs  ip -d link show)
# The namespaces are made here and removed at the end (not in between: the kernel tears a namespace down in the
# background under the rtnl lock, which would stall the next run's link creation for seconds). Nothing else
# on the host changes except op-dbus's journal. Needs root, iproute2 and bc.
# usage: bench/network-bridges.sh [OPDBUS] [COUNTS] [REPEATS]     e.g. bench/network-bridges.sh build/op-dbus "100 1000" 3
set -euo pipefail
OPDBUS=$(readlink -f "${1:-build/op-dbus}")
COUNTS=${2:-100 1000}
REPEATS=${3:-3}
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
for tool in ip bc; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }; done

T=$(mktemp -d)
namespaces=()
NS=
cleanup() {
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

now() { date +%s%N; }
best() { sort -n | head -1; }
fresh_ns() {
  NS=opbench$$-${#namespaces[@]}
  namespaces+=("$NS")
  ip netns add "$NS"
  ip -n "$NS" link set lo up
}
in_ns() { ip netns exec "$NS" "$@"; }

printf 'network bridges in a fresh network namespace, best of %d runs\n' "$REPEATS"
mkdir -p /var/lib/op-dbus  # the mount point of the tmpfs journal (op-dbus's own directory)
printf '%-11s %6s %12s %12s %14s %14s %8s\n' task N "op-dbus ms" "ip ms" "op-dbus/item" "ip/item" ratio
for N in $COUNTS; do
  {
    printf '{"version": 1, "plugins": {"network": {"persist": false, "interfaces": {'
    for i in $(seq 1 "$N"); do printf '%s"bb%s": {"type": "bridge"}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done
    printf '}}}}\n'
  } >"$T/state.json"
  for i in $(seq 1 "$N"); do printf 'link add bb%s type bridge\n' "$i"; done >"$T/batch"
  for i in $(seq 1 "$N"); do printf 'link set bb%s up\n' "$i"; done >>"$T/batch"

  apply_o=() apply_t=() apply_i=() noop_o=() noop_i=()
  for _ in $(seq 1 "$REPEATS"); do
    fresh_ns
    start=$(now)
    in_ns "$OPDBUS" -q apply "$T/state.json" >/dev/null
    apply_o+=($(( ($(now) - start) / 1000000 )))
    # The no-op: the document holds now. plan exits 0 only when nothing is left to do.
    start=$(now)
    in_ns "$OPDBUS" -q plan "$T/state.json" >/dev/null
    noop_o+=($(( ($(now) - start) / 1000000 )))
    start=$(now)
    in_ns ip -d link show >/dev/null
    noop_i+=($(( ($(now) - start) / 1000000 )))
    up=$(in_ns ip -o link show type bridge up | wc -l)
    [ "$up" -eq "$N" ] || { echo "op-dbus left $up of $N bridges up" >&2; exit 1; }

    fresh_ns
    start=$(now)
    in_ns unshare -m sh -c 'mount -t tmpfs op-dbus-bench /var/lib/op-dbus && exec "$@"' sh \
      "$OPDBUS" -q apply "$T/state.json" >/dev/null
    apply_t+=($(( ($(now) - start) / 1000000 )))

    fresh_ns
    start=$(now)
    in_ns ip -batch "$T/batch"
    apply_i+=($(( ($(now) - start) / 1000000 )))
  done
  i_apply=$(printf '%s\n' "${apply_i[@]}" | best)
  for task in apply apply-tmpfs no-op; do
    if [ "$task" = apply ]; then
      o=$(printf '%s\n' "${apply_o[@]}" | best) i=$i_apply
    elif [ "$task" = apply-tmpfs ]; then
      o=$(printf '%s\n' "${apply_t[@]}" | best) i=$i_apply
    else
      o=$(printf '%s\n' "${noop_o[@]}" | best) i=$(printf '%s\n' "${noop_i[@]}" | best)
    fi
    [ "$i" -gt 0 ] || i=1
    printf '%-11s %6d %12d %12d %11.3f ms %11.3f ms %7.2fx\n' "$task" "$N" "$o" "$i" \
      "$(echo "$o / $N" | bc -l)" "$(echo "$i / $N" | bc -l)" "$(echo "$o / $i" | bc -l)"
  done
done
