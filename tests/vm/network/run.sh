#!/usr/bin/env bash
# The network plugin in a VM (tests/vm/lib/vm-run.sh), for what the host kernel lacks: dummy, bond and VLAN
# links and an Open vSwitch bridge through a real ovsdb-server/ovs-vswitchd, read back from the kernel and
# OVSDB; then a reboot, where the boot units must bring the same network back before and after ovs-vswitchd.
# usage: run.sh OPDBUS SRCDIR        (prints TAP; needs root and qemu)
set -u
OPDBUS=$(readlink -f "$1")
SRC=$(readlink -f "$2")
HERE=$SRC/tests/vm/network
PACKAGES="openvswitch-switch systemd-resolved"
. "$SRC/tests/lib/tap.sh"
. "$SRC/tests/vm/lib/phases.sh"

vm_require
vm_tmpdir network

if vm_phase apply "$HERE/guest-apply.sh" --packages "$PACKAGES"; then
  vm_phase reboot "$HERE/guest-boot.sh" --packages "$PACKAGES"
else
  vm_not_run reboot "the apply phase failed"
fi
tap_done
