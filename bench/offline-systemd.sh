#!/usr/bin/env bash
# Benchmark: enabling N units in an offline tree (--root), op-dbus against systemctl --root, measured in the
# same run on the same tree. Prints the times and the ratio op-dbus / systemctl for:
#   apply  - enable N units from scratch        (op-dbus apply --root   vs  systemctl --root enable U1..UN)
#   check  - confirm N units are enabled (no-op) (op-dbus plan --root    vs  systemctl --root is-enabled U1..UN)
# usage: bench/offline-systemd.sh [OPDBUS] [N] [REPEATS]
set -euo pipefail
OPDBUS=${1:-build/op-dbus}
N=${2:-300}
REPEATS=${3:-5}
command -v systemctl >/dev/null || { echo "needs systemctl (package systemd)" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OPDBUS_LOCK_FILE=$T/lock

make_tree() {
  rm -rf "$1"
  mkdir -p "$1/lib/systemd/system" "$1/etc/systemd/system"
  for i in $(seq 1 "$N"); do
    printf '[Unit]\nDescription=bench %s\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' "$i" \
      >"$1/lib/systemd/system/bench$i.service"
  done
}
{
  printf '{"version": 1, "plugins": {"systemd": {"services": {'
  for i in $(seq 1 "$N"); do printf '%s"bench%s": {"state": "enabled"}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done
  printf '}}}}\n'
} >"$T/state.json"
units=()
for i in $(seq 1 "$N"); do units+=("bench$i.service"); done

now() { date +%s%N; }
best() { sort -n | head -1; }

declare -A results
for kind in apply check; do
  for tool in op-dbus systemctl; do
    times=()
    for _ in $(seq 1 "$REPEATS"); do
      make_tree "$T/root"
      if [ "$kind" = check ]; then
        systemctl --root="$T/root" enable "${units[@]}" >/dev/null 2>&1
      fi
      start=$(now)
      case "$kind/$tool" in
        apply/op-dbus) "$OPDBUS" -q apply --root "$T/root" "$T/state.json" >/dev/null ;;
        apply/systemctl) systemctl --root="$T/root" enable "${units[@]}" >/dev/null 2>&1 ;;
        check/op-dbus) "$OPDBUS" -q plan --root "$T/root" "$T/state.json" >/dev/null ;;
        check/systemctl) systemctl --root="$T/root" is-enabled "${units[@]}" >/dev/null ;;
      esac
      times+=($(( ($(now) - start) / 1000000 )))
    done
    results[$kind/$tool]=$(printf '%s\n' "${times[@]}" | best)
  done
done

printf 'offline systemd, %d units, best of %d runs (ms)\n' "$N" "$REPEATS"
printf '%-6s %10s %10s %8s\n' task op-dbus systemctl ratio
for kind in apply check; do
  o=${results[$kind/op-dbus]}
  s=${results[$kind/systemctl]}
  printf '%-6s %10d %10d %8s\n' "$kind" "$o" "$s" "$(python3 -c "print(f'{$o/max($s,1):.2f}x')")"
done
