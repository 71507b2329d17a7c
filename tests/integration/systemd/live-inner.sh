#!/usr/bin/env bash
# The systemd plugin against a real systemd (run inside a throwaway container: see live.sh).
# Covers enable/disable/mask, start/stop, custom units, timers, restart on change, a failing unit reported in
# systemd's own words, idempotence, drift made behind op-dbus's back, show round-trip, and removal.
# usage: live-inner.sh [OPDBUS]      (prints TAP)
set -u
OPDBUS=${1:-op-dbus}
. "$(dirname "$0")/../../lib/tap.sh"
. "$(dirname "$0")/../../lib/sandbox.sh"
sandbox_inside

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
TAP_OUT=$T/out
doc() {  # doc FILE SYSTEMD-SECTION
  printf '{"version": 1, "plugins": {"systemd": %s}}\n' "$2" >"$1"
}

WEB='[Unit]\nDescription=op-dbus test web\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target'
WEB2='[Unit]\nDescription=op-dbus test web\n[Service]\nExecStart=/bin/sleep infinity\nEnvironment=VERSION=2\n[Install]\nWantedBy=multi-user.target'
JOB='[Unit]\nDescription=op-dbus test job\n[Service]\nType=oneshot\nExecStart=/bin/true'

ENABLED='{"state": "enabled", "running": true}'
base() {  # base FILE WEB-CONTENT [OPD-EXTRA-SERVICE-JSON]
  local extra=${3:-$ENABLED}
  doc "$1" "{
    \"custom_units\": {
      \"opd-web.service\": {\"content\": \"$2\", \"enabled\": true, \"running\": true},
      \"opd-job.service\": {\"content\": \"$JOB\"}},
    \"timers\": {\"opd-job\": {\"on_calendar\": \"*-*-* 04:00:00\", \"description\": \"op-dbus test timer\"}},
    \"services\": {\"opd-extra\": $extra}}"
}

# A unit as a package would ship it, for services (a unit file in /etc/systemd/system could not be masked).
printf '[Unit]\nDescription=op-dbus test packaged unit\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' \
  >/usr/lib/systemd/system/opd-extra.service
systemctl daemon-reload

# 1. Create custom units and a timer, enable and start them.
base "$T/s1.json" "$WEB"
expect "validate the first state" 0 "$OPDBUS" validate "$T/s1.json"
expect "plan shows changes (exit 2)" 2 "$OPDBUS" plan "$T/s1.json"
expect "apply creates, enables and starts" 0 "$OPDBUS" apply "$T/s1.json"
is "custom unit enabled" enabled systemctl is-enabled opd-web.service
is "custom unit running" active systemctl is-active opd-web.service
is "service enabled through services" enabled systemctl is-enabled opd-extra.service
is "service started through services" active systemctl is-active opd-extra.service
is "timer enabled" enabled systemctl is-enabled opd-job.timer
is "timer running" active systemctl is-active opd-job.timer
systemctl list-timers --all --no-pager >"$T/out" 2>&1
contains "timer listed by systemctl list-timers" "opd-job.timer"
if head -n1 /etc/systemd/system/opd-job.timer | grep -q '^# Managed by op-dbus'; then
  ok "timer file is marked as managed by op-dbus"
else
  not_ok "timer file is marked as managed by op-dbus" "$(head -n3 /etc/systemd/system/opd-job.timer)"
fi
expect "second plan is empty (exit 0)" 0 "$OPDBUS" plan "$T/s1.json"

# 2. mask, then unmask + enable, then disable + stop.
base "$T/mask.json" "$WEB" '{"state": "masked", "running": false}'
expect "apply masks and stops" 0 "$OPDBUS" apply "$T/mask.json"
is "unit masked" masked systemctl is-enabled opd-extra.service
is "masked unit stopped" inactive systemctl is-active opd-extra.service
expect "plan after mask is empty" 0 "$OPDBUS" plan "$T/mask.json"
expect "apply unmasks, enables and starts" 0 "$OPDBUS" apply "$T/s1.json"
is "unit enabled again" enabled systemctl is-enabled opd-extra.service
is "unit running again" active systemctl is-active opd-extra.service
base "$T/disable.json" "$WEB" '{"state": "disabled", "running": false}'
expect "apply disables and stops" 0 "$OPDBUS" apply "$T/disable.json"
is "unit disabled" disabled systemctl is-enabled opd-extra.service
is "unit stopped" inactive systemctl is-active opd-extra.service
expect "plan after disable is empty" 0 "$OPDBUS" plan "$T/disable.json"

