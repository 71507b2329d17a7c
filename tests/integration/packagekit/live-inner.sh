#!/usr/bin/env bash
# The packagekit plugin against a real packagekitd (run inside a throwaway container: see live.sh).
# Covers: Debian's source managed by a document, PackageKit refreshing from Debian's mirror and installing
# `hello` from there with progress lines,
# a second plan empty, even with PackageKit stopped and masked (a converged document is planned from dpkg's
# database, without a transaction), drift made behind op-dbus's back found and corrected, show round-trip, removal (destructive), a package nobody offers failing
# plan and apply with nothing else of the document installed, a local repository whose key is wrong
# (refused with apt's reason, nothing installed) and right (its package installs), and a daemon that does
# not answer (a clear error, no hang).
# usage: live-inner.sh OPDBUS REPODIR      (prints TAP)
set -u
OPDBUS=${1:-op-dbus}
REPO=${2:-/pkrepo}
. "$(dirname "$0")/../../lib/tap.sh"
. "$(dirname "$0")/../../lib/sandbox.sh"
sandbox_inside
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
TAP_OUT=$T/out
doc() { printf '{"version": 1, "plugins": {"packagekit": %s}}\n' "$2" >"$1"; }
installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }
json_string() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1" 2>/dev/null ||
  sed -e ':a;N;$!ba' -e 's/\\/\\\\/g; s/"/\\"/g; s/\n/\\n/g; s/^/"/; s/$/\\n"/' "$1"; }

check "PackageKit answers on the bus" "$OPDBUS" plugins
if grep -qE '^packagekit +available' "$TAP_OUT"; then ok "the packagekit plugin is available"; else not_ok "the packagekit plugin is available" "$(cat "$TAP_OUT")"; fi

# 0. Debian's mirror, reached through the host (sandbox --nat). The image's own Debian source is replaced by
# one the document manages (with Debian's archive keys as its key): plan adds it and refreshes; apply has
# PackageKit refresh the package lists from the mirror, resolve hello and download and install it from there.
# No mirror, no test: this fails rather than skips (PackageKit's stall timeout is the limit of a step).
check "Debian's mirror resolves (DNS through the host)" getent hosts deb.debian.org
for f in /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources; do [ -f "$f" ] && mv "$f" "$f.off"; done
apt-get remove -y -q hello >/dev/null 2>&1
doc "$T/mirror.json" "{\"repositories\": {\"opdbus-pk-debian\": {\"uris\": [\"http://deb.debian.org/debian\"],
  \"suites\": [\"bookworm\"], \"components\": [\"main\"], \"key\": $(json_string "$REPO/debian.asc")}},
  \"packages\": {\"hello\": {}}}"
expect "plan adds Debian's source, refreshes, installs hello (exit 2)" 2 "$OPDBUS" plan "$T/mirror.json"
contains "the plan adds the source" "add repository opdbus-pk-debian (http://deb.debian.org/debian bookworm)"
contains "the plan refreshes" "refresh the package lists"
contains "the plan installs hello" "install 1 package: hello"
expect "apply: PackageKit refreshes from Debian's mirror and installs hello" 0 "$OPDBUS" apply "$T/mirror.json"
contains "PackageKit refreshed the package lists (progress lines)" "packagekit: refresh"
contains "hello was downloaded from the mirror" "packagekit: install: download"
check "hello is installed" installed hello
expect "a second plan is empty" 0 "$OPDBUS" plan "$T/mirror.json"

# 1. install hello: plan, apply with progress, plan again empty
apt-get remove -y -q hello >/dev/null 2>&1
doc "$T/hello.json" '{"packages": {"hello": {}}}'
expect "plan shows the install (exit 2)" 2 "$OPDBUS" plan "$T/hello.json"
contains "the plan says what it installs" "install 1 package: hello"
expect "apply installs hello through PackageKit" 0 "$OPDBUS" apply "$T/hello.json"
contains "progress lines appear (one per step and status)" "packagekit: install"
check "hello is installed" installed hello
expect "a second plan is empty" 0 "$OPDBUS" plan "$T/hello.json"

