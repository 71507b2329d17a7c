# TAP helpers for every shell test (docs/testing.md). Source it, then set where command output goes:
#   . "$(dirname "$0")/../../lib/tap.sh"      (in a VM guest: . /run/test/tap.sh, shipped by vm-run.sh)
#   TAP_OUT=$T/out                            output of expect/check, read by contains (default /tmp/out)
#   TAP_CHECK_OUT=$T/check                    output of check when it must not overwrite TAP_OUT
#   TAP_DETAIL=4000                           bytes of each detail shown under a failure (0 = all)
#   TAP_ON_FAIL="CMD ARGS"                    a failing check also shows this command's output
#
#   ok NAME                   a passing case
#   not_ok NAME [DETAIL...]   a failing case; each DETAIL is printed as "# " comment lines
#   skip NAME REASON          a case that did not run: "ok N - NAME # SKIP REASON" (counted as skipped)
#   check NAME CMD...         passes when CMD exits 0
#   expect NAME WANT CMD...   passes when CMD exits with WANT
#   contains NAME TEXT        passes when TAP_OUT contains TEXT (fixed string)
#   lacks NAME TEXT           passes when TAP_OUT does not contain TEXT
#   is NAME WANT CMD...       passes when the first line of CMD's stdout is WANT
#   tap_done                  prints the plan "1..N"; returns 1 if any case failed (use: tap_done; exit)
#   tap_skip_all REASON       prints "1..0 # SKIP REASON" and exits 0 (the whole script did not run)
n=0
fails=0
: "${TAP_OUT:=/tmp/out}"
: "${TAP_DETAIL:=4000}"

_tap_detail() {
  if [ "$TAP_DETAIL" -gt 0 ] 2>/dev/null; then
    printf '%s\n' "$1" | head -c "$TAP_DETAIL" | sed 's/^/# /'
  else
    printf '%s\n' "$1" | sed 's/^/# /'
  fi
}
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1))
  fails=$((fails + 1))
  echo "not ok $n - $1"
  shift
  local l
  for l in "$@"; do _tap_detail "$l"; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() {
  local name=$1 out=${TAP_CHECK_OUT:-$TAP_OUT}
  shift
  if "$@" >"$out" 2>&1; then
    ok "$name"
  elif [ -n "${TAP_ON_FAIL:-}" ]; then
    not_ok "$name" "command: $*" "$(cat "$out")" "$(${TAP_ON_FAIL} 2>&1)"
  else
    not_ok "$name" "command: $*" "$(cat "$out")"
  fi
}
expect() {
  local name=$1 want=$2
  shift 2
  "$@" >"$TAP_OUT" 2>&1
  local got=$?
  if [ "$got" -eq "$want" ]; then ok "$name"; else not_ok "$name" "exit $got, want $want" "$(cat "$TAP_OUT")"; fi
}
contains() {
  if grep -qF -- "$2" "$TAP_OUT"; then ok "$1"; else not_ok "$1" "output lacks: $2" "$(cat "$TAP_OUT")"; fi
}
lacks() {
  if ! grep -qF -- "$2" "$TAP_OUT"; then ok "$1"; else not_ok "$1" "output has: $2" "$(cat "$TAP_OUT")"; fi
}
is() {
  local name=$1 want=$2
  shift 2
  local got
  got=$("$@" 2>/dev/null | head -n1)
  if [ "$got" = "$want" ]; then ok "$name"; else not_ok "$name" "got '$got', want '$want' from: $*"; fi
}
tap_done() {
  echo "1..$n"
  [ "$fails" -eq 0 ]
}
tap_skip_all() {
  echo "1..0 # SKIP $1"
  exit 0
}
