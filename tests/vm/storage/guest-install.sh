#!/bin/bash
# Phase 1, in the VM: the storage example on the blank /dev/vdc under --root /mnt/target, as bootstrap does;
# then a system copied into the new root so phase 2 can boot from it; and a refusal on /dev/vdd.
set -u
S=$PAYLOAD/storage/state.json
T=/mnt/target
export OPDBUS_LOCK_FILE=/run/opdbus-test.lock
. /run/test/tap.sh
TAP_OUT=/tmp/out
TAP_CHECK_OUT=/tmp/check
sectors() { cat "/sys/class/block/$1/$2"; }

expect "the state validates" 0 "$OPDBUS" validate "$S"
expect "plan against the blank disk" 2 "$OPDBUS" plan --root "$T" "$S"
contains "plan creates the table" "create gpt partition table on /dev/vdc with partitions 1 (512M efi \"ESP\"), 2 (remaining linux \"root\")"
contains "plan creates the subvolumes" "create btrfs subvolume @home on /dev/vdc2"
if grep -q DESTRUCTIVE /tmp/out; then not_ok "nothing on a blank disk is destructive" "$(cat /tmp/out)"; else ok "nothing on a blank disk is destructive"; fi
expect "apply" 0 "$OPDBUS" apply --root "$T" "$S"
check "partition 1 is 512M at 1M" sh -c "[ $(sectors vdc/vdc1 start) -eq 2048 ] && [ $(sectors vdc/vdc1 size) -eq 1048576 ]"
check "partition 2 starts at 513M, aligned, and takes the rest" \
  sh -c "[ $(sectors vdc/vdc2 start) -eq 1050624 ] && [ $(( ($(sectors vdc size) - $(sectors vdc/vdc2 start) - $(sectors vdc/vdc2 size)) * 512 )) -le 1048576 ]"
check "partition labels and types" \
  sh -c "blkid -p -o export /dev/vdc1 | grep -qx PART_ENTRY_NAME=ESP && blkid -p -o export /dev/vdc1 | grep -qix PART_ENTRY_TYPE=c12a7328-f81f-11d2-ba4b-00a0c93ec93b && blkid -p -o export /dev/vdc2 | grep -qx PART_ENTRY_NAME=root"
check "vdc1 holds vfat, vdc2 btrfs labelled vmroot" \
  sh -c "blkid -p -o value -s TYPE /dev/vdc1 | grep -qx vfat && blkid -p -o export /dev/vdc2 | grep -qx TYPE=btrfs && blkid -p -o export /dev/vdc2 | grep -qx LABEL=vmroot"
check "/ is @ with compress=zstd:3" sh -c "findmnt -n -o SOURCE,FSROOT,OPTIONS $T | grep -q '^/dev/vdc2\[/@\] */@ .*compress=zstd:3'"
check "/home is @home" sh -c "findmnt -n -o FSROOT $T/home | grep -qx /@home"
check "/boot/efi is the ESP" sh -c "findmnt -n -o SOURCE,FSTYPE $T/boot/efi | grep -q '^/dev/vdc1 *vfat'"
U2=$(blkid -p -o value -s UUID /dev/vdc2)
U1=$(blkid -p -o value -s UUID /dev/vdc1)
check "fstab records / by UUID" grep -qP "^UUID=$U2\t/\tbtrfs\tsubvol=@,compress=zstd:3\t0\t0$" "$T/etc/fstab"
check "fstab records /home by UUID" grep -qP "^UUID=$U2\t/home\tbtrfs\tsubvol=@home,compress=zstd:3\t0\t0$" "$T/etc/fstab"
check "fstab records /boot/efi by UUID" grep -qP "^UUID=$U1\t/boot/efi\tvfat\tdefaults\t0\t2$" "$T/etc/fstab"
expect "plan after apply is empty" 0 "$OPDBUS" plan --root "$T" "$S"

# What bootstrap does next is debootstrap; copying this system is quicker and boots the same way. -n keeps the
# fstab op-dbus wrote.
if cp -ax -n /. "$T"/ 2>/tmp/cp.err; then ok "a system is copied into the new root"; else not_ok "a system is copied into the new root" "$(tail -5 /tmp/cp.err)"; fi
echo "written before the reboot" >"$T/home/marker"
expect "apply again converges without changes" 0 "$OPDBUS" apply --root "$T" "$S"
check "fstab has no line for the old root" sh -c "! grep -q '^/dev/vda' $T/etc/fstab"

"$OPDBUS" show --plugin storage --root "$T" --json >/tmp/show.json 2>/tmp/show.err
if [ $? -eq 0 ]; then ok "show --plugin storage --root"; else not_ok "show --plugin storage --root" "$(cat /tmp/show.err)"; fi
cp /tmp/show.json "$ARTIFACTS/show.json"
# Pretty-printed, keys sorted: each fact is one line.
for fact in '"partition_table": "gpt"' '"label": "ESP"' '"size": "512M"' '"type": "efi"' '"label": "vmroot"' \
            "\"uuid\": \"$U2\"" "\"uuid\": \"$U1\"" '"name": "@home"' "\"device\": \"UUID=$U2\"" \
            '"options": "compress=zstd:3"' '"state": "mounted"'; do
  check "show reports $fact" grep -qF -- "$fact" /tmp/show.json
done
expect "show's output validates" 0 "$OPDBUS" validate /tmp/show.json
expect "show's output plans to nothing" 0 "$OPDBUS" plan --root "$T" /tmp/show.json

# Refusal: /dev/vdd holds a filesystem; no "wipe" means it stays byte for byte as it was.
mkfs.ext4 -q -F -L keep /dev/vdd
before=$(sha256sum </dev/vdd)
printf '{"version": 1, "plugins": {"storage": {"devices": {"/dev/vdd": {"partition_table": "gpt", "partitions": [{"number": 1, "size": "remaining"}]}}}}}\n' >/tmp/vdd.json
expect "partitioning a disk with a filesystem is refused" 1 "$OPDBUS" apply --allow-destructive --root /mnt/other /tmp/vdd.json
contains "the refusal says what is there" "/dev/vdd: it holds an ext4 filesystem and no partition table"
check "/dev/vdd is byte for byte unchanged" sh -c "[ \"\$(sha256sum </dev/vdd)\" = '$before' ]"

sync
umount -R "$T" && ok "the new root unmounts" || not_ok "the new root unmounts" "$(findmnt -R $T)"
tap_done
