#!/usr/bin/env bash
# `op-dbus sandbox` end to end: the cached image, booting a real systemd in its own network namespace, --exec
# exit codes, --bind-ro, --json, --keep, cleanup after SIGTERM, fail-fast on an invalid state, and the default
# validate -> plan -> apply -> plan run on an example that has a systemd section.
# usage: run.sh OPDBUS SRCDIR        (prints TAP; needs root, debootstrap and systemd-nspawn)
set -u
OPDBUS=$1
SRC=$2

if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for tool in debootstrap systemd-nspawn nsenter python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "1..0 # SKIP $tool is not installed (scripts/install-deps.sh)"
    exit 0
  fi
done

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
TAP_CHECK_OUT=$T/check
# sb NAME WANT_EXIT ARGS...: runs `op-dbus sandbox ARGS`, stdout in $T/out, stderr in $T/err.
sb() {
  local name=$1 want=$2
  shift 2
  "$OPDBUS" sandbox "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    ok "$name"
  else
    not_ok "$name" "exit $got, want $want" "stdout: $(tail -c 1500 "$T/out")" "stderr: $(tail -c 2500 "$T/err")"
  fi
}
run_dirs() { find /var/tmp -maxdepth 1 -name 'op-dbus-sandbox-*' 2>/dev/null | sort; }
run_dirs >"$T/dirs-before"

# The image: built once (a minute or two), then reused.
sb "--prepare builds or finds the cached image" 0 --prepare
IMAGE=$(tail -n 1 "$T/out")
check "--prepare prints the rootfs path" test -x "$IMAGE/lib/systemd/systemd"
check "the image is marked complete" test -e "$(dirname "$IMAGE")/.complete"

# --include: extra packages in an image of their own (apt-get in the chroot after debootstrap), names checked
# before anything is built so none can become an apt-get option.
sb "--include with an option-like name is refused" 1 --include=--allow-unauthenticated --prepare
check "...naming the value" grep -q 'allow-unauthenticated' "$T/err"
sb "--include with a space in the name is refused" 1 --include 'hello world' --prepare
check "...saying what a package name is" grep -q 'expected a Debian package name' "$T/err"
sb "--include openssh-server --prepare --json" 0 --include openssh-server --prepare --json
check "...lists it under include, with another key than the plain image" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["include"] == ["openssh-server"], d
assert d["image"] != sys.argv[2], d
' "$T/out" "$IMAGE"
INC_IMAGE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image"])' "$T/out")
check "...and the package is installed in that image" test -x "$INC_IMAGE/usr/sbin/sshd"
check "...but not in the plain one" test ! -e "$IMAGE/usr/sbin/sshd"
check "...and the build's policy-rc.d is gone" test ! -e "$INC_IMAGE/usr/sbin/policy-rc.d"
check "...and nothing stays mounted below it" bash -c "! grep -qF ' $(dirname "$INC_IMAGE")' /proc/self/mountinfo"

# (a) a real systemd boots to running (or degraded).
sb "--exec 'systemctl is-system-running' exits 0" 0 --exec 'systemctl is-system-running'
check "systemd inside says running or degraded" grep -qxE 'running|degraded' "$T/out"

# (b) the --exec exit status is op-dbus's, and later commands are skipped.
sb "--exec 'exit 7' exits 7" 7 --exec 'exit 7' --exec 'echo not reached'
check "commands after a failing one do not run" bash -c "! grep -q 'not reached' '$T/out'"
sb "several --exec commands all run" 0 --exec 'echo one' --exec 'echo two'
check "...in order" bash -c "printf 'one\ntwo\n' | cmp -s - '$T/out'"

# (c) its own network namespace: only lo, and none of the host's interfaces.
sb "--exec 'ip -o link'" 0 --exec 'ip -o link'
check "the container has only lo" bash -c "[ \$(wc -l <'$T/out') -eq 1 ] && grep -q '^1: lo:' '$T/out'"
HOST_IF=$(ip -o link | awk -F': ' '$2 != "lo" {sub(/@.*/, "", $2); print $2; exit}')
if [ -n "$HOST_IF" ]; then
  check "the host's $HOST_IF is not visible inside" bash -c "! grep -q ': $HOST_IF[:@]' '$T/out'"
else
  skip "the host's interfaces are not visible inside" "the host has no interface besides lo"
fi
sb "hostname inside" 0 --exec hostname
check "the container has its own hostname" bash -c "[ \"\$(cat '$T/out')\" != \"\$(hostname)\" ] && grep -q '^opdbus-' '$T/out'"

# op-dbus itself runs inside (its shared libraries are in the image), and the state is there.
sb "op-dbus runs inside the container" 0 --exec 'op-dbus --version'
check "...and prints its version" grep -q 'op-dbus' "$T/out"