# 3. Drift behind op-dbus's back is detected and corrected.
expect "back to the first state" 0 "$OPDBUS" apply "$T/s1.json"
systemctl disable opd-web.service >/dev/null 2>&1
systemctl stop opd-web.service opd-job.timer >/dev/null 2>&1
expect "plan detects drift (exit 2)" 2 "$OPDBUS" plan "$T/s1.json"
contains "drift: disabled unit seen" "enable opd-web.service"
contains "drift: stopped unit seen" "start opd-web.service"
contains "drift: stopped timer seen" "start opd-job.timer"
expect "apply corrects drift" 0 "$OPDBUS" apply "$T/s1.json"
is "drift corrected: enabled" enabled systemctl is-enabled opd-web.service
is "drift corrected: running" active systemctl is-active opd-web.service
is "drift corrected: timer running" active systemctl is-active opd-job.timer
expect "plan after correction is empty" 0 "$OPDBUS" plan "$T/s1.json"

# 4. A changed unit file, then a new drop-in, restart the running unit.
pid1=$(systemctl show -p MainPID --value opd-web.service)
base "$T/s2.json" "$WEB2"
"$OPDBUS" plan "$T/s2.json" >"$T/out" 2>&1
contains "content change plans a restart" "restart opd-web.service"
contains "content change plans a daemon-reload" "daemon-reload"
expect "apply the new content" 0 "$OPDBUS" apply "$T/s2.json"
pid2=$(systemctl show -p MainPID --value opd-web.service)
if [ "$pid1" != "$pid2" ] && [ "$pid2" != 0 ]; then ok "unit restarted (MainPID $pid1 -> $pid2)"; else not_ok "unit restarted" "MainPID $pid1 -> $pid2"; fi
is "new content is live" "Environment=VERSION=2" systemctl show -p Environment opd-web.service
doc "$T/dropin.json" '{"custom_units": {"opd-web.service": {"content": "'"$WEB2"'",
  "dropins": {"10-extra.conf": "[Service]\nEnvironment=VERSION=2 EXTRA=1"}}}}'
expect "apply a drop-in" 0 "$OPDBUS" apply "$T/dropin.json"
is "drop-in is live" "Environment=VERSION=2 EXTRA=1" systemctl show -p Environment opd-web.service
expect "plan after drop-in is empty" 0 "$OPDBUS" plan "$T/dropin.json"

# 5. A unit that fails to start fails the apply with systemd's reason.
doc "$T/bad.json" '{"custom_units": {"opd-bad.service": {"content": "[Service]\nType=oneshot\nExecStart=/bin/sh -c \"exit 3\"", "running": true}}}'
expect "failing unit: apply exits 1" 1 "$OPDBUS" apply "$T/bad.json"
contains "failure names the unit" "start opd-bad.service"
contains "failure carries systemd's job result" "job failed"
contains "failure carries the unit result" "unit result 'exit-code'"
contains "failure carries the exit status" "ExecMainStatus=3"
doc "$T/false.json" '{"custom_units": {"opd-false.service": {"content": "[Service]\nExecStart=/bin/false", "running": true}}}'
expect "simple service that exits at once: apply exits 1" 1 "$OPDBUS" apply "$T/false.json"
contains "simple service failure carries the unit result" "unit result 'exit-code'"
contains "simple service failure carries the exit status" "ExecMainStatus=1"
doc "$T/nobad.json" '{"custom_units": {"opd-bad.service": {"state": "absent"}, "opd-false.service": {"state": "absent"}}}'
expect "failed unit can be removed" 0 "$OPDBUS" apply "$T/nobad.json"

# 6. show round-trips.
"$OPDBUS" show --plugin systemd >"$T/show.json" 2>"$T/show.err"
if [ -s "$T/show.json" ]; then ok "show prints a document"; else not_ok "show prints a document" "$(cat "$T/show.err")"; fi
expect "show output validates" 0 "$OPDBUS" validate "$T/show.json"
expect "plan of show output is empty" 0 "$OPDBUS" plan "$T/show.json"

# 7. absent removes the unit, its drop-ins, its symlinks, and the timer.
doc "$T/absent.json" '{"custom_units": {"opd-web.service": {"state": "absent"}, "opd-job.service": {"state": "absent"}},
  "timers": {"opd-job.timer": {"state": "absent"}}}'
