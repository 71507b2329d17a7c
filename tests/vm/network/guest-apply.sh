#!/bin/bash
# Phase 1, in the VM (its kernel has dummy, bonding, 8021q and openvswitch; ovsdb-server and ovs-vswitchd and
# systemd-resolved run): VLAN, bond, dummy and an OVS bridge applied, read back from the kernel and OVSDB,
# changed, rolled back, deleted in order; then the document is left applied for the reboot phase.
set -u
export OPDBUS_LOCK_FILE=/run/opdbus-test.lock
D=/run/test/docs
mkdir -p "$D"
. /run/test/tap.sh
TAP_OUT=/tmp/out
TAP_CHECK_OUT=/tmp/check
wait_for() {  # wait_for SECONDS CMD...
  local s=$1
  shift
  for _ in $(seq 1 $((s * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
doc() { printf '{"version": 1, "plugins": {"network": %s}}\n' "$2" >"$D/$1"; }

check "Open vSwitch is running" wait_for 60 ovs-vsctl show
check "systemd-resolved is running" wait_for 30 systemctl is-active systemd-resolved

doc full.json '{
  "bonds": {"bond0": {"slaves": ["dummy1", "dummy2"], "mode": "active-backup"}},
  "interfaces": {
    "dummy0": {"type": "dummy", "address": "10.7.0.1/24", "comment": "plain dummy"},
    "dummy1": {"type": "dummy"},
    "dummy2": {"type": "dummy"},
    "dummy3": {"type": "dummy"},
    "bond0": {"type": "bond", "mtu": 1400},
    "bond0.42": {"type": "vlan", "mtu": 1400},
    "vmbr0": {"type": "bridge", "bridge_ports": ["bond0.42"], "address": "10.42.0.1/24", "mtu": 1400,
              "dns": ["192.0.2.53", "192.0.2.54"]},
    "ovsbr0": {"type": "ovs-bridge", "bridge_ports": ["dummy3"], "address": "10.30.0.1/24"}
  },
  "routes": [{"destination": "10.8.0.0/16", "gateway": "10.7.0.254"},
             {"destination": "10.31.0.0/16", "gateway": "10.30.0.254", "device": "ovsbr0"}]}'

expect "the document validates" 0 "$OPDBUS" validate "$D/full.json"
expect "plan shows the changes (exit 2)" 2 "$OPDBUS" plan "$D/full.json"
contains "the plan creates the bond with its mode" "create bond bond0 (mode active-backup)"
contains "the plan creates the VLAN on the bond" "create vlan bond0.42 (id 42 on bond0)"
expect "apply" 0 "$OPDBUS" apply "$D/full.json"
expect "the second plan is empty" 0 "$OPDBUS" plan "$D/full.json"

# Read back from the kernel, not from op-dbus.
check "bond0 is a bond in active-backup mode" grep -q '^active-backup 1$' /sys/class/net/bond0/bonding/mode
check "bond0's slaves are dummy1 and dummy2" grep -qx 'dummy1 dummy2' /sys/class/net/bond0/bonding/slaves
check "bond0 has MTU 1400" grep -qx 1400 /sys/class/net/bond0/mtu
check "bond0.42 is VLAN 42 on bond0" sh -c "ip -d link show bond0.42 | grep -q 'bond0.42@bond0' && ip -d link show bond0.42 | grep -q 'vlan protocol 802.1Q id 42'"
check "the VLAN is a port of vmbr0" sh -c "ip -o link show master vmbr0 | grep -q 'bond0.42@bond0'"
check "vmbr0 has its address" sh -c "ip -o addr show dev vmbr0 | grep -q 'inet 10.42.0.1/24'"
check "dummy0 is a dummy with its address" sh -c "ip -d link show dummy0 | grep -qw dummy && ip -o addr show dev dummy0 | grep -q 10.7.0.1/24"
check "the route through dummy0 resolves" sh -c "ip route get 10.8.1.1 | grep -q 'via 10.7.0.254 dev dummy0'"
check "OVSDB has ovsbr0 with port dummy3" sh -c "ovs-vsctl br-exists ovsbr0 && ovs-vsctl list-ports ovsbr0 | grep -qx dummy3"
check "the kernel has ovsbr0 with its address" sh -c "ip -o addr show dev ovsbr0 | grep -q 'inet 10.30.0.1/24'"
check "dummy3 is an OVS port in the kernel" sh -c "ip -o link show dummy3 | grep -q 'master ovs-system'"
check "the route through ovsbr0 resolves" sh -c "ip route get 10.31.1.1 | grep -q 'via 10.30.0.254 dev ovsbr0'"
check "resolved has vmbr0's DNS servers" sh -c "resolvectl dns vmbr0 | grep -q '192.0.2.53 192.0.2.54'"

# show reports it in the same format and plans to nothing.
"$OPDBUS" show --plugin network >"$D/show.json" 2>/tmp/show.err
check "show reports bond0's mode and slaves" sh -c "grep -A4 '\"bond0\": {' '$D/show.json' | grep -q '\"mode\": \"active-backup\"'"
check "show reports ovsbr0 as an OVS bridge" sh -c "grep -A12 '\"ovsbr0\": {' '$D/show.json' | grep -q '\"type\": \"ovs-bridge\"'"
check "show reports the VLAN's id" sh -c "grep -A8 '\"bond0.42\": {' '$D/show.json' | grep -q '\"id\": 42'"
expect "the show output plans to nothing" 0 "$OPDBUS" plan "$D/show.json"

# Changing the bonding mode takes the slaves out and puts them back.
doc rr.json '{"bonds": {"bond0": {"slaves": ["dummy1", "dummy2"], "mode": "balance-rr"}}}'
expect "apply a new bonding mode" 0 "$OPDBUS" apply "$D/rr.json"
check "the kernel reads back balance-rr" grep -q '^balance-rr 0$' /sys/class/net/bond0/bonding/mode
check "both slaves are back" grep -qx 'dummy1 dummy2' /sys/class/net/bond0/bonding/slaves
expect "the new mode plans to nothing" 0 "$OPDBUS" plan "$D/rr.json"

# Drift behind op-dbus's back, in OVSDB and in the kernel.
ovs-vsctl del-port ovsbr0 dummy3
ip link set bond0.42 nomaster
expect "drift is detected (exit 2)" 2 "$OPDBUS" plan "$D/full.json"
contains "the drift names the OVS ports" "ovs-bridge ovsbr0 ports: add dummy3"
contains "the drift names the bridge ports" "bridge vmbr0 ports: add bond0.42"
expect "apply corrects the drift" 0 "$OPDBUS" apply "$D/full.json"
check "dummy3 is an OVS port again" sh -c "ovs-vsctl list-ports ovsbr0 | grep -qx dummy3"
expect "the corrected state plans to nothing" 0 "$OPDBUS" plan "$D/full.json"

# Without confirmation everything goes back: the new OVS bridge, the bonding mode, an MTU.
doc change.json '{
  "bonds": {"bond0": {"mode": "802.3ad"}},
  "interfaces": {"dummy4": {"type": "dummy"},
                 "ovsbr1": {"type": "ovs-bridge", "bridge_ports": ["dummy4"]},
                 "vmbr0": {"mtu": 1300}}}'
expect "apply --confirm-timeout without confirm exits 1" 1 "$OPDBUS" apply --confirm-timeout 2 "$D/change.json"
contains "it was rolled back" "rolled back"
check "ovsbr1 is gone from OVSDB" sh -c "! ovs-vsctl br-exists ovsbr1"
check "dummy4 is gone" sh -c "! ip link show dummy4"
check "the bonding mode is back" grep -q '^active-backup 1$' /sys/class/net/bond0/bonding/mode
check "vmbr0's MTU is back" grep -qx 1400 /sys/class/net/vmbr0/mtu
expect "the rolled-back state plans to nothing" 0 "$OPDBUS" plan "$D/full.json"

# Deletion in reverse order: the bridge, then the VLAN, then the bond; the former slaves stay.
doc gone.json '{"interfaces": {"vmbr0": {"state": "absent"}, "bond0.42": {"state": "absent"}},
                "bonds": {"bond0": {"state": "absent"}}}'
expect "plan the deletions" 2 "$OPDBUS" plan "$D/gone.json"
grep -oE 'delete (bridge|vlan|bond) [^ ]+$' /tmp/out | awk '{print $3}' | paste -sd' ' >/tmp/order
check "the bridge is deleted before the VLAN, the VLAN before the bond" grep -qx 'vmbr0 bond0.42 bond0' /tmp/order
expect "apply the deletions" 0 "$OPDBUS" apply "$D/gone.json"
check "vmbr0, bond0.42 and bond0 are gone" sh -c "! ip link show vmbr0 && ! ip link show bond0.42 && ! ip link show bond0"
check "dummy1 is free again" sh -c "! ip -o link show dummy1 | grep -q master"
expect "the deletions plan to nothing" 0 "$OPDBUS" plan "$D/gone.json"

# OVS not running: a document that asks for it gets a clear error; one that does not is unaffected.
systemctl stop ovs-vswitchd ovsdb-server >/dev/null 2>&1
doc plain.json '{"persist": false, "interfaces": {"dummy0": {"type": "dummy", "address": "10.7.0.1/24"}}}'
expect "without OVS, a document asking for an OVS bridge fails" 1 "$OPDBUS" plan "$D/full.json"
contains "the error says Open vSwitch is not available" "Open vSwitch is not available"
expect "without OVS, other documents plan as usual" 0 "$OPDBUS" plan "$D/plain.json"
systemctl start openvswitch-switch >/dev/null 2>&1
check "Open vSwitch is back" wait_for 60 ovs-vsctl show

# Leave everything applied (and kept for boot) for the reboot phase.
expect "apply the full document again" 0 "$OPDBUS" apply "$D/full.json"
expect "which then plans to nothing" 0 "$OPDBUS" plan "$D/full.json"
check "the document is kept for boot" test -f /etc/op-dbus/network.json
check "the boot unit is enabled" sh -c "systemctl is-enabled op-dbus-network.service | grep -qx enabled"
check "the OVS boot unit is enabled" sh -c "systemctl is-enabled op-dbus-network-ovs.service | grep -qx enabled"
cp "$D/full.json" /root/full.json

tap_done