# --bind-ro: visible inside, read-only.
mkdir -p "$T/share"
echo "from the host" >"$T/share/file"
sb "--bind-ro HOST:DEST is readable" 0 --bind-ro "$T/share:/mnt/share" --exec 'cat /mnt/share/file'
check "...with the host's content" grep -qx 'from the host' "$T/out"
sb "--bind-ro is read-only" 0 --bind-ro "$T/share:/mnt/share" --exec '! touch /mnt/share/new 2>/dev/null'
sb "--bind-ro HOST keeps the host path" 0 --bind-ro "$T/share" --exec "cat '$T/share/file'"
sb "--bind-ro of a missing path fails" 1 --bind-ro /nonexistent/op-dbus-test --exec true
check "...naming the path" grep -q '/nonexistent/op-dbus-test' "$T/err"

# --json with --exec: a machine-readable verdict with each command's status and output.
sb "--json --exec" 3 --json --exec 'echo hi' --exec 'exit 3'
check "--json verdict is parseable and complete" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "fail" and d["exit_code"] == 3, d
assert [s["exit_code"] for s in d["steps"]] == [0, 3], d["steps"]
assert d["steps"][0]["output"] == "hi\n", d["steps"][0]
' "$T/out"

# (e) an invalid state fails on the host, before anything is built or booted.
echo '{"version": 1, "plugins": {"systemd": {"services": {"ssh": {"state": "enbled"}}}}}' >"$T/invalid.json"
sb "an invalid state fails with exit 1" 1 "$T/invalid.json"
check "...before any container is booted" bash -c "! grep -q booting '$T/err' && ! grep -q booting '$T/out'"
check "...with a FAIL verdict at validate" grep -q 'sandbox: FAIL at validate' "$T/out"
sb "a missing state file fails with exit 1" 1 "$T/missing.json"

# A state given with --exec is copied in and named by $OPDBUS_STATE.
echo '{"version": 1, "plugins": {}}' >"$T/empty.json"
sb "the state is copied to \$OPDBUS_STATE" 0 "$T/empty.json" --exec 'test "$OPDBUS_STATE" = /root/state.json && cat "$OPDBUS_STATE"'
check "...unchanged" cmp -s "$T/empty.json" "$T/out"

# --keep leaves it running and says how to enter and stop it; stopping it removes the run directory.
sb "--keep" 0 --keep --exec true
PID=$(sed -n 's/.*stop: *kill \([0-9]*\).*/\1/p' "$T/out")
LEADER=$(sed -n 's/.*enter: nsenter -t \([0-9]*\) -a.*/\1/p' "$T/out")
ROOT=$(sed -n 's/.*root: *//p' "$T/out")
if [ -n "$PID" ] && [ -n "$LEADER" ] && [ -n "$ROOT" ] && kill -0 "$PID" 2>/dev/null; then
  ok "--keep prints a live PID, the way in and the root"
  check "the kept container answers" bash -c "nsenter -t $LEADER -a systemctl is-system-running | grep -qE 'running|degraded'"
  kill "$PID"
  for _ in $(seq 1 100); do [ -d "$(dirname "$ROOT")" ] || break; sleep 0.2; done
  check "kill PID stops it and removes its run directory" bash -c "! kill -0 $PID 2>/dev/null && [ ! -d '$(dirname "$ROOT")' ]"
else
  not_ok "--keep prints a live PID, the way in and the root" "$(cat "$T/out")" "$(tail -c 1500 "$T/err")"
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
fi

# SIGTERM in the middle of a command: the container is stopped and everything removed.
"$OPDBUS" sandbox --exec 'sleep 300' >"$T/out" 2>"$T/err" &
SB_PID=$!
for _ in $(seq 1 300); do grep -q 'exec: sleep 300' "$T/err" && break; sleep 0.2; done
sleep 0.5
kill -TERM "$SB_PID"
wait "$SB_PID"
rc=$?
check "SIGTERM ends the run with 143" test "$rc" -eq 143
check "...after stopping the container" grep -q 'stopping opdbus-' "$T/err"

# Nothing is left behind: no run directory, and no mount below one, whose op-dbus and keeper are both gone.
# Sandboxes that others run at the same time have a live owner and are ignored.
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
finished() {  # finished DIR: true when neither the run's op-dbus nor its keeper is alive
  ! alive "$(awk '{print $1}' "$1/owner" 2>/dev/null)" && ! alive "$(awk '{print $1}' "$1/keeper" 2>/dev/null)"
}
leftover_dirs() { run_dirs | comm -13 "$T/dirs-before" - | while read -r d; do finished "$d" && echo "$d"; done; }
leftover_mounts() {
  awk '{print $5}' /proc/self/mountinfo | grep -oE '^/var/tmp/op-dbus-sandbox-[^/]+' | sort -u |
    while read -r d; do finished "$d" && echo "$d"; done
}
LEFT=$(leftover_dirs)
if [ -z "$LEFT" ]; then ok "no run directories are left in /var/tmp"; else not_ok "no run directories are left in /var/tmp" "$LEFT"; fi
LEFT=$(leftover_mounts)
if [ -z "$LEFT" ]; then ok "no sandbox mounts are left"; else not_ok "no sandbox mounts are left" "$LEFT"; fi

