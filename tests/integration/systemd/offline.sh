#!/usr/bin/env bash
# op-dbus --root against `systemctl --root`: two copies of one tree, one changed by systemctl, one by
# op-dbus apply --root; the resulting /etc trees (every path and symlink target) must be identical.
# Also: op-dbus reads a systemctl-made tree as in sync, and reports the states systemctl is-enabled reports.
# usage: offline.sh OPDBUS        (prints TAP; needs no container and no running systemd)
set -u
OPDBUS=$1
if ! command -v systemctl >/dev/null 2>&1; then
  echo "1..0 # SKIP systemctl is not installed"
  exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
tree() { (cd "$1" && find etc -printf '%p -> %l\n' | LC_ALL=C sort); }
same_tree() {  # same_tree NAME
  if diff -u <(tree "$T/sys") <(tree "$T/opd") >"$T/diff"; then
    ok "$1"
  else
    not_ok "$1" "--- systemctl --root  +++ op-dbus --root" "$(cat "$T/diff")"
  fi
}
state() {  # state FILE JSON-FOR-THE-SYSTEMD-SECTION
  printf '{"version": 1, "plugins": {"systemd": %s}}\n' "$2" >"$1"
}

# The base tree: packaged units with each kind of [Install] rule.
B=$T/base
mkdir -p "$B/etc/systemd/system" "$B/lib/systemd/system" "$B/usr/lib/systemd/system"
u() { printf '%b' "$2" >"$B/$1"; }
u lib/systemd/system/web.service '[Unit]\nDescription=Web\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=www.service\n'
u lib/systemd/system/db.service '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nRequiredBy=web.service\nAlso=db-backup.timer\n'
u lib/systemd/system/db-backup.timer '[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n'
u lib/systemd/system/db-backup.service '[Service]\nType=oneshot\nExecStart=/bin/true\n'
u lib/systemd/system/worker@.service '[Service]\nExecStart=/bin/true %i\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=main\n'
u lib/systemd/system/cache.service '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target graphical.target\n'
u lib/systemd/system/old.service '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=old-alias.service\n'
u usr/lib/systemd/system/late.service '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=default.target\n'
u lib/systemd/system/static.service '[Service]\nExecStart=/bin/true\n'
systemctl --root="$B" enable old.service >/dev/null 2>&1

cp -a "$B" "$T/sys"
cp -a "$B" "$T/opd"

# 1. enable: WantedBy=, RequiredBy=, Alias=, Also=, a template with DefaultInstance=, /usr/lib.
systemctl --root="$T/sys" enable web.service db.service worker@.service worker@extra.service late.service >/dev/null 2>&1
state "$T/enable.json" '{"services": {"web": {"state": "enabled"}, "db.service": {"state": "enabled"},
  "worker@.service": {"state": "enabled"}, "worker@extra": {"state": "enabled"}, "late": {"state": "enabled"}}}'
check "apply --root enables" "$OPDBUS" apply --root "$T/opd" "$T/enable.json"
same_tree "enable: same symlinks as systemctl --root enable"
check "second plan --root is empty (exit 0)" "$OPDBUS" plan --root "$T/opd" "$T/enable.json"
check "a tree enabled by systemctl plans empty too" "$OPDBUS" plan --root "$T/sys" "$T/enable.json"

# 2. op-dbus reads unit file states as systemctl does.
"$OPDBUS" show --root "$T/sys" --plugin systemd >"$T/show.json" 2>"$T/show.err"
mismatch=""
for unit in web.service db.service db-backup.service late.service cache.service old.service static.service \
            www.service; do
  want=$(systemctl --root="$T/sys" is-enabled "$unit" 2>/dev/null)
  got=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["plugins"]["systemd"].get("services", {})
print(s.get(sys.argv[2], {}).get("state", "(not listed)"))' "$T/show.json" "$unit")
  case $want in enabled|disabled|masked) ;; *) want="(not listed)" ;; esac
  [ "$want" = "$got" ] || mismatch="$mismatch $unit: systemctl $want, op-dbus $got;"
done
if [ -z "$mismatch" ]; then ok "show --root reports the states systemctl is-enabled reports"; else not_ok "show --root states" "$mismatch"; fi
state "$T/timerstate.json" '{"services": {"db-backup.timer": {"state": "enabled"}}}'
check "Also= unit seen enabled in the systemctl tree" "$OPDBUS" plan --root "$T/sys" "$T/timerstate.json"

