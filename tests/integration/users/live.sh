#!/usr/bin/env bash
# The users plugin against a real system: runs live-inner.sh inside `op-dbus sandbox` (a throwaway Debian 12
# container under systemd-nspawn with a real systemd and bus) with openssh-server, nscd and accountsservice
# added to the image, and passes its TAP through.
# usage: live.sh OPDBUS SRCDIR       (prints TAP; needs root)
set -u
OPDBUS=$1
SRC=$2
. "$(dirname "$0")/../../lib/tap.sh"
. "$(dirname "$0")/../../lib/sandbox.sh"
sandbox_require
sandbox_tap "the live users tests" "$OPDBUS" --include openssh-server,nscd,accountsservice \
  --exec 'bash /src/tests/integration/users/live-inner.sh /usr/local/bin/op-dbus' \
  --bind-ro "$SRC:/src"
