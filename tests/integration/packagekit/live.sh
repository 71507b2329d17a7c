#!/usr/bin/env bash
# The packagekit plugin against a real packagekitd: runs live-inner.sh inside `op-dbus sandbox --include
# packagekit --nat opdbus-pk` (a throwaway Debian 12 container with its own system bus and PackageKit,
# reaching Debian's mirror through a veth pair `opdbus-pk` and the host's NAT table `ip opdbus-pk`, both
# removed when the sandbox ends) and passes its TAP through. A local repository is made here first: a tiny package built with
# dpkg-deb, its Packages and Release files, InRelease signed with a throwaway gpg key (and a second key that
# did not sign it), bound read-only into the container at /pkrepo, with Debian's archive keys (armoured). Debian's `hello` comes
# from the mirror itself: when the
# mirror cannot be reached the tests fail (they do not skip).
# usage: live.sh OPDBUS SRCDIR       (prints TAP; needs root)
set -u
OPDBUS=$1
SRC=$2
. "$(dirname "$0")/../../lib/tap.sh"
. "$(dirname "$0")/../../lib/sandbox.sh"
sandbox_require
T=$(mktemp -d /tmp/packagekit-live-XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"

# ---- the local repository (make-repo.sh: a flat one, suite "./")
R=$T/pkrepo
if ! bash "$(dirname "$0")/make-repo.sh" "$R" >"$T/repo.log" 2>&1; then
  not_ok "the local test repository is made (dpkg-deb, gpg)" "$(cat "$T/repo.log")"
  tap_done
  exit 1
fi

# Debian's archive keys, armoured (the documents carry keys as text; the image has no gpg), for the test's
# document that manages the Debian source itself.
mkdir -p "$T/gnupg" && chmod 700 "$T/gnupg"
if ! gpg -q --homedir "$T/gnupg" --no-default-keyring --keyring /usr/share/keyrings/debian-archive-keyring.gpg \
  --export --armor >"$R/debian.asc" 2>"$T/gpg.log" || ! [ -s "$R/debian.asc" ]; then
  not_ok "Debian's archive keys are exported (gpg, debian-archive-keyring)" "$(cat "$T/gpg.log")"
  tap_done
  exit 1
fi
chmod -R a+rX "$R"

sandbox_tap "the live packagekit tests" "$OPDBUS" --include packagekit --nat opdbus-pk \
  --exec 'bash /src/tests/integration/packagekit/live-inner.sh /usr/local/bin/op-dbus /pkrepo' \
  --bind-ro "$SRC:/src" --bind-ro "$R:/pkrepo"
