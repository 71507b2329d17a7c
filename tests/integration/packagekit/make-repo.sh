#!/usr/bin/env bash
# Makes a tiny signed apt repository for the packagekit tests: opdbus-pk-hello 1.0 and 2.0, opdbus-pk-slow 1.0
# (a postinst that sleeps 20 s) built with dpkg-deb, a
# flat repository (suite "./") with Packages, Release and InRelease signed by a throwaway gpg key, the
# key as good.asc and a second key that did not sign it as wrong.asc.
# usage: make-repo.sh DIR      (DIR/repo is the repository; exits non-zero when something is missing)
set -eu
D=$1
W=$(mktemp -d /tmp/packagekit-repo-XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$D/repo" "$W/gnupg" "$W/gnupg2"
chmod 700 "$W/gnupg" "$W/gnupg2"
# build NAME VERSION [POSTINST]: a package with one documentation file (and a postinst script)
build() {
  local name=$1 version=$2 pkg=$W/$1-$2
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/doc/$name"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: op-dbus tests <tests@example.org>\nDescription: op-dbus packagekit test package\n' \
    "$name" "$version" >"$pkg/DEBIAN/control"
  if [ -n "${3:-}" ]; then printf '#!/bin/sh\n%s\n' "$3" >"$pkg/DEBIAN/postinst" && chmod 755 "$pkg/DEBIAN/postinst"; fi
  echo "installed by the op-dbus packagekit test ($version)" >"$pkg/usr/share/doc/$name/README"
  dpkg-deb --root-owner-group --build "$pkg" "$D/repo/${name}_${version}_all.deb" >/dev/null
}
# Two versions: pinning the older one, "latest", and going back down.
build opdbus-pk-hello 1.0
build opdbus-pk-hello 2.0
# Its postinst is silent for 20 s: a transaction without progress (the stall timeout test).
build opdbus-pk-slow 1.0 "sleep 20"
(
  cd "$D/repo"
  for deb in *.deb; do
    dpkg-deb -f "$deb"
    echo "Filename: ./$deb"
    echo "Size: $(stat -c %s "$deb")"
    echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
    echo
  done >Packages
  { printf 'Origin: op-dbus-test\nLabel: op-dbus-test\nSuite: stable\nCodename: opdbus\nDate: %s\nArchitectures: all amd64\nSHA256:\n' "$(date -Ru)"
    printf ' %s %s Packages\n' "$(sha256sum Packages | cut -d' ' -f1)" "$(stat -c %s Packages)"; } >Release
)
gen_key() {  # gen_key GNUPGHOME OUT
  GNUPGHOME=$1 gpg --batch --quiet --passphrase '' --quick-gen-key "op-dbus test <tests@example.org>" ed25519 sign never 2>/dev/null
  GNUPGHOME=$1 gpg --batch --quiet --armor --export >"$2"
}
gen_key "$W/gnupg" "$D/good.asc"
gen_key "$W/gnupg2" "$D/wrong.asc"
GNUPGHOME=$W/gnupg gpg --batch --quiet --clearsign -o "$D/repo/InRelease" "$D/repo/Release"
# gpg-agents started for the throwaway homes
GNUPGHOME=$W/gnupg gpgconf --kill gpg-agent 2>/dev/null || true
GNUPGHOME=$W/gnupg2 gpgconf --kill gpg-agent 2>/dev/null || true
[ -s "$D/repo/InRelease" ] && [ -s "$D/good.asc" ] && [ -s "$D/wrong.asc" ]
chmod -R a+rX "$D"
