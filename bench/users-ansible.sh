#!/usr/bin/env bash
# Issue 9's benchmark: op-dbus against Ansible in one throwaway container with a real systemd (`op-dbus
# sandbox --include ansible-core`): 50 unit files, 50 enables, 20 groups and 20 users, as an Ansible playbook
# (connection local, ansible-core from Debian) and as the equivalent op-dbus state. Measured in the same
# container: the first apply (from a clean system, reset in between) and the no-op check
# (`ansible-playbook --check --diff` against `op-dbus plan`). Prints both times and the ratios.
# Not part of the test suite.
#
# usage: bench/users-ansible.sh [OPDBUS] [REPEATS]        (root; systemd-nspawn; Debian's mirror once)
set -euo pipefail
OPDBUS=$(realpath "${1:-build/op-dbus}")
REPEATS=${2:-3}
SRC=$(realpath "$(dirname "$0")/..")
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn" >&2; exit 1; }
exec "$OPDBUS" sandbox --include ansible-core \
  --exec "bash /src/bench/users-ansible-inner.sh /usr/local/bin/op-dbus $REPEATS" --bind-ro "$SRC:/src"
