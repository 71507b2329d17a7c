#!/usr/bin/env bash
# Live benchmark of the systemd plugin against Ansible: N units (default 50) in a throwaway container with a
# real systemd and system bus (systemd-nspawn), measured in the same run on the same container:
#   apply  enable and start N units                 op-dbus apply        vs  ansible-playbook (systemd module)
#   noop   confirm they are enabled and running     op-dbus plan         vs  ansible-playbook --check
# Between runs every unit is stopped and disabled again (one systemctl call). Prints the best of REPEATS runs,
# the time per unit and the ratio op-dbus / Ansible.
#
# usage: bench/systemd-live.sh [OPDBUS] [N] [REPEATS]          (root; systemd-nspawn; Debian's mirror)
# The container starts from op-dbus's sandbox image (built by `op-dbus sandbox` if missing); Ansible is
# installed into a copy of it once and cached under $OPDBUS_BENCH_CACHE (default /var/cache/op-dbus-tests).
set -euo pipefail
OPDBUS=$(realpath "${1:-build/op-dbus}")
N=${2:-50}
REPEATS=${3:-3}
CACHE=${OPDBUS_BENCH_CACHE:-/var/cache/op-dbus-tests}
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn" >&2; exit 1; }

# 1. op-dbus's sandbox image: systemd, dbus and op-dbus's runtime libraries.
"$OPDBUS" sandbox --exec true >/dev/null 2>&1 || true
IMAGE_DIR=$(ls -td "${OPDBUS_CACHE_DIR:-/var/cache/op-dbus/sandbox}"/*/ 2>/dev/null | head -1)
[ -d "$IMAGE_DIR/rootfs" ] || { echo "no sandbox image found (run: $OPDBUS sandbox --exec true)" >&2; exit 1; }

# 2. The same image with Ansible in it, made once.
key=$(cat "$IMAGE_DIR/image.txt" | sha256sum | cut -c1-16)
ROOTFS=$CACHE/bench-ansible-$key
if [ ! -x "$ROOTFS/usr/bin/ansible-playbook" ]; then
  echo "installing ansible into a copy of the sandbox image (once) ..." >&2
  mkdir -p "$CACHE"
  rm -rf "$ROOTFS.tmp" && cp -a "$IMAGE_DIR/rootfs" "$ROOTFS.tmp"
  (
    unshare -m bash -c '
      set -e
      R=$1
      mount --bind /proc "$R/proc"; mount --bind /dev "$R/dev"; mount --bind /sys "$R/sys"
      cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
      chroot "$R" apt-get update -qq
      DEBIAN_FRONTEND=noninteractive chroot "$R" apt-get install -y -qq --no-install-recommends ansible python3 >/dev/null
      chroot "$R" apt-get clean' _ "$ROOTFS.tmp"
  ) >&2
  rm -rf "$ROOTFS" && mv "$ROOTFS.tmp" "$ROOTFS"
fi

# 3. A container from a copy of it, with N packaged units, the op-dbus state and the playbook.
T=$(mktemp -d /var/tmp/opdbus-bench-XXXXXX)
NSPAWN=
cleanup() {
  if [ -n "$NSPAWN" ]; then
    # Our own container only, by its PID: a clean poweroff first, then for certain.
    kill -TERM "$NSPAWN" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$NSPAWN" 2>/dev/null || true
    wait "$NSPAWN" 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT
cp -a "$ROOTFS" "$T/root"
install -m 0755 "$OPDBUS" "$T/root/usr/local/bin/op-dbus"
mkdir -p "$T/root/bench"
for i in $(seq 1 "$N"); do
  printf '[Unit]\nDescription=bench %s\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' \
    "$i" >"$T/root/lib/systemd/system/bench$i.service"
done
python3 - "$N" "$T/root/bench" <<'PY'
import json, sys
n, d = int(sys.argv[1]), sys.argv[2]
json.dump({"version": 1, "plugins": {"systemd": {"services": {
    "bench%d" % i: {"state": "enabled", "running": True} for i in range(1, n + 1)}}}},
    open(d + "/state.json", "w"))
open(d + "/play.yml", "w").write("""- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.systemd:
        name: "bench{{ item }}.service"
        enabled: true
        state: started
      loop: "{{ range(1, %d) | list }}"
""" % (n + 1))
open(d + "/units", "w").write(" ".join("bench%d.service" % i for i in range(1, n + 1)))
PY
cat >"$T/root/bench/time.sh" <<'SH'
#!/bin/bash
# time.sh CMD...: runs CMD, prints its wall time in ms; fails when CMD fails.
s=$(date +%s%N); "$@" >/tmp/bench.out 2>&1 || { cat /tmp/bench.out >&2; exit 1; }; e=$(date +%s%N)
echo $(( (e - s) / 1000000 ))
SH
chmod +x "$T/root/bench/time.sh"

systemd-nspawn --register=no --keep-unit --quiet --private-network -D "$T/root" -M "opdbus-bench-$$" --boot \
  >"$T/console.log" 2>&1 &
NSPAWN=$!
PID=
up=
for _ in $(seq 1 600); do  # up to 2 minutes: a first boot on a loaded machine is slow
  PID=$(pgrep -P "$NSPAWN" | head -1 || true)
  if [ -n "$PID" ] && nsenter -t "$PID" -a test -S /run/dbus/system_bus_socket 2>/dev/null; then up=1; break; fi
  sleep 0.2
done
[ -n "$up" ] || { echo "the container did not start" >&2; cat "$T/console.log" >&2; exit 1; }
in_ct() { nsenter -t "$PID" -a "$@"; }
in_ct timeout 120 systemctl is-system-running --wait >/dev/null 2>&1 || true

ANSIBLE=(env ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_NOCOLOR=1 ansible-playbook -i localhost, -c local
         /bench/play.yml)
reset_units() { in_ct bash -c 'systemctl disable --now $(cat /bench/units)' >/dev/null 2>&1; }
run() {  # run KIND TOOL -> ms
  case "$1/$2" in
    apply/op-dbus) reset_units; in_ct /bench/time.sh op-dbus -q apply /bench/state.json ;;
    apply/ansible) reset_units; in_ct /bench/time.sh "${ANSIBLE[@]}" ;;
    noop/op-dbus) in_ct /bench/time.sh op-dbus -q plan /bench/state.json ;;
    noop/ansible) in_ct /bench/time.sh "${ANSIBLE[@]}" --check ;;
  esac
}
declare -A best
for kind in apply noop; do
  for tool in op-dbus ansible; do
    for _ in $(seq 1 "$REPEATS"); do
      if [ "$kind" = noop ]; then in_ct op-dbus -q apply /bench/state.json >/dev/null; fi
      t=$(run "$kind" "$tool")
      if [ -z "${best[$kind/$tool]:-}" ] || [ "$t" -lt "${best[$kind/$tool]}" ]; then best[$kind/$tool]=$t; fi
    done
  done
done
# The last apply must really have converged: every unit enabled and active.
bad=$(in_ct bash -c 'for u in $(cat /bench/units); do [ "$(systemctl is-enabled $u)/$(systemctl is-active $u)" = enabled/active ] || echo $u; done')
[ -z "$bad" ] || { echo "units not enabled and active after the runs: $bad" >&2; exit 1; }

printf 'systemd live, %d units in a container (systemd %s), best of %d runs\n' "$N" \
  "$(in_ct systemctl --version | head -1 | cut -d' ' -f2)" "$REPEATS"
printf '%-6s %11s %11s %13s %13s %9s\n' task "op-dbus ms" "ansible ms" "op-dbus ms/u" "ansible ms/u" ratio
for kind in apply noop; do
  o=${best[$kind/op-dbus]}
  a=${best[$kind/ansible]}
  printf '%-6s %11d %11d %13.1f %13.1f %9s\n' "$kind" "$o" "$a" "$(python3 -c "print($o/$N)")" \
    "$(python3 -c "print($a/$N)")" "$(python3 -c "print(f'{$o/max($a,1):.3f}x (1/{$a/max($o,1):.0f})')")"
done
