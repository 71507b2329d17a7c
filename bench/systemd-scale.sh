#!/usr/bin/env bash
# Scaling benchmark of the systemd plugin offline (--root), against systemctl --root in the same run on the
# same trees. For each N it prints the time of:
#   apply  enable N units from scratch       op-dbus apply --root      vs  systemctl --root enable U1..UN
#   check  confirm N enabled units (no-op)   op-dbus plan --root       vs  systemctl --root is-enabled U1..UN
# with the time per unit and the ratio op-dbus / systemctl. Best of REPEATS runs (one run at 10,000).
#
# usage: bench/systemd-scale.sh [OPDBUS] [DIR] [N...]
#   DIR  where the trees are made (default: a temporary directory under $TMPDIR). On a disk, op-dbus's
#        apply includes its journal's fsyncs (systemctl writes no journal and syncs nothing); on a tmpfs
#        (/dev/shm) both measure the work itself. The report says which it was.
#   N    default: 100 1000 10000
# The live comparison against Ansible (50 units in a container) is bench/systemd-live.sh.
set -euo pipefail
OPDBUS=$(realpath "${1:-build/op-dbus}")
BASE=${2:-${TMPDIR:-/tmp}}
shift $(($# > 2 ? 2 : $#)) || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100 1000 10000)
REPEATS=${REPEATS:-3}
command -v systemctl >/dev/null || { echo "needs systemctl (package systemd)" >&2; exit 1; }
T=$(mktemp -d "$BASE/opdbus-bench-XXXXXX")
trap 'rm -rf "$T"' EXIT
export OPDBUS_LOCK_FILE=$T/lock

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# make_base N: packaged units with WantedBy=, an empty /etc/systemd/system, the state document.
make_base() {
  local n=$1
  rm -rf "$T/base" && mkdir -p "$T/base/lib/systemd/system" "$T/base/etc/systemd/system"
  for i in $(seq 1 "$n"); do
    printf '[Unit]\nDescription=bench %s\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' \
      "$i" >"$T/base/lib/systemd/system/bench$i.service"
  done
  python3 - "$n" >"$T/state.json" <<'PY'
import json, sys
n = int(sys.argv[1])
print(json.dumps({"version": 1, "plugins": {"systemd": {"services": {
    "bench%d" % i: {"state": "enabled"} for i in range(1, n + 1)}}}}))
PY
  seq -f 'bench%g.service' 1 "$n" >"$T/units"
}

fresh() { rm -rf "$T/root" && cp -a "$T/base" "$T/root"; }

# time_of KIND TOOL: milliseconds of one run on a fresh tree (enabled first for "check").
time_of() {
  fresh
  mapfile -t units <"$T/units"
  if [ "$1" = check ]; then systemctl --root="$T/root" enable "${units[@]}" >/dev/null 2>&1; fi
  local s e rc=0
  s=$(now)
  case "$1/$2" in
    apply/op-dbus) "$OPDBUS" -q apply --root "$T/root" "$T/state.json" >/dev/null || rc=$? ;;
    apply/systemctl) systemctl --root="$T/root" enable "${units[@]}" >/dev/null 2>&1 || rc=$? ;;
    check/op-dbus) "$OPDBUS" -q plan --root "$T/root" "$T/state.json" >/dev/null || rc=$? ;;
    check/systemctl) systemctl --root="$T/root" is-enabled "${units[@]}" >/dev/null || rc=$? ;;
  esac
  e=$(now)
  if [ "$rc" -ne 0 ]; then echo "$1/$2 failed (exit $rc) at N=${#units[@]}" >&2; exit 1; fi
  ms "$s" "$e"
}

best_of() {  # best_of RUNS KIND TOOL
  local best=
  for _ in $(seq 1 "$1"); do
    local t
    t=$(time_of "$2" "$3")
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "$best"
}

fs=$(stat -f -c %T "$T")
printf 'systemd offline (--root), op-dbus %s, trees on %s (%s)\n' "$("$OPDBUS" --version 2>/dev/null | head -1)" "$T" "$fs"
printf '%-6s %7s %11s %11s %13s %13s %8s\n' task N "op-dbus ms" "systemctl ms" "op-dbus us/u" "systemctl us/u" ratio
for n in "${SIZES[@]}"; do
  make_base "$n"
  runs=$REPEATS
  [ "$n" -ge 10000 ] && runs=1
  for kind in apply check; do
    o=$(best_of "$runs" "$kind" op-dbus)
    s=$(best_of "$runs" "$kind" systemctl)
    printf '%-6s %7d %11d %11d %13d %13d %8s\n' "$kind" "$n" "$o" "$s" $((o * 1000 / n)) $((s * 1000 / n)) \
      "$(python3 -c "print(f'{$o/max($s,1):.2f}x')")"
  done
done