# 1b. a converged document plans from dpkg's database: no PackageKit transaction (PackageKit's Resolve can
# spend minutes in "loading-cache" on a fresh system). With packagekitd stopped and masked, so that nothing
# can start it, the plan still succeeds and is empty; what needs PackageKit fails, saying why, and no hang.
systemctl stop packagekit.service
systemctl mask packagekit.service >/dev/null 2>&1
is "packagekit is stopped and masked" masked systemctl is-enabled packagekit.service
# The journal's position now: whatever packagekitd logs from here on comes after this cursor.
cursor=$(journalctl -q -n 0 --show-cursor --no-pager 2>/dev/null | sed -n 's/^-- cursor: //p')
doc "$T/converged.json" '{"packages": {"hello": {}, "packagekit": {}, "nope-op-dbus-xyz": {"state": "absent"}}}'
expect "with PackageKit masked, a converged document plans (empty)" 0 timeout 120 "$OPDBUS" plan "$T/converged.json"
if systemctl is-active -q packagekit.service; then not_ok "the plan did not start PackageKit"; else ok "the plan did not start PackageKit"; fi
doc "$T/cowsay.json" '{"packages": {"cowsay": {}}}'
expect "with PackageKit masked, a package that is not installed fails the plan" 1 timeout 120 "$OPDBUS" plan "$T/cowsay.json"
contains "the error names the packages and why PackageKit cannot be used" "PackageKit is needed to plan cowsay"
contains "... (not running, cannot be started)" "is not running and cannot be started"
journalctl -q -u packagekit.service --after-cursor "$cursor" --no-pager >"$TAP_OUT" 2>&1
if [ -n "$cursor" ] && ! grep -qi 'transaction' "$TAP_OUT"; then
  ok "no PackageKit transaction ran meanwhile (its journal)"
else
  not_ok "no PackageKit transaction ran meanwhile (its journal)" "cursor '$cursor'" "$(cat "$TAP_OUT")"
fi
systemctl unmask packagekit.service >/dev/null 2>&1
expect "unmasked, PackageKit resolves again (cowsay: an install to plan)" 2 "$OPDBUS" plan "$T/cowsay.json"

# 2. show round-trips
"$OPDBUS" show --plugin packagekit >"$T/show.json" 2>"$T/show.err"
cp "$T/show.json" "$TAP_OUT"
contains "show lists hello (manually installed)" '"hello"'
contains "show lists packagekit (installed by name)" '"packagekit"'
lacks "show leaves out what apt installed automatically (libpackagekit-glib2-18)" '"libpackagekit-glib2-18"'
expect "show plans to nothing" 0 "$OPDBUS" plan "$T/show.json"

# 3. drift behind op-dbus's back is found and corrected
apt-get remove -y -q hello >/dev/null 2>&1
expect "a package removed behind op-dbus's back is drift" 2 "$OPDBUS" plan "$T/hello.json"
# On a terminal (script(1) gives it one) progress is a bar redrawn in place.
expect "apply corrects it (on a terminal)" 0 script -qec "$OPDBUS apply $T/hello.json" /dev/null
if grep -q $'\r' "$TAP_OUT" && grep -qE 'packagekit: \[[#?-]+\] +[0-9?]+%' "$TAP_OUT"; then
  ok "a progress bar is drawn on a terminal"
else
  not_ok "a progress bar is drawn on a terminal" "$(tr '\r' '\n' <"$TAP_OUT" | head -c 3000)"
fi
check "hello is installed again" installed hello

# 4. an unknown package: plan and apply fail naming it; nothing else of the document is installed
apt-get remove -y -q cowsay >/dev/null 2>&1
doc "$T/unknown.json" '{"packages": {"cowsay": {}, "nope-op-dbus-xyz": {}}}'
expect "plan with an unknown package fails" 1 "$OPDBUS" plan "$T/unknown.json"
contains "the plan error names the package" "unknown package nope-op-dbus-xyz"
expect "apply with an unknown package fails" 1 "$OPDBUS" apply "$T/unknown.json"
contains "the apply error names the package" "nope-op-dbus-xyz"
if installed cowsay; then not_ok "nothing else from that document was installed"; else ok "nothing else from that document was installed"; fi

# 5. removal is destructive
doc "$T/absent.json" '{"packages": {"hello": {"state": "absent"}}}'
expect "removal without --allow-destructive is refused" 1 "$OPDBUS" apply "$T/absent.json"
check "hello is still installed" installed hello
expect "removal with --allow-destructive" 0 "$OPDBUS" apply --allow-destructive "$T/absent.json"
if installed hello; then not_ok "hello is removed"; else ok "hello is removed"; fi
expect "plan after the removal is empty" 0 "$OPDBUS" plan "$T/absent.json"

# 6. a local repository: a wrong key is refused with apt's reason and installs nothing; the right key works.
# Debian's source is set aside for the rest: a refresh is then about the repository under test alone (and
# its failure is that repository's).
for f in /etc/apt/sources.list.d/opdbus-pk-debian.sources; do [ -f "$f" ] && mv "$f" "$f.off"; done
repo_doc() {  # repo_doc FILE KEYFILE
  doc "$1" "{\"repositories\": {\"opdbus-test\": {\"uris\": [\"file:$REPO/repo\"], \"suites\": [\"./\"], \"key\": $(json_string "$2")}},
             \"packages\": {\"opdbus-pk-hello\": {}}}"
}
repo_doc "$T/wrong.json" "$REPO/wrong.asc"
expect "validate the repository document" 0 "$OPDBUS" validate "$T/wrong.json"
expect "plan adds the repository, refreshes, installs (exit 2)" 2 "$OPDBUS" plan "$T/wrong.json"
contains "the plan refreshes the package lists" "refresh the package lists"
expect "apply with the wrong key fails" 1 "$OPDBUS" apply "$T/wrong.json"
if grep -qiE 'NO_PUBKEY|not signed|signature|GPG error|public key' "$TAP_OUT"; then
  ok "the failure gives apt's reason"
  _tap_detail "$(grep -iE 'NO_PUBKEY|not signed|signature|GPG error|public key' "$TAP_OUT" | head -n 3)"
