#!/usr/bin/env bash
# The network plugin against the real kernel, in network namespaces made for the test (prints TAP).
#   H  the host under test: op-dbus builds bridge br0 over two veths there
#   A, B  two clients at the other ends of the veths; op-dbus sets their addresses, routes and gateway
# Checked: apply, a real ping across the bridge, routes resolve, the second plan is empty, show plans to nothing,
# drift behind op-dbus's back is found and corrected, DNS in /etc/resolv.conf, and rollback: on a failed verify,
# on a failed action, when --confirm-timeout passes without `op-dbus confirm`, and when SIGTERM arrives mid-apply.
# `ip` is used only to build the test fixture (veths into the client namespaces) and to look at the result.
# usage: netns.sh OPDBUS
set -u
OPDBUS=$(readlink -f "$1")
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for tool in ip ping; do
  if ! command -v "$tool" >/dev/null; then
    echo "1..0 # SKIP $tool not installed"
    exit 0
  fi
done

# This test applies to the live system (in its own network namespaces): the journal it writes must not be
# the host's (tests/lib/journal.sh).
. "$(dirname "$0")/../../lib/journal.sh"
private_journal "$0" "$@"

T=$(mktemp -d)
P=opn$$
H=${P}h
A=${P}a
B=${P}b
cleanup() {
  for ns in "$H" "$A" "$B"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "/etc/netns/$H" "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
opdbus() { local ns=$1; shift; ip netns exec "$ns" "$OPDBUS" "$@"; }
doc() {  # doc FILE NETWORK-SECTION-JSON
  printf '{"version": 1, "plugins": {"network": %s}}\n' "$2" >"$1"
}

# --- the fixture: three namespaces and two veth pairs -------------------------------------------------------
for ns in "$H" "$A" "$B"; do ip netns add "$ns" && ip -n "$ns" link set lo up; done
ip -n "$H" link add va type veth peer name eth0 netns "$A"
ip -n "$H" link add vb type veth peer name eth0 netns "$B"
mkdir -p "/etc/netns/$H"
printf 'nameserver 9.9.9.9\nsearch example.org\n' >"/etc/netns/$H/resolv.conf"

doc "$T/host.json" '{"persist": false,
  "interfaces": {
    "br0": {"type": "bridge", "bridge_ports": ["va", "vb"], "address": "10.0.0.1/24",
            "addresses": ["2001:db8::1/64"], "mtu": 1500, "comment": "test bridge",
            "bridge_options": {"stp": false}, "dns": ["192.0.2.53", "192.0.2.54"]}},
  "routes": [{"destination": "10.9.0.0/16", "gateway": "10.0.0.2"}]}'
doc "$T/a.json" '{"persist": false,
  "interfaces": {"eth0": {"address": "10.0.0.2/24"}},
  "routes": [{"destination": "10.50.0.0/16", "gateway": "10.0.0.1", "metric": 50}]}'
doc "$T/b.json" '{"persist": false, "interfaces": {"eth0": {"address": "10.0.0.3/24", "gateway": "10.0.0.1"}}}'

# --- apply, connectivity, idempotence -----------------------------------------------------------------------
expect "plan on the host shows changes (exit 2)" 2 opdbus "$H" plan "$T/host.json"
contains "the plan creates the bridge" "create bridge br0"
check "apply the bridge, its ports, addresses and routes" opdbus "$H" apply "$T/host.json"
check "apply client A" opdbus "$A" apply "$T/a.json"
check "apply client B" opdbus "$B" apply "$T/b.json"
check "the kernel has br0 with both ports" sh -c "ip -n $H -o link show master br0 | grep -c 'va\\|vb' | grep -qx 2"
check "br0 has the address op-dbus set" sh -c "ip -n $H -o addr show dev br0 | grep -q 'inet 10.0.0.1/24'"
check "br0 carries the comment as its alias" sh -c "ip -n $H -d link show br0 | grep -q 'alias test bridge'"
check "ping from A to B across the bridge" in_ns "$A" ping -c 2 -W 3 10.0.0.3
check "ping from B to the bridge's address" in_ns "$B" ping -c 1 -W 3 10.0.0.1
check "a static route resolves on the host" sh -c "ip -n $H route get 10.9.1.1 | grep -q 'via 10.0.0.2 dev br0'"
check "A's route with a metric resolves" sh -c "ip -n $A route get 10.50.3.4 | grep -q 'via 10.0.0.1 dev eth0'"
check "B's default gateway resolves" sh -c "ip -n $B route get 192.0.2.200 | grep -q 'via 10.0.0.1 dev eth0'"
check "/etc/resolv.conf has br0's servers" \
  sh -c "ip netns exec $H cat /etc/resolv.conf | grep -qz 'nameserver 192.0.2.53.nameserver 192.0.2.54'"
