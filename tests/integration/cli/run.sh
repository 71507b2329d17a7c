#!/usr/bin/env bash
# End-to-end checks of the command line: help, exit codes, JSON output, --current, the journal.
# usage: run.sh OPDBUS SRCDIR        (prints TAP)
set -u
OPDBUS=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out

for c in validate plan apply show plugins schema log sandbox; do
  expect "$c --help exits 0" 0 "$OPDBUS" "$c" --help
  contains "$c --help explains itself" "Usage"
done
expect "log verify --help" 0 "$OPDBUS" log verify --help
expect "--version" 0 "$OPDBUS" --version
if grep -qxE 'op-dbus [0-9]+\.[0-9]+\.[0-9]+' "$T/out"; then ok "--version prints the version"; else not_ok "--version prints the version" "$(cat "$T/out")"; fi
expect "unknown command exits 1" 1 "$OPDBUS" frobnicate
expect "no command exits 1" 1 "$OPDBUS"

# Validation errors: file, pointer, expected, found; exit 1.
cat >"$T/typo.json" <<'J'
{"version": 1, "plugins": {"systemd": {"services": {"ssh": {"state": "enbled"}}}}}
J
expect "invalid enum exits 1" 1 "$OPDBUS" validate "$T/typo.json"
contains "error names the file" "$T/typo.json"
contains "error names the pointer" "/plugins/systemd/services/ssh/state"
contains "error says what was found" '"enbled"'
expect "validate --json on invalid" 1 "$OPDBUS" validate --json "$T/typo.json"
"$OPDBUS" validate --json "$T/typo.json" >"$T/out" 2>/dev/null
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["valid"] is False and d["errors"][0]["pointer"]=="/plugins/systemd/services/ssh/state"' "$T/out" 2>/dev/null; then
  ok "validate --json is machine-readable"
else
  not_ok "validate --json is machine-readable" "$(cat "$T/out")"
fi
echo '{"version": 2, "plugins": {}}' >"$T/v2.json"
expect "unknown version exits 1" 1 "$OPDBUS" validate "$T/v2.json"
contains "unknown version names the supported one" "supports version 1"
echo '{"version": 1, "plugins": {"netwrok": {}}}' >"$T/np.json"
expect "unknown plugin exits 1" 1 "$OPDBUS" validate "$T/np.json"
contains "unknown plugin lists known ones" "known plugins: "
contains "... including systemd" "systemd"
expect "missing file exits 1" 1 "$OPDBUS" validate "$T/nope.json"
contains "missing file is named" "nope.json"

# plan --current: no privileges, exit codes 0 / 2 / 1.
cat >"$T/want.json" <<'J'
{"version": 1, "plugins": {"systemd": {"services": {"ssh": {"state": "enabled"}}}}}
J
cat >"$T/host-drift.json" <<'J'
{"version": 1, "plugins": {"systemd": {"services": {"ssh.service": {"state": "disabled"}}}}}
J
cat >"$T/host-same.json" <<'J'
{"version": 1, "plugins": {"systemd": {"services": {"ssh.service": {"state": "enabled"}}}}}
J
expect "plan --current with drift exits 2" 2 "$OPDBUS" plan --current "$T/host-drift.json" "$T/want.json"
contains "plan shows the change" "systemd/services/ssh"
expect "plan --current in sync exits 0" 0 "$OPDBUS" plan --current "$T/host-same.json" "$T/want.json"
"$OPDBUS" plan --json --current "$T/host-drift.json" "$T/want.json" >"$T/p1.json" 2>/dev/null
"$OPDBUS" plan --json --current "$T/host-drift.json" "$T/want.json" >"$T/p2.json" 2>/dev/null
if cmp -s "$T/p1.json" "$T/p2.json" && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["in_sync"] is False and d["actions"]' "$T/p1.json"; then
  ok "plan --json is valid JSON and byte-identical across runs"