expect "apply absent" 0 "$OPDBUS" apply "$T/absent.json"
if [ ! -e /etc/systemd/system/opd-web.service ] && [ ! -e /etc/systemd/system/opd-web.service.d ] &&
   [ ! -L /etc/systemd/system/multi-user.target.wants/opd-web.service ]; then
  ok "unit file, drop-ins and symlinks removed"
else
  not_ok "unit file, drop-ins and symlinks removed" "$(ls -la /etc/systemd/system /etc/systemd/system/multi-user.target.wants 2>&1)"
fi
is "removed unit is stopped" inactive systemctl is-active opd-web.service
systemctl list-timers --all --no-pager >"$T/out" 2>&1
if ! grep -q opd-job.timer "$T/out"; then ok "timer gone from list-timers"; else not_ok "timer gone from list-timers" "$(cat "$T/out")"; fi
expect "plan after absent is empty" 0 "$OPDBUS" plan "$T/absent.json"

# 8. The documented examples apply for real and converge.
EX=${OPDBUS_EXAMPLES:-/src/examples}
# The example watches e2scrub_reap as a regular install has it (a minimal rootfs may not have run its preset).
systemctl enable e2scrub_reap.service >/dev/null 2>&1
for ex in systemd-services systemd-custom-app; do
  expect "examples/$ex.json applies" 0 "$OPDBUS" apply "$EX/$ex.json"
  expect "examples/$ex.json then plans empty" 0 "$OPDBUS" plan "$EX/$ex.json"
done
is "example: networkd running" active systemctl is-active systemd-networkd.service
is "example: networkd drop-in live" "RestartUSec=2s" systemctl show -p RestartUSec systemd-networkd.service
is "example: apt-daily.timer disabled" disabled systemctl is-enabled apt-daily.timer
is "example: apt-daily-upgrade.timer masked" masked systemctl is-enabled apt-daily-upgrade.timer
is "example: heartbeat running" active systemctl is-active heartbeat.service
is "example: cleanup timer enabled" enabled systemctl is-enabled cleanup-tmp.timer
systemctl disable e2scrub_reap.service >/dev/null 2>&1
"$OPDBUS" plan "$EX/systemd-services.json" >"$T/out" 2>&1
rc=$?
if [ "$rc" -eq 2 ] && grep -qF "enable e2scrub_reap.service" "$T/out"; then
  ok "observe: drift on a watched unit is reported"
else
  not_ok "observe: drift on a watched unit is reported" "exit $rc" "$(cat "$T/out")"
fi
expect "observe: apply leaves the watched unit alone" 0 "$OPDBUS" apply "$EX/systemd-services.json"
is "observe: watched unit still disabled" disabled systemctl is-enabled e2scrub_reap.service

# 9. Many units in one apply: one EnableUnitFiles call, one daemon-reload, all start jobs together.
units=()
for i in $(seq 1 12); do
  printf '[Unit]\nDescription=op-dbus test many %s\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' \
    "$i" >"/lib/systemd/system/opd-many$i.service"
  units+=("opd-many$i.service")
done
systemctl daemon-reload
{
  printf '{"version": 1, "plugins": {"systemd": {"services": {'
  for i in $(seq 1 12); do printf '%s"opd-many%s": {"state": "enabled", "running": true}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done
  printf '}}}}\n'
} >"$T/many.json"
reloads() { journalctl -b -o cat _PID=1 2>/dev/null | grep -c '^Reloading' || true; }
before=$(reloads)
expect "apply enables and starts 12 units" 0 "$OPDBUS" apply "$T/many.json"
after=$(reloads)
bad=""
for u in "${units[@]}"; do
  [ "$(systemctl is-enabled "$u")/$(systemctl is-active "$u")" = enabled/active ] || bad="$bad $u"
done
if [ -z "$bad" ]; then ok "all 12 enabled and active"; else not_ok "all 12 enabled and active" "not:$bad"; fi
if [ "$before" -gt 0 ] || journalctl -b -o cat _PID=1 2>/dev/null | grep -q '^Reloading'; then
  if [ $((after - before)) -eq 1 ]; then ok "one daemon-reload for 12 enables"; else not_ok "one daemon-reload for 12 enables" "systemd logged $((after - before)) reloads"; fi
else
  echo "ok $((n += 1)) - one daemon-reload for 12 enables # SKIP the journal has no systemd reload messages here"
fi
expect "plan after enabling 12 is empty" 0 "$OPDBUS" plan "$T/many.json"
systemctl disable --now "${units[@]}" >/dev/null 2>&1
rm -f /lib/systemd/system/opd-many*.service
systemctl daemon-reload

tap_done