check "/etc/resolv.conf keeps its search line" sh -c "ip netns exec $H grep -q 'search example.org' /etc/resolv.conf"
expect "second plan on the host is empty (exit 0)" 0 opdbus "$H" plan "$T/host.json"
expect "second plan on A is empty" 0 opdbus "$A" plan "$T/a.json"
expect "second plan on B is empty" 0 opdbus "$B" plan "$T/b.json"

# --- show round-trips -----------------------------------------------------------------------------------------
check "show --plugin network" sh -c "ip netns exec $H '$OPDBUS' show --plugin network >'$T/show.json'"
check "show names the bridge and its route" python3 - "$T/show.json" <<'PY'
import json, sys
net = json.load(open(sys.argv[1]))["plugins"]["network"]
br = net["interfaces"]["br0"]
assert br["type"] == "bridge" and sorted(br["bridge_ports"]) == ["va", "vb"], br
assert br["addresses"] == ["10.0.0.1/24", "2001:db8::1/64"], br
assert "lo" not in net["interfaces"], "lo is noise"
assert {"destination": "10.9.0.0/16", "gateway": "10.0.0.2", "device": "br0"} in net["routes"], net["routes"]
assert not any(r["destination"].startswith("fe80") for r in net["routes"])
PY
expect "the show output plans to nothing" 0 opdbus "$H" plan "$T/show.json"

# --- drift behind op-dbus's back is found and corrected -------------------------------------------------------
ip -n "$H" addr del 10.0.0.1/24 dev br0
ip -n "$H" link set vb nomaster
expect "drift is detected (exit 2)" 2 opdbus "$H" plan "$T/host.json"
contains "the drift names the bridge ports" "bridge_ports"
contains "the drift names the addresses" "10.0.0.1/24"
check "apply corrects the drift" opdbus "$H" apply "$T/host.json"
expect "plan is empty after the correction" 0 opdbus "$H" plan "$T/host.json"
check "ping works again" in_ns "$A" ping -c 1 -W 3 10.0.0.3

# --- rollback when verification fails --------------------------------------------------------------------------
# The IPv4 address is forgotten while the route through it is kept: taking the last IPv4 address off br0 makes
# the kernel drop every IPv4 route through it, so the result does not verify; the checkpoint puts the address
# (and with it the route) back.
doc "$T/forgot.json" '{"persist": false,
  "interfaces": {"br0": {"type": "bridge", "addresses": ["2001:db8::1/64"]}},
  "routes": [{"destination": "10.9.0.0/16", "gateway": "10.0.0.2"}]}'
expect "apply with a verification failure exits 1" 1 opdbus "$H" apply "$T/forgot.json"
contains "the failure names what did not stick" "did not stick"
contains "the failure names the route, desired and found" 'network/routes/0: destination: desired "10.9.0.0/16 via 10.0.0.2", found (absent)'
contains "the plugin was rolled back" "rolled back"
check "the old address is back" sh -c "ip -n $H -o addr show dev br0 | grep -q 'inet 10.0.0.1/24'"
check "the route is back" sh -c "ip -n $H route get 10.9.1.1 | grep -q 'via 10.0.0.2'"
expect "the host is back in sync" 0 opdbus "$H" plan "$T/host.json"

# --- rollback when an action fails -----------------------------------------------------------------------------
doc "$T/unreachable.json" '{"persist": false,
  "interfaces": {"br9": {"type": "bridge", "address": "10.99.0.1/24"}, "br0": {"mtu": 1400}},
  "routes": [{"destination": "10.77.0.0/16", "gateway": "198.51.100.1"}]}'
expect "apply with a failing action exits 1" 1 opdbus "$H" apply "$T/unreachable.json"
contains "the kernel's own reason is reported" "invalid gateway"
check "the bridge made before the failure is gone" sh -c "! ip -n $H link show br9 2>/dev/null"
check "br0's MTU is restored" sh -c "ip -n $H -o link show br0 | grep -q 'mtu 1500'"

# A deleted bridge is made again, with its ports, options and addresses.
doc "$T/delete.json" '{"persist": false, "interfaces": {"br0": {"state": "absent"}},
  "routes": [{"destination": "10.77.0.0/16", "gateway": "198.51.100.1"}]}'
expect "deleting the bridge and then failing exits 1" 1 opdbus "$H" apply "$T/delete.json"
contains "the bridge was deleted before the failure" "delete bridge br0"
check "the bridge is back with both ports" sh -c "ip -n $H -o link show master br0 | grep -c 'va\\|vb' | grep -qx 2"
check "with its addresses" sh -c "ip -n $H -o addr show dev br0 | grep -q 'inet 10.0.0.1/24' && ip -n $H -o addr show dev br0 | grep -q '2001:db8::1/64'"
expect "the recreated bridge is in sync" 0 opdbus "$H" plan "$T/host.json"
check "ping crosses the recreated bridge" in_ns "$A" ping -c 2 -W 3 10.0.0.3