else
  not_ok "plan --json is valid JSON and byte-identical across runs" "$(head -c 1500 "$T/p1.json")"
fi
if "$OPDBUS" plan --current "$T/host-drift.json" "$T/want.json" | grep -q $'\033'; then
  not_ok "no colour when stdout is not a terminal"
else
  ok "no colour when stdout is not a terminal"
fi
expect "--plugin NAME does not swallow the state file" 0 "$OPDBUS" plan --plugin systemd --current "$T/host-same.json" "$T/want.json"
expect "--plugin before the command works too" 0 "$OPDBUS" --plugin systemd plan --current "$T/host-same.json" "$T/want.json"
expect "--plugin with an unknown name exits 1" 1 "$OPDBUS" plan --plugin netwrok --current "$T/host-same.json" "$T/want.json"
contains "... listing the known plugins" "known plugins"

expect "schema prints the top-level schema" 0 "$OPDBUS" schema
contains "... which is draft-04" "draft-04"
expect "schema systemd" 0 "$OPDBUS" schema systemd
expect "schema for an unknown plugin exits 1" 1 "$OPDBUS" schema nope
expect "plugins lists every plugin" 0 "$OPDBUS" plugins --json
"$OPDBUS" plugins --json >"$T/out" 2>/dev/null
if python3 -c 'import json,sys; names={p["name"] for p in json.load(open(sys.argv[1]))}; assert {"systemd","storage","network","firewall","users","packagekit","lxc","kvm"} <= names' "$T/out"; then
  ok "plugins --json names all eight plugins"
else
  not_ok "plugins --json names all eight plugins" "$(cat "$T/out")"
fi

# Offline apply into a temporary root, then the journal.
R=$T/root
mkdir -p "$R/etc/systemd/system" "$R/lib/systemd/system"
cat >"$R/lib/systemd/system/demo.service" <<'U'
[Unit]
Description=Demo
[Service]
ExecStart=/bin/true
[Install]
WantedBy=multi-user.target
U
cat >"$T/demo.json" <<'J'
{"version": 1, "plugins": {"systemd": {
  "services": {"demo": {"state": "enabled"}},
  "custom_units": {"extra.service": {"content": "[Unit]\nDescription=Extra\n[Service]\nExecStart=/bin/true\n"}}}}}
J
export OPDBUS_LOCK_FILE=$T/lock
expect "plan --root before apply exits 2" 2 "$OPDBUS" plan --root "$R" "$T/demo.json"
expect "apply --root exits 0" 0 "$OPDBUS" apply --root "$R" "$T/demo.json"
if [ -L "$R/etc/systemd/system/multi-user.target.wants/demo.service" ] && [ -f "$R/etc/systemd/system/extra.service" ]; then
  ok "apply --root enabled the unit and wrote the custom unit"
else
  not_ok "apply --root enabled the unit and wrote the custom unit" "$(find "$R" | head -20)"
fi
expect "second plan --root exits 0" 0 "$OPDBUS" plan --root "$R" "$T/demo.json"
expect "log lists the applied actions" 0 "$OPDBUS" log --root "$R"
contains "... including the enable" "systemd/services/demo"
expect "log verify on an intact journal" 0 "$OPDBUS" log verify --root "$R"
J=$R/var/lib/op-dbus/journal.jsonl
sed -i '1s/"ok"/"OK"/' "$J"
expect "log verify on an altered journal exits 1" 1 "$OPDBUS" log verify --root "$R"
contains "... naming the first altered entry" "entry 1"

# One apply at a time per tree: the tree's own lock, beside its journal.
exec 9<"$R/var/lib/op-dbus/apply.lock"
flock -n 9
expect "a second apply while the lock is held exits 1" 1 "$OPDBUS" apply --root "$R" "$T/demo.json"
contains "... saying another apply is running" "another op-dbus apply is running"
exec 9>&-

tap_done
