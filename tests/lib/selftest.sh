#!/usr/bin/env bash
# Tests of the test harness itself, so a report can be trusted: the shell TAP helpers (tests/lib/tap.sh),
# SKIP in Catch2 cases (tests/unit/tap_skip.h), the fixture runner refusing a folder that is not a plugin,
# scripts/test_summary.py counting skips as skipped, and the layering (no native library headers outside
# src/sys/).
# usage: selftest.sh SRCDIR TAP_SKIP_SELFTEST_EXE FIXTURES_TEST_EXE        (prints TAP)
set -u
SRC=$(readlink -f "$1")
SKIP_EXE=$2
FIXTURES_EXE=$3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$SRC/tests/lib/tap.sh"
TAP_OUT=$T/out

# --- tests/lib/tap.sh -----------------------------------------------------------------------------------------
cat >"$T/inner.sh" <<INNER
. "$SRC/tests/lib/tap.sh"
TAP_OUT=$T/inner-out
ok "a"
check "b" true
check "c" false
expect "d" 3 sh -c 'echo hello; exit 3'
contains "e" "hello"
contains "f" "absent-text"
lacks "g" "absent-text"
skip "h" "no reason"
is "i" "x" echo x
tap_done
INNER
bash "$T/inner.sh" >"$T/inner.tap"
rc=$?
want='ok 1 - a
ok 2 - b
not ok 3 - c
ok 4 - d
ok 5 - e
not ok 6 - f
ok 7 - g
ok 8 - h # SKIP no reason
ok 9 - i
1..9'
got=$(grep -v '^#' "$T/inner.tap")
if [ "$got" = "$want" ]; then ok "tap.sh numbers, passes and fails cases"; else not_ok "tap.sh numbers, passes and fails cases" "$got"; fi
if [ "$rc" -eq 1 ]; then ok "tap_done exits 1 after a failure"; else not_ok "tap_done exits 1 after a failure" "exit $rc"; fi
if bash -c ". '$SRC/tests/lib/tap.sh'; ok x; skip y why; tap_done" >/dev/null; then
  ok "tap_done exits 0 when nothing failed"
else
  not_ok "tap_done exits 0 when nothing failed"
fi
expect "tap_skip_all skips the whole script" 0 bash -c ". '$SRC/tests/lib/tap.sh'; tap_skip_all 'needs a thing'; echo unreachable"
if [ "$(cat "$T/out")" = "1..0 # SKIP needs a thing" ]; then ok "... printing only the skip plan"; else not_ok "... printing only the skip plan" "$(cat "$T/out")"; fi

# --- SKIP in Catch2 cases ---------------------------------------------------------------------------------------
"$SKIP_EXE" -r tap-cases >"$T/out" 2>&1
rc=$?
contains "a passing case is ok" "ok 1 - passes"
contains "SKIP prints the TAP directive with the reason" "ok 2 - skips with a reason # SKIP tool-x is not installed"
contains "a failure before SKIP stays a failure" "not ok 3 - fails, then skips"
lacks "... without a SKIP directive on it" "not ok 3 - fails, then skips # SKIP"
if [ "$rc" -ne 0 ]; then ok "the failing case makes the program fail"; else not_ok "the failing case makes the program fail"; fi

# --- the fixture runner ------------------------------------------------------------------------------------------
mkdir -p "$T/src/tests/fixtures/user/some-case" "$T/src/tests/fixtures/systemd"
cp -r "$SRC/tests/fixtures/systemd/." "$T/src/tests/fixtures/systemd/"
OPDBUS_SOURCE_ROOT=$T/src "$FIXTURES_EXE" >"$T/out" 2>&1
rc=$?
contains "a fixture folder that is not a plugin is a failing case" "not ok 1 - user/"
if [ "$rc" -ne 0 ]; then ok "... and the runner fails"; else not_ok "... and the runner fails" "$(cat "$T/out")"; fi
rm -rf "$T/src/tests/fixtures/user"
expect "without it, the same tree passes" 0 env OPDBUS_SOURCE_ROOT="$T/src" "$FIXTURES_EXE"

# --- scripts/test_summary.py -------------------------------------------------------------------------------------
python3 - "$T/testlog.json" <<'PY'
import json, sys
entries = [
    {"name": "a", "result": "OK", "stdout": "ok 1 - x\nok 2 - y # SKIP no tool\nok 3 - z #skip lower\n1..3\n"},
    {"name": "b", "result": "FAIL", "stdout": "ok 1 - x\nnot ok 2 - y # SKIP not honest\n1..2\n"},
    {"name": "c", "result": "SKIP", "stdout": "1..0 # SKIP needs root\n"},
]
with open(sys.argv[1], "w") as f:
    for e in entries:
        f.write(json.dumps(e) + "\n")
PY
expect "test_summary exits 1 when a case failed" 1 python3 "$SRC/scripts/test_summary.py" "$T/testlog.json"
contains "test_summary counts SKIP as skipped and not ok as failed" "2 passed, 1 failed, 3 skipped"

# --- layering -----------------------------------------------------------------------------------------------------
forbidden='#include *<(sdbus-c\+\+/|systemd/sd-|netlink/|libnl|libmount|blkid|libfdisk|btrfsutil|nftables/|libvirt/)'
(cd "$SRC" && grep -rnE "$forbidden" plugins src tests/unit --include='*.cc' --include='*.h' | grep -v '^src/sys/') >"$T/out"
if [ ! -s "$T/out" ]; then
  ok "no native library header is included outside src/sys/"
else
  not_ok "no native library header is included outside src/sys/" "$(cat "$T/out")"
fi

# --- one set of TAP helpers ---------------------------------------------------------------------------------------
(cd "$SRC" && grep -rnE '^ *(ok|not_ok|check|expect)\(\) *\{' tests --include='*.sh' | grep -v '^tests/lib/tap.sh:') >"$T/out"
if [ ! -s "$T/out" ]; then
  ok "no test script defines its own TAP helpers (tests/lib/tap.sh)"
else
  not_ok "no test script defines its own TAP helpers (tests/lib/tap.sh)" "$(cat "$T/out")"
fi

tap_done
