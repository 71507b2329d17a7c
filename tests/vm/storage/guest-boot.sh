#!/bin/bash
# Phase 2, in the VM booted from the btrfs @ subvolume written in phase 1: everything is mounted from the fstab
# op-dbus wrote, and the live system plans to nothing.
set -u
S=$PAYLOAD/storage/state.json
export OPDBUS_LOCK_FILE=/run/opdbus-test.lock
. /run/test/tap.sh
TAP_OUT=/tmp/out
TAP_CHECK_OUT=/tmp/check
TAP_ON_FAIL="findmnt -l -o TARGET,SOURCE,FSTYPE,OPTIONS"
check "the root is the @ subvolume of /dev/vdc2" sh -c "findmnt -n -o SOURCE / | grep -qx '/dev/vdc2\[/@\]'"
check "the root has compress=zstd:3 (from fstab)" sh -c "findmnt -n -o OPTIONS / | grep -q 'compress=zstd:3'"
check "/home is the @home subvolume" sh -c "findmnt -n -o SOURCE /home | grep -qx '/dev/vdc2\[/@home\]'"
check "/boot/efi is the vfat ESP" sh -c "findmnt -n -o SOURCE,FSTYPE /boot/efi | grep -q '^/dev/vdc1 *vfat'"
check "what was written before the reboot is there" grep -qx "written before the reboot" /home/marker
"$OPDBUS" plan "$S" >/tmp/out 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then ok "the running system plans to nothing"; else not_ok "the running system plans to nothing" "exit $rc" "$(cat /tmp/out)"; fi
tap_done