# 3. mask (and mask wins over an enabled unit's symlinks, which stay, as with systemctl).
systemctl --root="$T/sys" enable cache.service >/dev/null 2>&1
systemctl --root="$T/opd" enable cache.service >/dev/null 2>&1
systemctl --root="$T/sys" mask cache.service >/dev/null 2>&1
state "$T/mask.json" '{"services": {"cache": {"state": "masked"}}}'
check "apply --root masks" "$OPDBUS" apply --root "$T/opd" "$T/mask.json"
same_tree "mask: same tree as systemctl --root mask"
check "plan after mask is empty" "$OPDBUS" plan --root "$T/opd" "$T/mask.json"

# 4. disable, with Also= and aliases removed; unmask then disable.
systemctl --root="$T/sys" disable db.service web.service old.service worker@.service >/dev/null 2>&1
systemctl --root="$T/sys" unmask cache.service >/dev/null 2>&1
systemctl --root="$T/sys" disable cache.service >/dev/null 2>&1
state "$T/disable.json" '{"services": {"db": {"state": "disabled"}, "web": {"state": "disabled"},
  "old": {"state": "disabled"}, "worker@": {"state": "disabled"}, "cache": {"state": "disabled"}}}'
check "apply --root disables" "$OPDBUS" apply --root "$T/opd" "$T/disable.json"
same_tree "disable: same tree as systemctl --root disable/unmask"
check "plan after disable is empty" "$OPDBUS" plan --root "$T/opd" "$T/disable.json"

# 5. custom unit and timer written by op-dbus, compared with the same files enabled by systemctl.
state "$T/custom.json" '{"custom_units": {"app.service": {"content": "[Unit]\nDescription=App\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=application.service", "enabled": true}},
  "timers": {"nightly": {"on_calendar": "*-*-* 02:00", "unit": "app.service", "persistent": true}}}'
check "apply --root writes a custom unit and a timer" "$OPDBUS" apply --root "$T/opd" "$T/custom.json"
cp "$T/opd/etc/systemd/system/app.service" "$T/opd/etc/systemd/system/nightly.timer" "$T/sys/etc/systemd/system/"
systemctl --root="$T/sys" enable app.service nightly.timer >/dev/null 2>&1
same_tree "custom unit + timer: same tree as systemctl --root enable"
if [ "$(systemctl --root="$T/opd" is-enabled nightly.timer 2>&1)" = enabled ]; then
  ok "systemctl --root sees the timer enabled"
else
  not_ok "systemctl --root sees the timer enabled" "$(systemctl --root="$T/opd" is-enabled nightly.timer 2>&1)"
fi
check "plan after custom unit is empty" "$OPDBUS" plan --root "$T/opd" "$T/custom.json"
"$OPDBUS" show --root "$T/opd" --plugin systemd >"$T/show2.json" 2>/dev/null
check "show --root output plans empty" "$OPDBUS" plan --root "$T/opd" "$T/show2.json"

# 6. absent: the files and every symlink to them go.
state "$T/absent.json" '{"custom_units": {"app.service": {"state": "absent"}}, "timers": {"nightly": {"state": "absent"}}}'
check "apply --root removes the custom unit and timer" "$OPDBUS" apply --root "$T/opd" "$T/absent.json"
systemctl --root="$T/sys" disable app.service nightly.timer >/dev/null 2>&1
rm -f "$T/sys/etc/systemd/system/app.service" "$T/sys/etc/systemd/system/nightly.timer"
same_tree "absent: same tree as systemctl --root disable + rm"
check "plan after absent is empty" "$OPDBUS" plan --root "$T/opd" "$T/absent.json"

# 7. offline plans never start anything, and say why a unit cannot be enabled.
state "$T/run.json" '{"services": {"web": {"state": "enabled", "running": true}}}'
"$OPDBUS" plan --root "$T/opd" "$T/run.json" >"$T/out" 2>&1
if grep -q 'enable web.service' "$T/out" && ! grep -q 'start web' "$T/out"; then
  ok "offline plan enables but does not start"
else
  not_ok "offline plan enables but does not start" "$(cat "$T/out")"
fi
state "$T/static.json" '{"services": {"static": {"state": "enabled"}}}'
"$OPDBUS" apply --root "$T/opd" "$T/static.json" >"$T/out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'no \[Install\] section' "$T/out"; then
  ok "enabling a static unit fails with the reason"
else
  not_ok "enabling a static unit fails with the reason" "exit $rc" "$(cat "$T/out")"
fi

# 8. The documented custom-unit example applies to an empty tree and converges.
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
mkdir -p "$T/ex/etc/systemd/system"
check "examples/systemd-custom-app.json applies with --root" "$OPDBUS" apply --root "$T/ex" "$SRC/examples/systemd-custom-app.json"
check "examples/systemd-custom-app.json then plans empty" "$OPDBUS" plan --root "$T/ex" "$SRC/examples/systemd-custom-app.json"
if [ "$(systemctl --root="$T/ex" is-enabled cleanup-tmp.timer heartbeat.service 2>&1 | tr '\n' ' ')" = "enabled enabled " ]; then
  ok "systemctl --root sees the example's units enabled"
