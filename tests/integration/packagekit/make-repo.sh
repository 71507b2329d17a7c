#!/usr/bin/env bash
# Makes a tiny signed apt repository for the packagekit tests: opdbus-pk-hello 1.0 built with dpkg-deb, a
# flat repository (suite "./") with Packages, Release and InRelease signed by a throwaway gpg key, the
# key as good.asc and a second key that did not sign it as wrong.asc.
# usage: make-repo.sh DIR      (DIR/repo is the repository; exits non-zero when something is missing)
set -eu
D=$1
W=$(mktemp -d /tmp/packagekit-repo-XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$D/repo" "$W/pkg/DEBIAN" "$W/pkg/usr/share/doc/opdbus-pk-hello" "$W/gnupg" "$W/gnupg2"
chmod 700 "$W/gnupg" "$W/gnupg2"
printf 'Package: opdbus-pk-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: op-dbus tests <tests@example.org>\nDescription: op-dbus packagekit test package\n' \
  >"$W/pkg/DEBIAN/control"
echo "installed by the op-dbus packagekit test" >"$W/pkg/usr/share/doc/opdbus-pk-hello/README"
dpkg-deb --root-owner-group --build "$W/pkg" "$D/repo/opdbus-pk-hello_1.0_all.deb" >/dev/null
(
  cd "$D/repo"
  deb=opdbus-pk-hello_1.0_all.deb
  { dpkg-deb -f "$deb"; echo "Filename: ./$deb"; echo "Size: $(stat -c %s "$deb")"; echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"; echo; } >Packages
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
