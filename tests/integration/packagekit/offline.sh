#!/usr/bin/env bash
# The packagekit plugin offline (--root DIR): apt-get inside a copy of the sandbox's cached Debian rootfs
# (never the cache itself) installs and removes packages there, with the same plan as live; nothing on the
# host changes (its dpkg database and /etc/apt are hashed before and after); /proc, /sys, /dev and the
# policy-rc.d are gone after every run, also after a failed one and after SIGINT; unknown packages fail the
# plan; hostile trees (var/lib/dpkg or etc/apt/sources.list.d a symlink out of the root) read and write
# only inside the root. Needs the Debian mirror (CI has it): a failure to reach it is a failure.
# usage: offline.sh OPDBUS       (prints TAP; needs root)
set -u
OPDBUS=$1
. "$(dirname "$0")/../../lib/tap.sh"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root"
command -v debootstrap >/dev/null 2>&1 || tap_skip_all "debootstrap is not installed (the sandbox image needs it)"

T=$(mktemp -d /tmp/packagekit-offline-XXXXXX)
R=$T/root
cleanup() {
  # Anything a failed run left mounted inside our copy (never anything else).
  grep -F " $T/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$T"
}
trap cleanup EXIT
TAP_OUT=$T/out
doc() { printf '{"version": 1, "plugins": {"packagekit": %s}}\n' "$2" >"$1"; }
host_state() { cat /var/lib/dpkg/status /var/lib/apt/extended_states 2>/dev/null | sha256sum; find /etc/apt /srv -printf '%p %s %T@\n' 2>/dev/null | sort | sha256sum; }
mounts_in_root() { grep -cF " $R/" /proc/self/mounts; }

CACHE=$("$OPDBUS" sandbox --prepare 2>"$T/prepare.err" | tail -n1)
if [ ! -d "$CACHE/usr/bin" ]; then
  not_ok "op-dbus sandbox --prepare gives the cached rootfs" "$(cat "$T/prepare.err")" "got: $CACHE"
  tap_done
  exit 1
fi
cp -a "$CACHE" "$R"
BEFORE=$(host_state)

# 1. install into the tree
doc "$T/hello.json" '{"packages": {"hello": {}}}'
tree_state() { find "$R/var" "$R/etc" -printf '%p %s %T@\n' 2>/dev/null | sort | sha256sum; }
tree_before=$(tree_state)
expect "plan --root shows the install (exit 2)" 2 "$OPDBUS" plan --root "$R" "$T/hello.json"
contains "the plan says what it installs" "install 1 package: hello"
if [ "$(tree_state)" = "$tree_before" ]; then ok "plan --root wrote nothing into the tree (not even apt's cache)"; else not_ok "plan --root wrote nothing into the tree (not even apt's cache)"; fi
"$OPDBUS" plan --root "$R" --json "$T/hello.json" >"$T/plan-offline.json" 2>/dev/null
expect "apply --root installs" 0 "$OPDBUS" apply --root "$R" "$T/hello.json"
contains "apt's steps are reported" "Setting up hello"
check "hello is installed in the tree" chroot "$R" dpkg-query -W -f '${Status}' hello
is "nothing stays mounted in the tree" 0 mounts_in_root
if [ -e "$R/usr/sbin/policy-rc.d" ]; then not_ok "policy-rc.d is removed after the run"; else ok "policy-rc.d is removed after the run"; fi
expect "a second plan --root is empty" 0 "$OPDBUS" plan --root "$R" "$T/hello.json"
if [ -e /usr/bin/hello ] && ! dpkg-query -W hello >/dev/null 2>&1; then
  not_ok "hello did not land on the host"
else
  ok "hello did not land on the host"
fi

# 2. show --root round-trips; it lists manual packages only
"$OPDBUS" show --root "$R" --plugin packagekit >"$T/show.json" 2>"$T/show.err"
cp "$T/show.json" "$TAP_OUT"
contains "show --root lists hello" '"hello"'
expect "show --root plans to nothing" 0 "$OPDBUS" plan --root "$R" "$T/show.json"

# 3. an unknown package fails the plan and the apply, and nothing else from that document is installed
doc "$T/unknown.json" '{"packages": {"cowsay": {}, "nope-op-dbus-xyz": {}}}'
expect "plan --root with an unknown package fails" 1 "$OPDBUS" plan --root "$R" "$T/unknown.json"
contains "the plan error names the package" "unknown package nope-op-dbus-xyz"
expect "apply --root with an unknown package fails" 1 "$OPDBUS" apply --root "$R" "$T/unknown.json"
contains "the apply error names the package" "nope-op-dbus-xyz"
expect "nothing else from that document was installed" 1 chroot "$R" dpkg-query -W -f '${Status}' cowsay

