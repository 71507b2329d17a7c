#!/usr/bin/env bash
# The packagekit plugin against a real packagekitd: runs live-inner.sh inside `op-dbus sandbox --include
# packagekit` (a throwaway Debian 12 container with its own system bus and PackageKit, reaching Debian's
# mirror) and passes its TAP through. A local repository is made here first: a tiny package built with
# dpkg-deb, its Packages and Release files, InRelease signed with a throwaway gpg key (and a second key that
# did not sign it), bound read-only into the container at /pkrepo, with Debian's hello package (below).
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

# The sandbox has no network (--private-network): Debian's packages the test installs (`hello`) are fetched
# here once, from the mirror the image's package lists come from, and put into the container's apt archive
# cache, where PackageKit's apt finds them instead of downloading (the checksums of the lists still apply).
DEBS=/var/cache/op-dbus-tests/packagekit/debs
if ! ls "$DEBS"/hello_*.deb >/dev/null 2>&1; then
  mkdir -p "$DEBS"
  (cd "$DEBS" && apt-get download -q hello >"$T/download.log" 2>&1)
fi
if ! ls "$DEBS"/hello_*.deb >/dev/null 2>&1; then
  not_ok "hello is fetched from Debian's mirror" "$(cat "$T/download.log")"
  tap_done
  exit 1
fi
mkdir -p "$R/debs" && cp "$DEBS"/hello_*.deb "$R/debs/"
chmod -R a+rX "$R"

sandbox_tap "the live packagekit tests" "$OPDBUS" --include packagekit \
  --exec 'bash /src/tests/integration/packagekit/live-inner.sh /usr/local/bin/op-dbus /pkrepo' \
  --bind-ro "$SRC:/src" --bind-ro "$R:/pkrepo"
