#!/usr/bin/env bash
# The systemd plugin against a real systemd: runs live-inner.sh inside `op-dbus sandbox` (a throwaway
# Debian 12 container under systemd-nspawn with its own system bus) and passes its TAP through.
# usage: live.sh OPDBUS SRCDIR       (prints TAP; needs root)
set -u
OPDBUS=$1
SRC=$2
. "$(dirname "$0")/../../lib/tap.sh"
. "$(dirname "$0")/../../lib/sandbox.sh"
sandbox_require
sandbox_tap "the live systemd tests" "$OPDBUS" --exec 'bash /src/tests/integration/systemd/live-inner.sh /usr/local/bin/op-dbus' \
  --bind-ro "$SRC:/src"