else
  not_ok "systemctl --root sees the example's units enabled" "$(systemctl --root="$T/ex" is-enabled cleanup-tmp.timer heartbeat.service 2>&1)"
fi

# 9. Confinement: a tree whose directories are symlinks (absolute and relative, pointing out of DIR and into
#    it). op-dbus resolves them as a chroot would (an absolute target means DIR/target, ".." stops at DIR), so
#    nothing outside DIR changes, files land where a chroot would put them, and "absent" deletes only there.
C=$T/confine
D=$C/root
O=$C/outside                                  # outside DIR: must stay byte for byte as it is
mkdir -p "$D/lib/systemd/system" "$D/etc/systemd" "$O/units" "$O/wants" "$O/dropin" "$D$O/units" "$D$O/dropin" "$D/wants" \
         "$D/dropin-store"
printf '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' >"$D/lib/systemd/system/web.service"
# Decoys outside with the names op-dbus writes and removes.
printf 'outside unit\n' >"$O/units/app.service"
printf 'outside drop-in\n' >"$O/dropin/10-x.conf"
ln -s /lib/systemd/system/web.service "$O/wants/web.service"
ln -s /etc/systemd/system/app.service "$O/wants/app.service"
ln -s "$O/units" "$D/etc/systemd/system"                              # absolute, out of DIR (host view)
ln -s ../../../../../../../../../../wants "$D$O/units/multi-user.target.wants"   # relative, climbs out
ln -s "$O/dropin" "$D$O/units/app.service.d"                          # absolute drop-in dir, out of DIR
ln -s ../../../../../../../../../../dropin-store "$D$O/units/web.service.d"      # relative, into DIR's top
outside_sum() { (cd "$C" && find outside -printf '%p %y %l\n' | LC_ALL=C sort && find outside -type f -exec sha256sum {} + | LC_ALL=C sort); }
before=$(outside_sum)
state "$T/confine.json" '{"services": {"web": {"state": "enabled", "dropins": {"10-limits.conf": "[Service]\nLimitNOFILE=1024"}}},
  "custom_units": {"app.service": {"content": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target", "enabled": true,
                                   "dropins": {"10-x.conf": "[Service]\nNice=1"}}}}'
check "confinement: apply --root through symlinked directories" "$OPDBUS" apply --root "$D" "$T/confine.json"
if [ "$(outside_sum)" = "$before" ]; then ok "confinement: apply changed nothing outside DIR"; else not_ok "confinement: apply changed nothing outside DIR" "$(diff <(echo "$before") <(outside_sum))"; fi
missing=""
for f in "$D$O/units/app.service" "$D/wants/web.service" "$D/wants/app.service" "$D$O/dropin/10-x.conf" \
         "$D/dropin-store/10-limits.conf"; do
  [ -e "$f" ] || [ -L "$f" ] || missing="$missing ${f#$D}"
done
if [ -z "$missing" ]; then ok "confinement: files land where a chroot would put them"; else not_ok "confinement: files land where a chroot would put them" "missing in DIR:$missing" "$(cd "$D" && find . | sort)"; fi
if [ "$(readlink "$D/wants/app.service")" = "/etc/systemd/system/app.service" ]; then ok "confinement: links carry in-system targets"; else not_ok "confinement: links carry in-system targets" "$(readlink "$D/wants/app.service")"; fi
# (systemctl --root itself is no referee here: it follows DIR/etc/systemd/system out of DIR to the decoy.)
check "confinement: second plan is empty" "$OPDBUS" plan --root "$D" "$T/confine.json"
state "$T/confine-absent.json" '{"custom_units": {"app.service": {"state": "absent"}}}'
check "confinement: apply --root absent" "$OPDBUS" apply --root "$D" "$T/confine-absent.json"
if [ "$(outside_sum)" = "$before" ]; then ok "confinement: absent deleted nothing outside DIR"; else not_ok "confinement: absent deleted nothing outside DIR" "$(diff <(echo "$before") <(outside_sum))"; fi
if [ ! -e "$D$O/units/app.service" ] && [ ! -L "$D/wants/app.service" ] && [ -L "$D/wants/web.service" ]; then
  ok "confinement: absent removed the unit and its link inside DIR only"
else
  not_ok "confinement: absent removed the unit and its link inside DIR only" "$(cd "$D" && find . | sort)"
fi

tap_done