# --- rollback when nobody confirms -----------------------------------------------------------------------------
doc "$T/change.json" '{"persist": false,
  "interfaces": {"br1": {"type": "bridge", "address": "10.1.0.1/24"},
                 "br0": {"type": "bridge", "bridge_ports": ["va"], "address": "10.0.0.1/24"}}}'
expect "apply --confirm-timeout without confirm exits 1" 1 opdbus "$H" apply --confirm-timeout 2 "$T/change.json"
contains "it says why" "not confirmed"
check "the new bridge is gone again" sh -c "! ip -n $H link show br1 2>/dev/null"
check "the released port is a port again" sh -c "ip -n $H -o link show vb | grep -q 'master br0'"
check "the address removed by the change is back" sh -c "ip -n $H -o addr show dev br0 | grep -q '2001:db8::1/64'"
expect "the host is back in sync after the timeout" 0 opdbus "$H" plan "$T/host.json"
check "ping works after the rollback" in_ns "$A" ping -c 1 -W 3 10.0.0.3

# --- confirmed changes stay -------------------------------------------------------------------------------------
opdbus "$H" apply --confirm-timeout 60 "$T/change.json" >"$T/confirm.out" 2>&1 &
apply_pid=$!
for _ in $(seq 1 100); do
  [ -f "$OPDBUS_RUN_DIR/op-dbus/pending-confirm" ] && break
  sleep 0.1
done
check "op-dbus confirm" "$OPDBUS" confirm
wait "$apply_pid"
rc=$?
if [ "$rc" -eq 0 ]; then ok "the confirmed apply exits 0"; else not_ok "the confirmed apply exits 0" "$(cat "$T/confirm.out")"; fi
check "the confirmed bridge stays" ip -n "$H" link show br1
expect "the confirmed state plans to nothing" 0 opdbus "$H" plan "$T/change.json"

# --- "state": "absent" removes ----------------------------------------------------------------------------------
doc "$T/absent.json" '{"persist": false, "interfaces": {"br1": {"state": "absent"}}}'
check "apply state absent" opdbus "$H" apply "$T/absent.json"
check "br1 is deleted" sh -c "! ip -n $H link show br1 2>/dev/null"
expect "absent plans to nothing afterwards" 0 opdbus "$H" plan "$T/absent.json"

# --- SIGTERM mid-apply: the action under way finishes, the checkpoint is restored, the journal says so ----------
S=${P}s
ip netns add "$S"
{
  printf '{"version": 1, "plugins": {"network": {"persist": false, "interfaces": {'
  for i in $(seq 1 1500); do printf '%s"sb%s": {"type": "bridge"}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done
  printf '}}}}\n'
} >"$T/many.json"
bridges() { ip -n "$S" -o link show type bridge 2>/dev/null | wc -l; }
ip netns exec "$S" "$OPDBUS" apply "$T/many.json" >"$T/term.out" 2>&1 &
apply_pid=$!   # `ip netns exec` execs op-dbus in place: this is op-dbus's pid
for _ in $(seq 1 300); do
  [ "$(bridges)" -ge 50 ] && break
  sleep 0.05
done
kill -STOP "$apply_pid"   # held still while counting, so "part way" is what the signal meets
made=$(bridges)
kill -TERM "$apply_pid"
kill -CONT "$apply_pid"
wait "$apply_pid"
rc=$?
if [ "$rc" -eq 1 ]; then ok "SIGTERM: apply exits 1"; else not_ok "SIGTERM: apply exits 1" "exit $rc" "$(cat "$T/term.out")"; fi
if [ "$made" -ge 1 ] && [ "$made" -lt 1500 ]; then ok "SIGTERM: it arrived part way ($made of 1500 bridges)"; else
  not_ok "SIGTERM: it arrived part way" "$made bridges when the signal was sent"; fi
TAP_OUT=$T/term.out contains "SIGTERM: the error says how far it got" "interrupted by SIGTERM after"
TAP_OUT=$T/term.out contains "SIGTERM: and that the checkpoint was restored" "Rolled back: network"
left=$(bridges)
if [ "$left" -eq 0 ]; then ok "SIGTERM: no bridge is left behind"; else not_ok "SIGTERM: no bridge is left behind" "$left left"; fi
"$OPDBUS" log 2>&1 | tail -n 5 >"$T/log.out"
TAP_OUT=$T/log.out contains "SIGTERM: the journal records the interruption" "interrupted by SIGTERM"
expect "SIGTERM: a second apply converges" 0 opdbus "$S" apply "$T/many.json"
is "SIGTERM: all 1500 bridges are there" 1500 bridges
ip netns del "$S"

# The journal of these applies is the private one, never the host's.
is "the live journal is a private tmpfs (the host's is not written)" tmpfs findmnt -n -o FSTYPE /var/lib/op-dbus
expect "... and holds this test's entries, intact" 0 "$OPDBUS" log verify
lacks "... (not an empty journal)" "intact (0 entries)"
tap_done
