#!/usr/bin/env bash
# Benchmark: table inet op_dbus with N rules (TCP ports, with and without address sets: every rule takes a port
# and a source, a named set of 64 addresses or a two-network list) applied atomically in a fresh network
# namespace, op-dbus against `nft -f` of the equivalent ruleset (the table op-dbus made, as `nft list table`
# prints it, replacing the table in one transaction the same way), measured in the same run. Prints the best of
# REPEATS runs in milliseconds and the ratio op-dbus / nft for:
#   apply  - the table from nothing (op-dbus apply: plan, checkpoint, one libnftables batch, verify, journal
#            vs  nft -f FILE: "table inet op_dbus; delete table inet op_dbus; table inet op_dbus { ... }"),
#            cold: no listing kept from an earlier run
#   batch  - libnftables' JSON API alone: `nft -j -f` of the very batch op-dbus sends (its boot file, made
#            with --root), against nft -f: what the JSON API costs before op-dbus does anything
#   no-op  - the same document once it holds (op-dbus plan, exit 0  vs  nft -j list table inet op_dbus): right
#            after the apply, and with no listing kept from an earlier run (as after a reboot). op-dbus reads
#            the table from the kernel's nf_tables dump (firewall/decode.cc) and lists it through libnftables
#            only for shapes the decoder does not read (NAT, ICMP types, anything made by hand)
# Each run also deletes one rule with nft and checks that the plan reports it (exit 2): drift still shows.
# "persist": false (the host's /etc is not the benchmark's). Nothing outside the namespaces changes (op-dbus's
# journal goes to a tmpfs in a private mount namespace). Needs root, nft and python3.
# LISTS=K: every K-th rule takes a two-network list (an anonymous set in the kernel, which nft lists one set per
# request: the listing grows with their square) instead of a named set; LISTS=0: named sets only. Default 4.
# usage: bench/firewall-scale.sh [OPDBUS] [N] [REPEATS]        e.g. LISTS=0 bench/firewall-scale.sh build/op-dbus 10000 3
set -euo pipefail
# op-dbus's journal on the live system is /var/lib/op-dbus, shared by everything on this host: the test runs
# in a mount namespace of its own with a tmpfs there, so it neither reads nor grows the host's journal.
if [ -z "${FIREWALL_TEST_PRIVATE_JOURNAL:-}" ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  export FIREWALL_TEST_PRIVATE_JOURNAL=1
  mkdir -p /var/lib/op-dbus
  exec unshare --mount --propagation private sh -c \
    'mount -t tmpfs -o mode=0700 firewall-test-journal /var/lib/op-dbus && exec "$0" "$@"' "$(readlink -f "$0")" "$@"
fi
OPDBUS=$(readlink -f "${1:-build/op-dbus}")
N=${2:-10000}
REPEATS=${3:-3}
LISTS=${LISTS:-4}
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
for tool in ip nft python3; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }; done

