#!/bin/bash
# In the install VM (a real Debian kernel, with vfat): op-dbus bootstrap of the state in the payload onto the
# blank /dev/vdc, with the package cache on /dev/vdd (kept between runs by run.sh; it holds the installed
# system run.sh made on the host with --prepare-cache) and Debian's mirror reached
# through qemu's user network. Then a look at what is on the disk before run.sh boots it alone with OVMF.
set -u
U=$PAYLOAD/uefi
. /run/test/tap.sh
TAP_OUT=/tmp/out
TAP_CHECK_OUT=/tmp/check
export OPDBUS_LOCK_FILE=/run/opdbus-test.lock

# qemu's user network: the NIC is the only one besides lo.
nic=$(ls /sys/class/net | grep -vx lo | head -n1)
ip link set "$nic" up && ip addr add 10.0.2.15/24 dev "$nic" && ip route add default via 10.0.2.2
echo "nameserver 10.0.2.3" >/etc/resolv.conf
check "the guest reaches Debian's mirror through qemu's user network ($nic)" \
  timeout 60 bash -c 'exec 3<>/dev/tcp/deb.debian.org/80'

# The package cache: an ext4 disk run.sh keeps (made here the first time).
blkid -p /dev/vdd >/dev/null 2>&1 || mkfs.ext4 -q -L uefi-cache /dev/vdd
mkdir -p /mnt/cache && mount /dev/vdd /mnt/cache
echo "# cache before: $(ls /mnt/cache/archives 2>/dev/null | wc -l) packages"

started=$SECONDS
"$OPDBUS" bootstrap --deb "$U/op-dbus.deb" --cache-dir /mnt/cache --target /mnt/target --no-finish \
  /dev/vdc "$U/state.json" 2>&1 | tee /tmp/bootstrap.log | grep --line-buffered '^bootstrap: ' | sed -u 's/^/# /'
rc=${PIPESTATUS[0]}
cp /tmp/bootstrap.log "$ARTIFACTS/bootstrap.log"
echo "# bootstrap took $((SECONDS - started)) s"
if [ "$rc" -eq 0 ]; then ok "op-dbus bootstrap onto /dev/vdc exits 0"; else not_ok "op-dbus bootstrap onto /dev/vdc exits 0" "exit $rc" "$(tail -n 40 /tmp/bootstrap.log)"; fi
if [ "$rc" -ne 0 ]; then umount /mnt/cache; tap_done; exit 1; fi
contains_log() { if grep -qF -- "$2" /tmp/bootstrap.log; then ok "$1"; else not_ok "$1" "no '$2' in the log"; fi; }
contains_log "...the document's /dev/vda became /dev/vdc for the install" "the document describes /dev/vda, which becomes /dev/vdc"
contains_log "...all ten stages ran" "finish done in"
contains_log "...the installed system unpacked from the cache disk (made on the host by --prepare-cache)" "installed system from the cache ("
contains_log "...so no apt ran in the packages stage" "the cached installed system, or an earlier run"
grep -a "done in" /tmp/bootstrap.log | sed 's/^/#   /'
echo "# cache after: $(ls /mnt/cache/archives | wc -l) packages"
check "nothing stays mounted under the target" bash -c "! grep -q ' /mnt/target' /proc/self/mountinfo"

# What is on the disk.
mkdir -p /mnt/check
mount -o subvol=@ /dev/vdc2 /mnt/check && mount /dev/vdc1 /mnt/check/boot/efi
check "the ESP is vfat" sh -c "blkid -p -o value -s TYPE /dev/vdc1 | grep -qx vfat"
BL=$(cat "$U/bootloader")
if [ "$BL" = systemd-boot ]; then
  check "...with systemd-boot at the removable path EFI/BOOT/BOOTX64.EFI" test -s /mnt/check/boot/efi/EFI/BOOT/BOOTX64.EFI
  check "...and under its own name EFI/systemd/systemd-bootx64.efi" test -s /mnt/check/boot/efi/EFI/systemd/systemd-bootx64.efi
  U1=$(blkid -p -o value -s UUID /dev/vdc1)
  check "fstab mounts the ESP on /boot/efi by UUID" grep -qP "^UUID=$U1\t/boot/efi\tvfat\t" /mnt/check/etc/fstab
  is "one loader entry, for the kernel" 1 bash -c "ls /mnt/check/boot/efi/loader/entries/*.conf | wc -l"
  check "...booting root=UUID with the @ subvolume and the document's kernel arguments" \
    bash -c "grep -hE '^options .*root=UUID=[0-9a-f-]+ .*rootflags=subvol=@.*console=ttyS0' /mnt/check/boot/efi/loader/entries/*.conf"
  check "...with its kernel and initrd on the ESP" bash -c "
    n=0; for f in \$(awk '/^(linux|initrd) / { print \$2 }' /mnt/check/boot/efi/loader/entries/*.conf); do
      test -s /mnt/check/boot/efi\$f || { echo missing \$f; exit 1; }; n=\$((n + 1)); done; [ \$n = 2 ]"
  check "systemd-boot is installed" bash -c "chroot /mnt/check dpkg-query -W -f='\${Status}' systemd-boot | grep -qx 'install ok installed'"
  cp /mnt/check/boot/efi/loader/entries/*.conf "$ARTIFACTS/" 2>/dev/null
else
  check "...with grub at the removable path EFI/BOOT/BOOTX64.EFI" test -s /mnt/check/boot/efi/EFI/BOOT/BOOTX64.EFI
  check "...and under its own name EFI/debian/grubx64.efi" test -s /mnt/check/boot/efi/EFI/debian/grubx64.efi
  U1=$(blkid -p -o value -s UUID /dev/vdc1)
  check "fstab mounts the ESP on /boot/efi by UUID" grep -qP "^UUID=$U1\t/boot/efi\tvfat\t" /mnt/check/etc/fstab
  check "grub.cfg boots root=UUID with the @ subvolume" grep -qE 'root=UUID=[0-9a-f-]+ .*rootflags=subvol=@' /mnt/check/boot/grub/grub.cfg
  check "grub-efi-amd64 is installed" bash -c "chroot /mnt/check dpkg-query -W -f='\${Status}' grub-efi-amd64 | grep -qx 'install ok installed'"
  if [ "$BL" = both ]; then
    check "...and for BIOS: grub-pc-bin installed" bash -c "chroot /mnt/check dpkg-query -W -f='\${Status}' grub-pc-bin | grep -qx 'install ok installed'"
    check "...GRUB's i386-pc modules and core.img in /boot/grub" test -s /mnt/check/boot/grub/i386-pc/core.img
    check "...GRUB's boot code in the disk's first sector" bash -c "dd if=/dev/vdc bs=440 count=1 2>/dev/null | grep -aq GRUB"
    check "...and its core in the bios_grub partition (/dev/vdc3)" bash -c "[ \"\$(dd if=/dev/vdc3 bs=512 count=8 2>/dev/null | tr -d '\\0' | wc -c)\" -gt 0 ]"
  fi
fi
check "op-dbus is installed from its package" bash -c "chroot /mnt/check dpkg-query -W -f='\${Status}' op-dbus | grep -qx 'install ok installed'"
cp /mnt/check/etc/fstab /mnt/check/boot/grub/grub.cfg "$ARTIFACTS/" 2>/dev/null
umount /mnt/check/boot/efi /mnt/check
umount /mnt/cache
sync
tap_done