else
  not_ok "the failure gives apt's reason" "$(cat "$TAP_OUT")"
fi
if installed opdbus-pk-hello; then not_ok "nothing from the repository was installed"; else ok "nothing from the repository was installed"; fi
check "the sources file points at the key" grep -qx "Signed-By: /etc/apt/keyrings/opdbus-test.asc" /etc/apt/sources.list.d/opdbus-test.sources
repo_doc "$T/good.json" "$REPO/good.asc"
expect "apply with the right key installs the repository's package" 0 "$OPDBUS" apply "$T/good.json"
check "opdbus-pk-hello is installed" installed opdbus-pk-hello
expect "a second plan is empty" 0 "$OPDBUS" plan "$T/good.json"
# versions. PackageKit offers the candidate version (and the installed one) only: a pin to another version
# is a plan error saying what it offers; "latest" upgrades through UpdatePackages.
with_state() { doc "$1" "{\"repositories\": {\"opdbus-test\": {\"uris\": [\"file:$REPO/repo\"], \"suites\": [\"./\"], \"key\": $(json_string "$REPO/good.asc")}},
             \"packages\": {\"opdbus-pk-hello\": $2}}"; }
with_state "$T/pin2.json" '{"version": "2.0"}'
expect "a pin to the installed candidate is in sync" 0 "$OPDBUS" plan "$T/pin2.json"
with_state "$T/pin1.json" '{"version": "1.0"}'
expect "a pin to a version PackageKit does not offer fails the plan" 1 "$OPDBUS" plan "$T/pin1.json"
contains "the plan error names the version and what is offered" "version 1.0 is not available"
apt-get install -y -q --allow-downgrades opdbus-pk-hello=1.0 >/dev/null 2>&1
is "version 1.0 installed behind op-dbus's back" 1.0 dpkg-query -W -f '${Version}' opdbus-pk-hello
with_state "$T/latest.json" '{"state": "latest"}'
expect "latest plans an upgrade" 2 "$OPDBUS" plan "$T/latest.json"
contains "the plan says it upgrades" "upgrade 1 package: opdbus-pk-hello"
expect "apply upgrades through PackageKit" 0 "$OPDBUS" apply "$T/latest.json"
is "version 2.0 is installed" 2.0 dpkg-query -W -f '${Version}' opdbus-pk-hello
expect "a second plan of latest is empty" 0 "$OPDBUS" plan "$T/latest.json"
"$OPDBUS" show --plugin packagekit >"$T/show2.json" 2>/dev/null
cp "$T/show2.json" "$TAP_OUT"
contains "show lists the repository" '"opdbus-test"'
expect "show (with the repository) plans to nothing" 0 "$OPDBUS" plan "$T/show2.json"

# 7. a transaction without progress for stall_timeout seconds fails, saying so (opdbus-pk-slow's postinst
# is silent for 20 s)
doc "$T/slow.json" '{"stall_timeout": 5, "packages": {"opdbus-pk-slow": {}}}'
start=$(date +%s)
expect "a transaction silent for longer than stall_timeout fails" 1 timeout 120 "$OPDBUS" apply "$T/slow.json"
took=$(($(date +%s) - start))
contains "the error says there was no progress" "no progress from PackageKit for 5 s"
if [ "$took" -lt 19 ]; then ok "it gave up before the postinst ended (${took} s)"; else not_ok "it gave up before the postinst ended (${took} s)"; fi
# The daemon finishes (or cancels) that transaction on its own; wait for it before going on.
for _ in $(seq 1 60); do pgrep -f 'opdbus-pk-slow|/var/lib/dpkg/info' >/dev/null || break; sleep 1; done
sleep 2

# 8. a daemon that does not answer: a clear error within the call timeout, not a hang
pid=$(systemctl show -p MainPID --value packagekit.service)
if [ -n "$pid" ] && [ "$pid" != 0 ]; then
  kill -STOP "$pid"
  start=$(date +%s)
  expect "a stopped packagekitd makes plan fail (no hang)" 1 timeout 120 "$OPDBUS" plan "$T/hello.json"
  took=$(($(date +%s) - start))
  kill -CONT "$pid"
  contains "the error says PackageKit did not answer" "did not answer"
  if [ "$took" -lt 100 ]; then ok "it gave up after the call timeout (${took} s)"; else not_ok "it gave up after the call timeout (${took} s)"; fi
else
  not_ok "packagekitd runs (to stop it)" "$(systemctl status packagekit.service 2>&1 | head -20)"
fi
tap_done
