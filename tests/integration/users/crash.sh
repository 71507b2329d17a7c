#!/usr/bin/env bash
# Crash safety of the users plugin (prints TAP). Offline, into a --root tree: what is tested is the kill -9
# in the middle of an apply that changes many accounts, not the live system (the same code edits both).
# An apply creating USERS_CRASH_N accounts (default 2000) in 100 groups is killed with SIGKILL at a random
# moment, TRIES times over (each try continues where the last was killed); after each kill, once
# /etc/.pwd.lock is free (the commit child of a killed op-dbus holds it until its renames are done),
# `pwck -r -R` / `grpck -r -R` report nothing. Then the apply runs to the end, a second plan is empty and no temporary file
# is left in /etc; the same again while removing every account (--allow-destructive). Needs root (pwck/grpck -R chroot) and the
# shadow tools; skips itself otherwise.
# usage: crash.sh OPDBUS [TRIES]
set -u
OPDBUS=$(readlink -f "$1")
TRIES=${2:-6}
N=${USERS_CRASH_N:-2000}
T=$(mktemp -d /tmp/users-crash-XXXXXX)
APPLY_PID=
trap '[ -n "$APPLY_PID" ] && kill -9 "$APPLY_PID" 2>/dev/null; rm -rf "$T"' EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out

[ "$(id -u)" -eq 0 ] || tap_skip_all "needs root (pwck -R and grpck -R chroot into the tree)"
for tool in pwck grpck python3; do
  command -v "$tool" >/dev/null || tap_skip_all "$tool is not installed"
done

R=$T/root
mkdir -p "$R/etc/skel" "$R/bin" "$R/root" "$R/home" "$R/srv/crash"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$R/etc/passwd"
printf 'root:*:19000:0:99999:7:::\n' >"$R/etc/shadow"
printf 'root:x:0:\nusers:x:100:\n' >"$R/etc/group"
printf 'root:*::\nusers:*::\n' >"$R/etc/gshadow"
chmod 0640 "$R/etc/shadow" "$R/etc/gshadow"
cp /etc/login.defs "$R/etc/login.defs"
cp /bin/bash /bin/sh "$R/bin/"

# N accounts in 100 groups (each account in two of them), with homes for every tenth; then all absent.
python3 - "$N" "$T" <<'EOF'
import json, sys
n, t = int(sys.argv[1]), sys.argv[2]
groups = {"crash-g%03d" % i: {"gid": 20000 + i} for i in range(100)}
accounts = {}
for i in range(n):
    accounts["crash-u%05d" % i] = {
        "uid": 30000 + i, "shell": "/bin/sh", "comment": "crash test %d" % i,
        "groups": ["crash-g%03d" % (i % 100), "crash-g%03d" % ((i * 7 + 3) % 100)],
        "create_home": i % 10 == 0}
    if i % 10:  # pwck wants every home to exist: the others share one
        accounts["crash-u%05d" % i]["home"] = "/srv/crash"
json.dump({"version": 1, "plugins": {"users": {"groups": groups, "accounts": accounts}}}, open(t + "/many.json", "w"))
gone = {name: {"state": "absent"} for name in accounts}
json.dump({"version": 1, "plugins": {"users": {"accounts": gone,
           "groups": {g: {"state": "absent"} for g in groups}}}}, open(t + "/none.json", "w"))
EOF

count() { grep -c '^crash-u' "$R/etc/passwd"; }

# databases_clean NAME: pwck/grpck in read-only mode print nothing and exit 0; no op-dbus temporary is left
# where a database belongs.
databases_clean() {
  local out
  # The renames of one edit are finished by op-dbus's child even after the kill; it holds /etc/.pwd.lock
  # until they are done. Wait for the lock as the shadow tools would (pwck -r itself does not lock).
  timeout 15 python3 -c '
import fcntl, sys
f = open(sys.argv[1], "a")
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    print("# the lock was still held (the commit child was renaming); waiting for it")
    fcntl.lockf(f, fcntl.LOCK_EX)' "$R/etc/.pwd.lock"
  out=$(pwck -r -R "$R" 2>&1; echo "pwck exit $?"; grpck -r -R "$R" 2>&1; echo "grpck exit $?")
  if [ "$out" = $'pwck exit 0\ngrpck exit 0' ]; then ok "$1"; else not_ok "$1" "$out"; fi
}

# crash_loop DOC WHAT GOAL ARGS...: TRIES applies of DOC, each killed with SIGKILL at a random moment while
# it changes accounts: a random number of accounts between where it starts and GOAL is drawn, the count in
# /etc/passwd is watched until it gets there, and the kill follows after a further random 0-30 ms (so it
# lands anywhere in an action, also between the renames of the four files). Each try continues where the
# last one was killed.
crash_loop() {
  local doc=$1 what=$2 goal=$3 midway=0 i before target after c
  shift 3
  for i in $(seq 1 "$TRIES"); do
    before=$(count)
    target=$(python3 -c "
import random
b, g, left = $before, $goal, $TRIES - $i + 1
rem = abs(g - b)
step = random.randint(1, max(1, min(rem - 1, 2 * rem // left)))
print(b + step if g > b else b - step)")
    "$OPDBUS" apply --root "$R" "$@" "$doc" >"$T/apply.out" 2>&1 &
    APPLY_PID=$!
    while kill -0 "$APPLY_PID" 2>/dev/null; do
      c=$(count)
      if { [ "$goal" -gt "$before" ] && [ "$c" -ge "$target" ]; } || { [ "$goal" -lt "$before" ] && [ "$c" -le "$target" ]; }; then
        sleep "0.0$(( RANDOM % 30 + 10 ))" 2>/dev/null
        break
      fi
      sleep 0.01
    done
    kill -9 "$APPLY_PID" 2>/dev/null
    wait "$APPLY_PID" 2>/dev/null
    APPLY_PID=
    after=$(count)
    echo "# $what: try $i killed at $after accounts (from $before, drawn $target, goal $goal)"
    [ "$after" != "$before" ] && [ "$after" != "$goal" ] && midway=$((midway + 1))
    databases_clean "$what: after kill -9 number $i, pwck -r and grpck -r report nothing"
  done
  # A kill that did not land while accounts were changing would prove nothing.
  if [ "$midway" -eq "$TRIES" ]; then ok "$what: all $TRIES kills landed while accounts were changing"; else
    not_ok "$what: only $midway of $TRIES kills landed while accounts were changing"
  fi
}

crash_loop "$T/many.json" "create $N accounts" "$N"
expect "the apply then runs to the end" 0 "$OPDBUS" apply --root "$R" "$T/many.json"
is "every account is there" "$N" count
databases_clean "pwck -r and grpck -r report nothing after the full apply"
expect "and a second plan is empty" 0 "$OPDBUS" plan --root "$R" "$T/many.json"
is "no temporary file is left in /etc" "" sh -c "ls -a '$R/etc' | grep -E '[+]\$|op-dbus-tmp'"

crash_loop "$T/none.json" "remove $N accounts" 0 --allow-destructive
expect "the removal then runs to the end" 0 "$OPDBUS" apply --root "$R" --allow-destructive "$T/none.json"
is "no account is left" "0" count
databases_clean "pwck -r and grpck -r report nothing after the full removal"
expect "and a second plan is empty" 0 "$OPDBUS" plan --root "$R" "$T/none.json"

tap_done
