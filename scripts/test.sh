#!/usr/bin/env bash
# Builds op-dbus and runs the whole test suite (unit, integration against a real systemd in a container,
# bad input, fuzzing). Run as root: the integration tests boot containers and use namespaces.
# Ends with one line: "N passed, N failed, N skipped" (each TAP test case counted).
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh || { echo "0 passed, 1 failed"; exit 1; }
meson test -C build --print-errorlogs --no-rebuild "$@"
status=$?
python3 scripts/test_summary.py build/meson-logs/testlog.json || status=1
exit $status