T=$(mktemp -d /tmp/firewall2-bench.XXXXXX)
namespaces=()
NS=
cleanup() {
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

best() { sort -n | head -1; }
fresh_ns() {
  NS=firewall2-bench$$-${#namespaces[@]}
  namespaces+=("$NS")
  ip netns add "$NS"
  ip -n "$NS" link set lo up
}
in_ns() { ip netns exec "$NS" "$@"; }

# The document: 16 sets of 64 addresses; rule i accepts TCP port 1024+i from a set or (every LISTS-th rule)
# from two networks.
python3 - "$N" "$LISTS" >"$T/fw.json" <<'PY'
import json, sys
n, lists = int(sys.argv[1]), int(sys.argv[2])
sets = {f"s{k}": {"type": "ipv4_addr", "elements": [f"10.{k}.{j}.1" for j in range(64)]} for k in range(16)}
rules = []
for i in range(n):
    r = {"port": 1024 + i, "proto": "tcp", "action": "accept"}
    listed = lists and i % lists == 0
    r["source"] = [f"192.168.{i % 256}.0/24", f"172.16.{i % 256}.0/24"] if listed else f"@s{i % 16}"
    rules.append(r)
doc = {"version": 1, "plugins": {"firewall": {"persist": False, "default_policy": {"input": "drop"},
                                              "sets": sets, "rules": rules}}}
json.dump(doc, sys.stdout)
PY

# The batch op-dbus sends, as its boot file (the same render_batch() output) under a --root tree.
python3 - "$T/fw.json" >"$T/fw-boot.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["plugins"]["firewall"].pop("persist")
json.dump(doc, sys.stdout)
PY
OPDBUS_LOCK_FILE=$T/root-lock "$OPDBUS" -q --root "$T/root" apply "$T/fw-boot.json" >/dev/null
BATCH=$T/root/etc/op-dbus/firewall.json
[ -s "$BATCH" ] || { echo "no batch at $BATCH" >&2; exit 1; }

# timed NAME CMD...: runs CMD (output discarded), appends its wall-clock and CPU (user + system, children
# included) milliseconds to NAME_wall and NAME_cpu. CPU time is what the command costs; the wall clock on a
# shared 2-core host also holds the time it waited for a core.
TIMEFORMAT='%R %U %S'
timed() {
  local name=$1 out
  shift
  out=$({ time "$@" >/dev/null; } 2>&1 | tail -1)
  read -r wall user sys <<<"$out"
  eval "${name}_wall+=($(python3 -c 'import sys; print(round(float(sys.argv[1]) * 1000))' "$wall"))"
  eval "${name}_cpu+=($(python3 -c 'import sys; print(round((float(sys.argv[1]) + float(sys.argv[2])) * 1000))' "$user" "$sys"))"
}
apply_wall=() apply_cpu=() nft_wall=() nft_cpu=() batch_wall=() batch_cpu=() noop_wall=() noop_cpu=() cold_wall=() cold_cpu=() list_wall=() list_cpu=()
loads=()
for _ in $(seq 1 "$REPEATS"); do
  loads+=("$(cut -d' ' -f1 /proc/loadavg)")
  fresh_ns
  # Cold: no listing kept from an earlier run (the plugin keeps the last one it read in the runtime
  # directory, filed under a digest of the kernel's table).
  rm -f "$OPDBUS_RUN_DIR/op-dbus/firewall-listing.json"
  timed apply in_ns "$OPDBUS" -q apply "$T/fw.json"
  rules=$(in_ns nft -a list chain inet op_dbus input | grep -c 'dport')
  [ "$rules" -eq "$N" ] || { echo "op-dbus made $rules rules, not $N" >&2; exit 1; }
  # The no-op plan right after the apply (the listing apply's verification read is still current).
  timed noop in_ns "$OPDBUS" -q plan "$T/fw.json"
  # The same with nothing kept (as after a reboot, or the first plan on a host): libnftables lists the table.
  rm -f "$OPDBUS_RUN_DIR/op-dbus/firewall-listing.json"
  timed cold in_ns "$OPDBUS" -q plan "$T/fw.json"
  timed list in_ns nft -j list table inet op_dbus
  # The equivalent ruleset as nft -f input, replacing the table the same way, in a namespace of its own.
  { echo "table inet op_dbus"; echo "delete table inet op_dbus"; in_ns nft list table inet op_dbus; } >"$T/equiv.nft"
  # Drift still shows with a listing kept: a rule deleted behind op-dbus's back is a change (plan exits 2).
  in_ns "$OPDBUS" -q plan "$T/fw.json" >/dev/null
  handle=$(in_ns nft -a list chain inet op_dbus input | grep 'dport' | tail -1 | sed 's/.*# handle //')
  in_ns nft delete rule inet op_dbus input handle "$handle"
  rc=0
  in_ns "$OPDBUS" -q plan "$T/fw.json" >/dev/null || rc=$?
  [ "$rc" -eq 2 ] || { echo "a rule deleted with nft: plan exited $rc, not 2 (drift missed)" >&2; exit 1; }
  fresh_ns
  timed nft in_ns nft -f "$T/equiv.nft"
  rules=$(in_ns nft -a list chain inet op_dbus input | grep -c 'dport')
  [ "$rules" -eq "$N" ] || { echo "nft -f made $rules rules, not $N" >&2; exit 1; }
  fresh_ns
  timed batch in_ns nft -j -f "$BATCH"
  rules=$(in_ns nft -a list chain inet op_dbus input | grep -c 'dport')
  [ "$rules" -eq "$N" ] || { echo "nft -j -f made $rules rules, not $N" >&2; exit 1; }
done

min() { printf '%s\n' "$@" | best; }
ratio() { python3 -c 'import sys; print("%.2f" % (int(sys.argv[1]) / max(int(sys.argv[2]), 1)))' "$1" "$2"; }
row() {  # row TASK OPDBUS_NAME NFT_NAME NFT_LABEL
  local ow oc nw nc
  eval "ow=\$(min \"\${${2}_wall[@]}\"); oc=\$(min \"\${${2}_cpu[@]}\")"
  eval "nw=\$(min \"\${${3}_wall[@]}\"); nc=\$(min \"\${${3}_cpu[@]}\")"
  echo "| $1 | $N | $ow ms | $nw ms ($4) | $(ratio "$ow" "$nw")x | $oc ms | $nc ms | $(ratio "$oc" "$nc")x |"
}
echo "LISTS=$LISTS (every LISTS-th rule with an anonymous two-network set; 0: none), best of $REPEATS;" \
  "load average at the start of each run: ${loads[*]}"
echo "| task | rules | op-dbus wall | nft wall | ratio | op-dbus CPU | nft CPU | ratio |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
row "apply (cold)" apply nft "nft -f"
row "its JSON batch alone (nft -j -f)" batch nft "nft -f"
row "no-op plan" noop list "nft -j list table"
row "no-op plan, nothing kept" cold list "nft -j list table"
