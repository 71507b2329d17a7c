#!/usr/bin/env bash
# Fault and confinement tests of the apply lock and the journal, end to end with the built op-dbus on --root
# trees and the offline systemd plugin (no container, no running systemd):
#   - kill -9 at random points of an apply: re-apply converges and the journal tells the truth (every entry
#     it holds happened; at most the action under way is missing; `log verify` says intact or reports a break)
#   - SIGTERM / SIGINT mid-apply: exit 1, the journal says interrupted, re-apply converges, verify intact
#   - damaged journals (last line cut, tail and head deleted, head size edited) are never silently repaired
#   - the lock: per tree, parallel trees, live vs tree, planted symlink, foreign owner
#   - var/lib/op-dbus as a symlink out of the tree: the journal lands where a chroot would put it
#   - show --root names the tree's hostname; size limits name the file and the pointer
# usage: run.sh OPDBUS [N_UNITS] [KILL_POINTS]          (prints TAP)
set -u
OPDBUS=$1
N=${2:-400}
KILLS=${3:-4}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# The live lock of this test (never the host's /run/op-dbus).
mkdir -m 0700 "$T/run"
export OPDBUS_LOCK_FILE=$T/run/apply.lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
checksum() { (cd "$1" && find . -printf '%p %l %s %m\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort); }
enabled() { find "$1/etc/systemd/system/multi-user.target.wants" -name 'bench*.service' 2>/dev/null | wc -l; }

# ---- the base tree: N packaged units to enable (built once, copied per case)
B=$T/base
mkdir -p "$B/lib/systemd/system" "$B/etc/systemd/system"
for i in $(seq 1 "$N"); do
  printf '[Unit]\nDescription=bench %s\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' "$i" \
    >"$B/lib/systemd/system/bench$i.service"
done
{
  printf '{"version": 1, "plugins": {"systemd": {"services": {'
  for i in $(seq 1 "$N"); do printf '%s"bench%s": {"state": "enabled"}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done
  printf '}}}}\n'
} >"$T/state.json"
fresh() { rm -rf "$1" && cp -a "$B" "$1"; }

# The journal as JSON lines -> "seq result op resource" per entry, via op-dbus log --json.
journal_summary() { "$OPDBUS" log --json --root "$1" | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    print(e["seq"], e["result"], e["op"], e["resource"])'; }

# Every "ok" entry of the journal names a unit that really is enabled; at most one enabled unit (the action
# under way when the process died) has no entry.
journal_tells_truth() {  # journal_tells_truth ROOT
  local root=$1 journaled actual missing
  journal_summary "$root" >"$T/summary" || return 1
  journaled=$(awk '$2 == "ok" && $4 ~ /^systemd\/services\/bench/ {print $4}' "$T/summary" | sort -u)
  for r in $journaled; do
    [ -L "$root/etc/systemd/system/multi-user.target.wants/${r##*/}.service" ] || {
      echo "journal says $r was enabled, the tree disagrees"
      return 1
    }
  done
  actual=$(enabled "$root")
  missing=$((actual - $(printf '%s\n' $journaled | grep -c .)))
  if [ "$missing" -gt 1 ]; then
    echo "$missing enabled units have no journal entry"
    return 1
  fi
}

# ---- kill -9 at random points
for k in $(seq 1 "$KILLS"); do
  R=$T/kill$k
  fresh "$R"
  # Random points spread over the actions: once a random share of the units (in this kill's slice of
  # 5%..95%) is enabled; the last kill lands after the actions, in the verification.
  if [ "$k" -lt "$KILLS" ] || [ "$KILLS" -eq 1 ]; then
    slices=$((KILLS > 1 ? KILLS - 1 : 1))
    target=$(((N * (5 + (k - 1) * 90 / slices + RANDOM % (90 / slices + 1))) / 100))
  else
    target=$N
  fi
  "$OPDBUS" -q apply --root "$R" "$T/state.json" >/dev/null 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$(enabled "$R")" -lt "$target" ]; do sleep 0.005; done
  [ "$target" -eq "$N" ] && sleep "0.0$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  done_before=$(enabled "$R")
  echo "# kill -9 once $target units were enabled: $done_before of $N enabled when it died"
  if out=$(journal_tells_truth "$R" 2>&1); then
    ok "kill -9 #$k: every journal entry happened, at most the action under way is missing"
  else
    not_ok "kill -9 #$k: every journal entry happened, at most the action under way is missing" "$out"
  fi
  expect "kill -9 #$k: re-apply converges" 0 "$OPDBUS" -q apply --root "$R" "$T/state.json"
  expect "kill -9 #$k: the plan is then empty" 0 "$OPDBUS" plan --root "$R" "$T/state.json"
  "$OPDBUS" log verify --root "$R" >"$T/out" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ] && grep -q ": intact (" "$T/out"; then
    ok "kill -9 #$k: log verify says intact"
  elif [ "$rc" -eq 1 ] && grep -q "break recorded at entry" "$T/out"; then
    ok "kill -9 #$k: log verify reports the break the re-apply recorded"
  else
    not_ok "kill -9 #$k: log verify tells the truth" "exit $rc" "$(cat "$T/out")"
  fi
  if ls "$R/var/lib/op-dbus" | grep -q 'op-dbus-tmp'; then
    not_ok "kill -9 #$k: no temporary files left in the journal directory" "$(ls -la "$R/var/lib/op-dbus")"
  else
    ok "kill -9 #$k: no temporary files left in the journal directory"
  fi
  # What the killed run left half-written in the unit directories, the re-apply removed (the systemd plugin
  # cleans the temporaries of dead writers before it applies).
  left=$(find "$R/etc/systemd" -name '*.op-dbus-tmp-*' | head -3)
  if [ -n "$left" ]; then
    not_ok "kill -9 #$k: no temporary files left under etc/systemd after the re-apply" "$left"
  else
    ok "kill -9 #$k: no temporary files left under etc/systemd after the re-apply"
  fi
  left=$(find "$R" -name '*.op-dbus-tmp-*' -not -path "$R/etc/systemd/*" -not -path "$R/var/lib/op-dbus/*" | head -3)
  [ -n "$left" ] && echo "# note: temporaries left by the killed run elsewhere: $left"
done

# A temporary file of a killed writer in the journal directory is removed by the next run.
R=$T/temps
fresh "$R"
mkdir -p -m 0700 "$R/var/lib/op-dbus"
echo partial >"$R/var/lib/op-dbus/journal.head.op-dbus-tmp-99999999"
expect "apply after a killed writer exits 0" 0 "$OPDBUS" -q apply --root "$R" "$T/state.json"
if [ -e "$R/var/lib/op-dbus/journal.head.op-dbus-tmp-99999999" ]; then
  not_ok "the killed writer's temporary file was removed"
else
  ok "the killed writer's temporary file was removed"
fi

# The same in the unit directories: the temporaries of a killed apply (a unit file, an enablement link, a
# drop-in) go with the next apply, never with a plan; a running writer's stay.
R=$T/unit-temps
fresh "$R"
W=$R/etc/systemd/system
mkdir -p "$W/multi-user.target.wants" "$W/bench1.service.d"
echo partial >"$W/app.service.op-dbus-tmp-99999999"
ln -s /lib/systemd/system/bench1.service "$W/multi-user.target.wants/bench1.service.op-dbus-tmp-99999999"
echo partial >"$W/bench1.service.d/override.conf.op-dbus-tmp-99999999"
echo running >"$W/other.service.op-dbus-tmp-$$"
stale=$(find "$W" -name '*.op-dbus-tmp-99999999' | LC_ALL=C sort)
"$OPDBUS" plan --root "$R" "$T/state.json" >/dev/null 2>&1
if [ "$(find "$W" -name '*.op-dbus-tmp-99999999' | LC_ALL=C sort)" = "$stale" ] && [ "$(echo "$stale" | wc -l)" -eq 3 ]; then
  ok "plan --root leaves a killed apply's temporaries under etc/systemd alone"
else
  not_ok "plan --root leaves a killed apply's temporaries under etc/systemd alone" "$(find "$W" -name '*.op-dbus-tmp-*')"
fi
expect "apply after a killed apply's unit temporaries exits 0" 0 "$OPDBUS" -q apply --root "$R" "$T/state.json"
left=$(find "$W" -name '*.op-dbus-tmp-99999999')
if [ -z "$left" ]; then
  ok "the killed apply's temporaries under etc/systemd were removed"
else
  not_ok "the killed apply's temporaries under etc/systemd were removed" "$left"
fi
if [ -e "$W/other.service.op-dbus-tmp-$$" ]; then
  ok "a temporary of a writer that still runs was kept"
else
  not_ok "a temporary of a writer that still runs was kept"
fi

# ---- SIGTERM and SIGINT in the middle of an apply
# A tree large enough that the apply lasts seconds: the process is stopped (SIGSTOP) once a tenth is done, the
# signal is queued, and it runs on (SIGCONT) to meet it between two actions. No race with a fast apply.
NS=$((N * 50))
BS=$T/base-signals
mkdir -p "$BS/lib/systemd/system" "$BS/etc/systemd/system"
for i in $(seq 1 "$NS"); do
  printf '[Unit]\nDescription=bench %s\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' "$i" \
    >"$BS/lib/systemd/system/bench$i.service"
done
{
  printf '{"version": 1, "plugins": {"systemd": {"services": {'
  for i in $(seq 1 "$NS"); do printf '%s"bench%s": {"state": "enabled"}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done
  printf '}}}}\n'
} >"$T/signals.json"
for sig in TERM INT; do
  R=$T/sig$sig
  rm -rf "$R" && cp -a "$BS" "$R"
  "$OPDBUS" apply --root "$R" "$T/signals.json" >"$T/sig.out" 2>&1 &
  pid=$!
  for _ in $(seq 1 6000); do
    [ "$(enabled "$R")" -ge $((NS / 10)) ] && break
    sleep 0.01
  done
  kill -STOP "$pid"
  kill -"$sig" "$pid"
  kill -CONT "$pid"
  wait "$pid"
  rc=$?
  cp "$T/sig.out" "$T/out"
  if [ "$rc" -eq 1 ]; then ok "SIG$sig: apply exits 1"; else not_ok "SIG$sig: apply exits 1" "exit $rc" "$(cat "$T/out")"; fi
  contains "SIG$sig: ... saying it was interrupted" "interrupted by SIG$sig after"
  journal_summary "$R" >"$T/out"
  if tail -n 1 "$T/out" | grep -q "interrupted interrupt systemd"; then
    ok "SIG$sig: the journal's last entry records the interruption"
  else
    not_ok "SIG$sig: the journal's last entry records the interruption" "$(tail -n 3 "$T/out")"
  fi
  "$OPDBUS" log --root "$R" | tail -n 1 >"$T/out"
  contains "SIG$sig: ... and says the actions done stay done (no checkpoint offline)" "the actions done stay done"
  partial=$(enabled "$R")
  if [ "$partial" -gt 0 ] && [ "$partial" -lt "$NS" ]; then
    ok "SIG$sig: it stopped part way ($partial of $NS)"
  else
    not_ok "SIG$sig: it stopped part way" "$partial of $NS enabled"
  fi
  expect "SIG$sig: log verify says intact" 0 "$OPDBUS" log verify --root "$R"
  expect "SIG$sig: re-apply converges" 0 "$OPDBUS" -q apply --root "$R" "$T/signals.json"
  expect "SIG$sig: the plan is then empty" 0 "$OPDBUS" plan --root "$R" "$T/signals.json"
done

# ---- damaged journals are never silently repaired
small() {  # small ROOT: a tree with 5 units, applied
  rm -rf "$1"
  mkdir -p "$1/lib/systemd/system" "$1/etc/systemd/system"
  cp "$B"/lib/systemd/system/bench[1-5].service "$1/lib/systemd/system/"
  printf '{"version": 1, "plugins": {"systemd": {"services": {"bench1": {"state": "enabled"}, "bench2": {"state": "enabled"}, "bench3": {"state": "enabled"}, "bench4": {"state": "enabled"}, "bench5": {"state": "enabled"}}}}}\n' \
    >"$T/small.json"
  "$OPDBUS" -q apply --root "$1" "$T/small.json" >/dev/null
  printf '{"version": 1, "plugins": {"systemd": {"services": {"bench1": {"state": "disabled"}}}}}\n' >"$T/disable1.json"
}
R=$T/cut
small "$R"
J=$R/var/lib/op-dbus/journal.jsonl
truncate -s -30 "$J"
expect "a cut last line: the next apply still runs" 0 "$OPDBUS" apply --root "$R" "$T/disable1.json"
contains "... and says the journal was damaged, naming log verify" "was damaged"
if python3 -c 'import sys
lines = open(sys.argv[1]).read().split("\n")
import json
json.loads(lines[5]); json.loads(lines[6])' "$J" 2>/dev/null && [ "$(wc -l <"$J")" -eq 7 ]; then
  ok "... its entries are on lines of their own, not glued onto the fragment"
else
  not_ok "... its entries are on lines of their own, not glued onto the fragment" "$(cat "$J")"
fi
expect "... log verify exits 1" 1 "$OPDBUS" log verify --root "$R"
contains "... reporting the cut entry" "entry 5 was altered: line 5 is not a journal entry"
contains "... and the break" "break recorded at entry 6"
"$OPDBUS" log verify --json --root "$R" >"$T/out" 2>&1
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert not d["intact"] and len(d["problems"]) == 2' "$T/out"; then
  ok "... log verify --json lists both problems"
else
  not_ok "... log verify --json lists both problems" "$(cat "$T/out")"
fi
expect "... log still lists the journal" 0 "$OPDBUS" log --root "$R"
expect "... a later clean apply does not make the break go away" 0 "$OPDBUS" -q apply --root "$R" "$T/small.json"
expect "... log verify still exits 1" 1 "$OPDBUS" log verify --root "$R"
contains "... still reporting the break" "break recorded at entry 6"

R=$T/tail
small "$R"
J=$R/var/lib/op-dbus/journal.jsonl
head -n 2 "$J" >"$J.new" && mv "$J.new" "$J"
rm "$R/var/lib/op-dbus/journal.head"
expect "last three entries and the head deleted: apply runs" 0 "$OPDBUS" -q apply --root "$R" "$T/disable1.json"
expect "... log verify does not say intact" 1 "$OPDBUS" log verify --root "$R"
contains "... it reports the missing head as a break" "journal.head is missing"

R=$T/headsize
small "$R"
H=$R/var/lib/op-dbus/journal.head
python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); h["size"]-=7; open(sys.argv[1],"w").write(json.dumps(h,separators=(",",":"))+"\n")' "$H"
expect "only the size field of journal.head edited: log verify exits 1" 1 "$OPDBUS" log verify --root "$R"
contains "... naming journal.head" "journal.head was altered"

# ---- the lock
R=$T/lockA
small "$R"
S=$T/lockB
small "$S"
"$OPDBUS" -q apply --root "$R" "$T/disable1.json" >"$T/a.out" 2>&1 &
pa=$!
"$OPDBUS" -q apply --root "$S" "$T/disable1.json" >"$T/b.out" 2>&1 &
pb=$!
wait $pa
ra=$?
wait $pb
rb=$?
if [ $ra -eq 0 ] && [ $rb -eq 0 ]; then
  ok "two trees apply in parallel"
else
  not_ok "two trees apply in parallel" "exits $ra $rb" "$(cat "$T/a.out" "$T/b.out")"
fi
exec 8<>"$OPDBUS_LOCK_FILE"
flock -n 8
expect "an offline apply runs while the live lock is held" 0 "$OPDBUS" -q apply --root "$R" "$T/small.json"
exec 8>&-
exec 9<"$R/var/lib/op-dbus/apply.lock"
flock -n 9
expect "an apply on a tree whose lock is held exits 1" 1 "$OPDBUS" apply --root "$R" "$T/small.json"
contains "... naming the holder" "another op-dbus apply is running"
exec 9>&-
echo "precious" >"$T/victim"
rm "$R/var/lib/op-dbus/apply.lock"
ln -s "$T/victim" "$R/var/lib/op-dbus/apply.lock"
expect "a symlink planted at the tree's lock path is refused" 1 "$OPDBUS" apply --root "$R" "$T/small.json"
contains "... saying what it is" "is a symbolic link"
if [ "$(cat "$T/victim")" = precious ]; then ok "... its target untouched"; else not_ok "... its target untouched"; fi
rm "$R/var/lib/op-dbus/apply.lock"
if [ "$(id -u)" -eq 0 ]; then
  touch "$R/var/lib/op-dbus/apply.lock"
  chown 12345:12345 "$R/var/lib/op-dbus/apply.lock"
  expect "a lock file of another user is refused" 1 "$OPDBUS" apply --root "$R" "$T/small.json"
  contains "... naming its owner" "belongs to uid 12345"
  rm "$R/var/lib/op-dbus/apply.lock"
else
  n=$((n + 1))
  echo "ok $n - a lock file of another user is refused # SKIP chown to another user needs root"
fi
expect "with the foreign file gone, apply runs" 0 "$OPDBUS" -q apply --root "$R" "$T/small.json"

# ---- var/lib/op-dbus as a symlink out of the tree
O=$T/outside
mkdir -p "$O"
echo "outside data" >"$O/keep"
sum_before=$(checksum "$O")
R=$T/escape
rm -rf "$R"
mkdir -p "$R/lib/systemd/system" "$R/etc/systemd/system" "$R/var/lib" "$R$O"
cp "$B/lib/systemd/system/bench1.service" "$R/lib/systemd/system/"
ln -s "$O" "$R/var/lib/op-dbus"
printf '{"version": 1, "plugins": {"systemd": {"services": {"bench1": {"state": "enabled"}}}}}\n' >"$T/one.json"
expect "apply with var/lib/op-dbus pointing out of the tree (absolute)" 0 "$OPDBUS" -q apply --root "$R" "$T/one.json"
if [ "$(checksum "$O")" = "$sum_before" ]; then ok "... nothing outside the tree changed"; else
  not_ok "... nothing outside the tree changed" "$(ls -la "$O")"; fi
if [ -f "$R$O/journal.jsonl" ] && [ -f "$R$O/journal.head" ] && [ -f "$R$O/apply.lock" ]; then
  ok "... journal and lock are where a chroot puts them (DIR$O)"
else
  not_ok "... journal and lock are where a chroot puts them (DIR$O)" "$(find "$R" -path '*op-dbus*')"
fi
expect "... log verify reads it there" 0 "$OPDBUS" log verify --root "$R"
R2=$T/escape-rel
rm -rf "$R2"
mkdir -p "$R2/lib/systemd/system" "$R2/etc/systemd/system" "$R2/var/lib" "$R2/outside"
cp "$B/lib/systemd/system/bench1.service" "$R2/lib/systemd/system/"
ln -s ../../../../../../../../../outside "$R2/var/lib/op-dbus"
expect "apply with var/lib/op-dbus pointing out of the tree (relative, climbing)" 0 \
  "$OPDBUS" -q apply --root "$R2" "$T/one.json"
if [ "$(checksum "$O")" = "$sum_before" ] && [ -f "$R2/outside/journal.jsonl" ]; then
  ok "... the journal is in DIR/outside, nothing outside changed"
else
  not_ok "... the journal is in DIR/outside, nothing outside changed" "$(find "$R2" -path '*outside*')"
fi

# ---- show --root names the tree
R=$T/named
mkdir -p "$R/etc/systemd/system"
printf '# comment\ntree-host\n' >"$R/etc/hostname"
"$OPDBUS" show --root "$R" --plugin systemd >"$T/out" 2>&1
if python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["metadata"]["name"] == "tree-host"' "$T/out"; then
  ok "show --root puts DIR/etc/hostname in metadata.name"
else
  not_ok "show --root puts DIR/etc/hostname in metadata.name" "$(head -c 600 "$T/out")"
fi
rm "$R/etc/hostname"
"$OPDBUS" show --root "$R" --plugin systemd >"$T/out" 2>&1
if python3 -c 'import json,sys; assert "name" not in json.load(open(sys.argv[1]))["metadata"]' "$T/out"; then
  ok "show --root of a tree without a hostname names no host (not the running one)"
else
  not_ok "show --root of a tree without a hostname names no host" "$(head -c 600 "$T/out")"
fi

# ---- size limits
python3 -c 'import json; json.dump({"version": 1, "metadata": {"tags": ["a", "x" * 2048]}}, open("'"$T"'/long.json", "w"))'
expect "a value over --max-value-size is refused" 1 "$OPDBUS" validate --max-value-size 1K "$T/long.json"
contains "... naming the file and the pointer" "$T/long.json:1:"
contains "... the pointer" "/metadata/tags/1: a string of 2048 bytes is longer than the limit of 1 KiB"
expect "... accepted under a larger limit" 0 "$OPDBUS" validate --max-value-size 4K "$T/long.json"
expect "a document over --max-document-size is refused" 1 "$OPDBUS" validate --max-document-size 1K "$T/long.json"
contains "... naming the file and the flag" "cannot read $T/long.json: larger than 1 KiB (--max-document-size)"
expect "a bad size is a usage error" 1 "$OPDBUS" validate --max-value-size 12X "$T/long.json"
contains "... saying why" "'12X' is not a size"

# plan --json of a 20 MB unit: refused under the default value limit, complete under a larger one (the output
# is streamed; the peak memory is printed for the record, it is reached while planning, not while printing).
python3 -c '
import json
content = "[Unit]\nDescription=big\n" + ("# " + "x" * 97 + "\n") * 200000
json.dump({"version": 1, "plugins": {"systemd": {"custom_units": {"big.service": {"content": content}}}}}, open("'"$T"'/big.json", "w"))'
mkdir -p "$T/bigroot/etc/systemd/system"
expect "a 20 MB unit file is over the default value limit" 1 "$OPDBUS" plan --json --root "$T/bigroot" "$T/big.json"
contains "... naming the pointer" "/plugins/systemd/custom_units/big.service/content: a string of"
env -u MALLOC_PERTURB_ /usr/bin/time -f '%M' -o "$T/rss" "$OPDBUS" plan --json --max-value-size 32M \
  --root "$T/bigroot" "$T/big.json" >"$T/big.out" 2>/dev/null
if python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert p["actions"][0]["changes"][0]["after"].startswith("[Unit]\nDescription=big\n# xxx")' "$T/big.out"; then
  ok "plan --json --max-value-size 32M of a 20 MB unit prints the whole plan"
else
  not_ok "plan --json --max-value-size 32M of a 20 MB unit prints the whole plan" "$(head -c 300 "$T/big.out")"
fi
echo "# plan --json of a $(($(stat -c %s "$T/big.json") / 1048576)) MB document: peak $(($(tail -n 1 "$T/rss") / 1024)) MB"

tap_done
