#!/usr/bin/env bash
# The journal at scale, end to end with the built op-dbus on --root trees (prints TAP):
#   - several writers at once, each holding a different apply lock (as live applies with their own
#     OPDBUS_LOCK_FILE do): one valid chain, every entry present, `log verify` intact
#   - a journal of a few hundred MB: `log verify`, `log`, `log --json` and an apply keep their peak memory far
#     below the file's size; lines over 64 MiB are reported as damaged without being loaded, and the apply
#     that finds them records a break of bounded size
# usage: run.sh OPDBUS JOURNAL_WRITER
set -u
OPDBUS=$1
WRITER=$2
T=$(mktemp -d /var/tmp/journal-scale.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -m 0700 "$T/run"
export OPDBUS_LOCK_FILE=$T/run/apply.lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out

# peak_kb OUTFILE CMD...: runs CMD (stdout+stderr to OUTFILE), prints its peak resident set in KiB; returns
# CMD's exit code.
peak_kb() {
  local out=$1 rc
  shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%M' -o "$T/peak" "$@" >"$out" 2>&1
    rc=$?
    tail -n 1 "$T/peak"
    return $rc
  fi
  "$@" >"$out" 2>&1 &
  local pid=$! max=0 v
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v
    sleep 0.05
  done
  wait "$pid"
  rc=$?
  echo "$max"
  return $rc
}

# ---- 1. concurrent writers with different apply locks --------------------------------------------------
R=$T/conc
mkdir -p "$R"
W=4 PER=300
pids=()
for w in $(seq 1 $W); do
  batch=$(( (w % 2) ? 1 : 7 ))  # single entries and batches interleave
  "$WRITER" "$R" "$T/run/lock-$w" "w$w" "$PER" "$batch" 2>"$T/w$w.err" &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
if [ $failed = 0 ]; then ok "$W writers with different apply locks all finished"; else
  not_ok "$W writers with different apply locks all finished" "$(cat "$T"/w*.err)"; fi
expect "log verify: the concurrent writers made one intact chain" 0 "$OPDBUS" log verify --root "$R"
contains "... with every entry ($((W * PER)))" "intact ($((W * PER)) entries)"
"$OPDBUS" log --root "$R" --json >"$T/log.json" 2>&1
check "every writer's every entry is there once, seqs 1..$((W * PER)) in order" python3 - "$T/log.json" "$W" "$PER" <<'PY'
import json, sys
entries = json.load(open(sys.argv[1]))
w, per = int(sys.argv[2]), int(sys.argv[3])
assert [e["seq"] for e in entries] == list(range(1, w * per + 1)), "seqs"
got = sorted(e["resource"] for e in entries)
want = sorted("test/writers/w%d-%d" % (i, n) for i in range(1, w + 1) for n in range(per))
assert got == want, "resources"
assert all(e["result"] == "ok" for e in entries), "results"
PY
check "the journal lock is beside the journal, a regular file" test -f "$R/var/lib/op-dbus/journal.lock" -a ! -L "$R/var/lib/op-dbus/journal.lock"

# ---- 2. memory stays bounded by a line, not the file ---------------------------------------------------
# A valid journal of ~300 MB: 300 entries of 1 MB (as an older op-dbus wrote them; a new one digests them).
B=$T/big
mkdir -p "$B/var/lib/op-dbus"
chmod 0700 "$B/var/lib/op-dbus"
python3 - "$B/var/lib/op-dbus" 300 $((1024 * 1024)) <<'PY'
import hashlib, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prev, total = "0" * 64, 0
blob = "x" * size
with open(d + "/journal.jsonl", "w") as f:
    for i in range(1, n + 1):
        line = ('{"seq":%d,"time":"2026-01-01T00:00:00Z","prev":"%s","run":"big","plugin":"test",'
                '"resource":"test/big/%d","op":"update","summary":"big %d","result":"ok",'
                '"changes":[{"path":"content","after":"%s"}]}' % (i, prev, i, i, blob))
        f.write(line + "\n")
        prev = hashlib.sha256(line.encode()).hexdigest()
        total += len(line) + 1
with open(d + "/journal.head", "w") as f:
    f.write('{"seq":%d,"hash":"%s","size":%d}\n' % (n, prev, total))
PY
size_kb=$(( $(stat -c %s "$B/var/lib/op-dbus/journal.jsonl") / 1024 ))
bound=$((size_kb / 4))
echo "# journal of $((size_kb / 1024)) MiB; peak memory bound $((bound / 1024)) MiB"
bounded() {  # bounded NAME WANT_RC CMD...
  local name=$1 want=$2 kb rc
  shift 2
  kb=$(peak_kb "$TAP_OUT" "$@")
  rc=$?
  if [ "$rc" = "$want" ] && [ "$kb" -lt "$bound" ]; then
    ok "$name (exit $rc, peak $((kb / 1024)) MiB)"
  else
    not_ok "$name (exit $rc, want $want; peak $((kb / 1024)) MiB, bound $((bound / 1024)) MiB)" "$(head -c 2000 "$TAP_OUT")"
  fi
}
bounded "log verify of a $((size_kb / 1024)) MiB journal" 0 "$OPDBUS" log verify --root "$B"
contains "... intact (300 entries)" "intact (300 entries)"
bounded "log of it" 0 "$OPDBUS" log --root "$B"
bounded "log --json of it" 0 "$OPDBUS" log --json --root "$B"
echo '{"version": 1, "plugins": {}}' >"$T/empty.json"
bounded "an apply appending to it (reads only the tail)" 0 "$OPDBUS" apply --root "$B" "$T/empty.json"
expect "still intact after the apply" 0 "$OPDBUS" log verify --root "$B"

# Damage: two lines over 64 MiB (not entries) and a cut head: the apply reads the whole file to record a break.
python3 - "$B/var/lib/op-dbus/journal.jsonl" <<'PY'
import sys
with open(sys.argv[1], "a") as f:
    for _ in range(2):
        f.write("y" * (70 * 1024 * 1024) + "\n")
PY
size_kb=$(( $(stat -c %s "$B/var/lib/op-dbus/journal.jsonl") / 1024 ))
bound=$((size_kb / 4))
echo "# damaged journal of $((size_kb / 1024)) MiB; peak memory bound $((bound / 1024)) MiB"
bounded "log verify of the damaged journal reports it" 1 "$OPDBUS" log verify --root "$B"
contains "... a line over 64 MiB is reported, not read" "over the 64 MiB an entry may take; not read"
bounded "an apply on the damaged journal records a break" 0 "$OPDBUS" apply --root "$B" "$T/empty.json"
contains "... and says so" "was damaged"
last=$(tail -n 1 "$B/var/lib/op-dbus/journal.jsonl")
check "the break entry is the last line, and small (${#last} bytes)" sh -c "printf '%s' '$(printf '%s' "$last" | head -c 200)' | grep -q '\"op\":\"break\"' && [ ${#last} -lt 16384 ]"
bounded "log of the damaged journal" 0 "$OPDBUS" log --root "$B"
bounded "log verify afterwards reports the damage and the break" 1 "$OPDBUS" log verify --root "$B"
contains "... the break" "break recorded at entry 301"

tap_done
exit