# (c2) --nat NAME: a veth pair and an nft table of the sandbox's own in the host, both gone afterwards on every
# way out (normal end, SIGTERM, op-dbus killed), ip_forward as it was; names are checked, and an interface of
# that name that exists already is refused and left alone.
FWD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
nat_gone() { ! nft list table ip "$1" >/dev/null 2>&1 && ! ip link show "$1" >/dev/null 2>&1; }
wait_for() { for _ in $(seq 1 "$1"); do if eval "$2"; then return 0; fi; sleep 1; done; return 1; }
sb "--nat with a bad name is refused" 1 --nat 'opdbus-pk/x' --exec true
check "...naming the option" grep -q -- "--nat" "$T/err"
sb "--nat: the container has eth0, a default route via the host and the host's resolv.conf" 0 \
  --nat opdbus-pk-sb --bind-ro /etc/resolv.conf:/mnt/host-resolv.conf \
  --exec 'ip -4 addr show eth0 | grep -q "inet 172\.31\." && ip route | grep -q "^default via 172\.31\." && cmp /etc/resolv.conf /mnt/host-resolv.conf'
check "...its nft table and veth are gone afterwards" nat_gone opdbus-pk-sb
is "...ip_forward is as it was" "$FWD_BEFORE" cat /proc/sys/net/ipv4/ip_forward
ip link add opdbus-pk-sb2 type veth peer name opdbus-pk-sb2p  # (no dummy module on every kernel)
sb "--nat with a name a host interface has is refused" 1 --nat opdbus-pk-sb2 --exec true
check "...saying so" grep -q "already has a network interface" "$T/err"
check "...and that interface is left alone" ip link show opdbus-pk-sb2
ip link del opdbus-pk-sb2 2>/dev/null
# SIGTERM to op-dbus while the container runs
"$OPDBUS" sandbox --nat opdbus-pk-sb3 --exec 'sleep 120' >"$T/out" 2>"$T/err" &
SB_PID=$!
if wait_for 90 "nft list table ip opdbus-pk-sb3 >/dev/null 2>&1"; then
  ok "--nat: the host has the table 'ip opdbus-pk-sb3' while it runs"
  check "...masquerading for the container's /30" bash -c "nft list table ip opdbus-pk-sb3 | grep -q 'ip saddr 172.31.*masquerade'"
  is "...and ip_forward on" 1 cat /proc/sys/net/ipv4/ip_forward
else
  not_ok "--nat: the host has the table 'ip opdbus-pk-sb3' while it runs" "$(cat "$T/err")"
fi
kill -TERM "$SB_PID"
wait "$SB_PID"
check "--nat: after SIGTERM the table and the veth are gone" nat_gone opdbus-pk-sb3
is "...ip_forward is as it was" "$FWD_BEFORE" cat /proc/sys/net/ipv4/ip_forward
# op-dbus itself killed: its keeper undoes it once the container has stopped
"$OPDBUS" sandbox --nat opdbus-pk-sb4 --exec 'sleep 120' >"$T/out" 2>"$T/err" &
SB_PID=$!
if wait_for 90 "nft list table ip opdbus-pk-sb4 >/dev/null 2>&1"; then
  kill -KILL "$SB_PID"
  wait "$SB_PID" 2>/dev/null
  if wait_for 60 "nat_gone opdbus-pk-sb4"; then
    ok "--nat: op-dbus killed (SIGKILL), its keeper removes the table and the veth"
  else
    not_ok "--nat: op-dbus killed (SIGKILL), its keeper removes the table and the veth" "$(nft list table ip opdbus-pk-sb4 2>&1)"
  fi
  if wait_for 30 "[ \"\$(cat /proc/sys/net/ipv4/ip_forward)\" = $FWD_BEFORE ]"; then
    ok "...and ip_forward is as it was"
  else
    not_ok "...and ip_forward is as it was" "$(cat /proc/sys/net/ipv4/ip_forward)"
  fi
else
  kill -TERM "$SB_PID" 2>/dev/null
  wait "$SB_PID" 2>/dev/null
  not_ok "--nat: the host has the table 'ip opdbus-pk-sb4' while it runs" "$(cat "$T/err")"
fi

# (d) the default run on an example with a systemd section: validate, plan, apply, and an empty second plan.
EXAMPLE=""
for f in "$SRC"/examples/*.json; do
  [ -e "$f" ] || continue
  if python3 -c 'import json,sys; sys.exit(0 if "systemd" in json.load(open(sys.argv[1])).get("plugins", {}) else 1)' "$f" 2>/dev/null; then
    EXAMPLE=$f
    break
  fi
done
if [ -z "$EXAMPLE" ]; then
  skip "the default run passes on an example" "no example in $SRC/examples has a systemd section"
else
  sb "the default run passes on $(basename "$EXAMPLE")" 0 "$EXAMPLE"
  check "...with a PASS verdict" grep -q 'sandbox: PASS' "$T/out"
  sb "the default run with --json" 0 --json "$EXAMPLE"
  check "...gives a pass verdict with four steps" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "pass", d
assert [s["name"] for s in d["steps"]] == ["validate", "plan", "apply", "plan again"], d["steps"]
assert d["steps"][-1]["exit_code"] == 0
' "$T/out"
fi

tap_done
