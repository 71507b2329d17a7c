#!/bin/bash
# Phase 2, in the VM after a reboot: op-dbus-network.service applied the kept document before
# network-pre.target, op-dbus-network-ovs.service did the Open vSwitch bridge once ovs-vswitchd ran, and the
# document plans to nothing.
set -u
export OPDBUS_LOCK_FILE=/run/opdbus-test.lock
. /run/test/tap.sh
TAP_OUT=/tmp/out
TAP_CHECK_OUT=/tmp/check
wait_for() {
  local s=$1
  shift
  for _ in $(seq 1 $((s * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
prop() { systemctl show -p "$2" --value "$1"; }

check "op-dbus-network.service succeeded at boot" \
  sh -c "[ \"$(prop op-dbus-network.service ActiveState)\" = active ] && [ \"$(prop op-dbus-network.service Result)\" = success ]"
mine=$(prop op-dbus-network.service ActiveEnterTimestampMonotonic)
pre=$(prop network-pre.target ActiveEnterTimestampMonotonic)
if [ "${mine:-0}" -gt 0 ] && [ "${pre:-0}" -ge "$mine" ]; then
  ok "it finished before network-pre.target was reached"
else
  not_ok "it finished before network-pre.target was reached" "op-dbus-network: $mine, network-pre.target: $pre"
fi
check "it left the OVS bridge for later" sh -c "journalctl -b -u op-dbus-network.service | grep -q 'Open vSwitch is not running yet'"
check "op-dbus-network-ovs.service ran after ovs-vswitchd" wait_for 60 sh -c \
  "[ \"\$(systemctl show -p Result --value op-dbus-network-ovs.service)\" = success ] && systemctl is-active op-dbus-network-ovs.service"

check "bond0 came back in active-backup mode" grep -q '^active-backup 1$' /sys/class/net/bond0/bonding/mode
check "with both slaves" grep -qx 'dummy1 dummy2' /sys/class/net/bond0/bonding/slaves
check "the VLAN on the bond is a port of vmbr0" sh -c "ip -o link show master vmbr0 | grep -q 'bond0.42@bond0'"
check "vmbr0 has its address" sh -c "ip -o addr show dev vmbr0 | grep -q 'inet 10.42.0.1/24'"
check "the route through dummy0 resolves" sh -c "ip route get 10.8.1.1 | grep -q 'via 10.7.0.254 dev dummy0'"
check "ovsbr0 has its address" sh -c "ip -o addr show dev ovsbr0 | grep -q 'inet 10.30.0.1/24'"
check "the route through ovsbr0 resolves" sh -c "ip route get 10.31.1.1 | grep -q 'via 10.30.0.254 dev ovsbr0'"
expect "the kept document plans to nothing" 0 "$OPDBUS" plan /etc/op-dbus/network.json
expect "the original document plans to nothing" 0 "$OPDBUS" plan /root/full.json
if [ "$fails" -ne 0 ]; then
  journalctl -b -u op-dbus-network.service -u op-dbus-network-ovs.service --no-pager | tail -n 60 | sed 's/^/# /'
fi

tap_done