# 4. removal is destructive: refused without --allow-destructive
doc "$T/absent.json" '{"packages": {"hello": {"state": "absent"}}}'
expect "removal without --allow-destructive is refused" 1 "$OPDBUS" apply --root "$R" "$T/absent.json"
check "hello is still installed" chroot "$R" dpkg-query -W -f '${Status}' hello
expect "removal with --allow-destructive" 0 "$OPDBUS" apply --root "$R" --allow-destructive "$T/absent.json"
if chroot "$R" dpkg-query -W -f '${Status}' hello 2>/dev/null | grep -q ' installed'; then
  not_ok "hello is removed from the tree"
else
  ok "hello is removed from the tree"
fi

# 5. SIGINT during apt-get: the mounts and policy-rc.d are gone afterwards
doc "$T/big.json" '{"packages": {"hello": {}, "cowsay": {}}}'
setsid "$OPDBUS" apply --root "$R" "$T/big.json" >"$T/int.out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ "$(mounts_in_root)" -gt 0 ] && break; sleep 0.1; done
saw=$(mounts_in_root)
kill -INT -- -"$pid" 2>/dev/null
wait "$pid"
if [ "$saw" -gt 0 ]; then ok "the apply had mounted proc/sys/dev when interrupted"; else skip "the apply had mounted proc/sys/dev when interrupted" "apt finished before the mounts were seen"; fi
is "nothing stays mounted after SIGINT" 0 mounts_in_root
if [ -e "$R/usr/sbin/policy-rc.d" ]; then not_ok "policy-rc.d is removed after SIGINT"; else ok "policy-rc.d is removed after SIGINT"; fi
expect "the next apply converges" 0 "$OPDBUS" apply --root "$R" "$T/big.json"
"$OPDBUS" show --root "$R" --plugin packagekit >"$TAP_OUT" 2>&1
contains "show --root lists cowsay (asked for)" '"cowsay"'
lacks "show --root leaves out what apt installed automatically (libtext-charwidth-perl)" '"libtext-charwidth-perl"'
doc "$T/perl.json" '{"packages": {"perl": {"state": "absent"}}}'
expect "removing a package others depend on is refused" 1 "$OPDBUS" apply --root "$R" --allow-destructive "$T/perl.json"
contains "the refusal names what would go along" "would also remove"
contains "the refusal names the dependant" "cowsay"
check "perl is still installed" chroot "$R" dpkg-query -W -f '${Status}' perl
is "nothing stays mounted after a failure" 0 mounts_in_root

# 6. op-dbus manifest from the cached rootfs's apt lists (read, never written); applying that manifest
# installs exactly packages it lists, and all of them
installed_set() { chroot "$R" dpkg-query -W -f '${Package} ${Status}\n' | awk '/ installed$/ {print $1}' | sort; }
expect "op-dbus manifest resolves jq and tree in the cached Packages index" 0 \
  "$OPDBUS" manifest --index "$CACHE/var/lib/apt/lists" -o "$T/m.json" jq tree
python3 -c 'import json,sys; [print(p["name"]) for p in json.load(open(sys.argv[1]))["packages"]]' "$T/m.json" | sort >"$T/m.names"
cp "$T/m.json" "$TAP_OUT"
contains "the manifest lists jq's library (a dependency)" '"libjq1"'
contains "the manifest marks what was asked for" '"requested": true'
installed_set >"$T/before"
doc "$T/manifest-doc.json" '{"manifest": "m.json"}'
expect "apply --root of the manifest (a path relative to the state file)" 0 "$OPDBUS" apply --root "$R" "$T/manifest-doc.json"
installed_set >"$T/after"
extra=$(comm -13 "$T/before" "$T/after" | comm -23 - "$T/m.names")
missing=$(comm -23 "$T/m.names" "$T/after")
if [ -z "$extra" ]; then ok "apt installed nothing the manifest does not list"; else not_ok "apt installed nothing the manifest does not list" "$extra"; fi
if [ -z "$missing" ]; then ok "everything the manifest lists is installed"; else not_ok "everything the manifest lists is installed" "$missing"; fi
expect "a second plan --root of the manifest is empty" 0 "$OPDBUS" plan --root "$R" "$T/manifest-doc.json"
expect "a manifest of an unknown package fails naming it" 1 "$OPDBUS" manifest --index "$CACHE/var/lib/apt/lists" nope-op-dbus-xyz
contains "the manifest error names it" "nope-op-dbus-xyz"

# 7. a local repository in the tree (file:/srv/pkrepo): a wrong key fails the refresh with apt's reason and
# installs nothing; the right key installs its package
if bash "$(dirname "$0")/make-repo.sh" "$R/srv/pkrepo" >"$T/repo.log" 2>&1; then
  json_string() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
  repo_doc() {
    doc "$1" "{\"repositories\": {\"opdbus-test\": {\"uris\": [\"file:/srv/pkrepo/repo\"], \"suites\": [\"./\"], \"key\": $(json_string "$2")}},
               \"packages\": {\"opdbus-pk-hello\": {}}}"
  }
  repo_doc "$T/wrong.json" "$R/srv/pkrepo/wrong.asc"
  expect "apply --root with the wrong key fails" 1 "$OPDBUS" apply --root "$R" "$T/wrong.json"
  contains "the failure gives apt's reason" "NO_PUBKEY"
  expect "nothing from the repository was installed" 1 chroot "$R" dpkg-query -W opdbus-pk-hello
  repo_doc "$T/good.json" "$R/srv/pkrepo/good.asc"
  expect "apply --root with the right key installs the repository's package" 0 "$OPDBUS" apply --root "$R" "$T/good.json"
  check "opdbus-pk-hello is installed in the tree" chroot "$R" dpkg-query -W opdbus-pk-hello
  expect "a second plan --root is empty" 0 "$OPDBUS" plan --root "$R" "$T/good.json"
  # versions: pin the older one (a downgrade), then "latest" (an upgrade)
  with_state() { doc "$1" "{\"repositories\": {\"opdbus-test\": {\"uris\": [\"file:/srv/pkrepo/repo\"], \"suites\": [\"./\"], \"key\": $(json_string "$R/srv/pkrepo/good.asc")}},
               \"packages\": {\"opdbus-pk-hello\": $2}}"; }
  with_state "$T/pin.json" '{"version": "1.0"}'
  expect "pinning version 1.0 plans an install of it" 2 "$OPDBUS" plan --root "$R" "$T/pin.json"
  contains "the plan names the pinned version" "opdbus-pk-hello=1.0"
  expect "apply installs version 1.0 (a downgrade from 2.0)" 0 "$OPDBUS" apply --root "$R" "$T/pin.json"
  is "version 1.0 is installed" 1.0 chroot "$R" dpkg-query -W -f '${Version}' opdbus-pk-hello
  expect "a second plan of the pin is empty" 0 "$OPDBUS" plan --root "$R" "$T/pin.json"
  with_state "$T/latest.json" '{"state": "latest"}'
  expect "latest plans an upgrade" 2 "$OPDBUS" plan --root "$R" "$T/latest.json"
  contains "the plan says it upgrades" "upgrade 1 package: opdbus-pk-hello"
  expect "apply upgrades to the newest version" 0 "$OPDBUS" apply --root "$R" "$T/latest.json"
  is "version 2.0 is installed" 2.0 chroot "$R" dpkg-query -W -f '${Version}' opdbus-pk-hello
  expect "a second plan of latest is empty" 0 "$OPDBUS" plan --root "$R" "$T/latest.json"
else
  not_ok "the local test repository is made (dpkg-deb, gpg)" "$(cat "$T/repo.log")"
fi

# 8. hostile trees: var/lib/dpkg a symlink out of the root; sources.list.d a symlink to the host's
E=$T/evil
mkdir -p "$E/var/lib" "$E/usr/bin"
ln -s /var/lib/dpkg "$E/var/lib/dpkg"
doc "$T/hello.json" '{"packages": {"hello": {}}}'
expect "a tree whose dpkg database is a symlink out of it is not read through it" 1 "$OPDBUS" plan --root "$E" "$T/hello.json"
contains "it says there is no dpkg database in the tree" "no dpkg database"
"$OPDBUS" show --root "$E" --plugin packagekit >"$TAP_OUT" 2>&1
lacks "show --root on it does not list the host's packages" '"dpkg"'
KEY=$(printf -- '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ0AAAB\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n' | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')
mkdir -p "$R/srv/sources" && rm -rf "$R/etc/apt/sources.list.d" && ln -s /srv/sources "$R/etc/apt/sources.list.d"
mkdir -p "$R/etc/apt/keyrings.real" && rm -rf "$R/etc/apt/keyrings" && ln -s ../../etc/apt/keyrings.real "$R/etc/apt/keyrings"
doc "$T/repo.json" "{\"repositories\": {\"packagekit-test\": {\"uris\": [\"file:/nonexistent\"], \"suites\": [\"./\"], \"key\": $KEY}}}"
"$OPDBUS" apply --root "$R" "$T/repo.json" >"$T/repo.out" 2>&1
check "the .sources file landed where a chroot puts it (the absolute link resolved inside the tree)" test -f "$R/srv/sources/packagekit-test.sources"
if [ -e /srv/sources/packagekit-test.sources ]; then not_ok "nothing was written to the host's /srv/sources"; else ok "nothing was written to the host's /srv/sources"; fi
check "the key landed through the tree's relative symlink" test -f "$R/etc/apt/keyrings.real/packagekit-test.asc"
if [ -e /etc/apt/sources.list.d/packagekit-test.sources ]; then not_ok "the host's sources.list.d is untouched"; else ok "the host's sources.list.d is untouched"; fi

AFTER=$(host_state)
if [ "$BEFORE" = "$AFTER" ]; then ok "the host's dpkg database and /etc/apt are unchanged"; else not_ok "the host's dpkg database and /etc/apt are unchanged"; fi
tap_done
