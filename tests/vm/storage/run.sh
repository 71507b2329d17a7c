#!/usr/bin/env bash
# The storage plugin end to end in a VM (tests/vm/lib/vm-run.sh): the roadmap's storage example on a blank
# virtio disk (GPT, ESP + btrfs, subvolumes @ and @home, compress=zstd:3, fstab by UUID), then a reboot into
# the new root, where everything must be mounted again and the state must plan to nothing.
# usage: run.sh OPDBUS SRCDIR        (prints TAP; needs root and qemu)
set -u
OPDBUS=$(readlink -f "$1")
SRC=$(readlink -f "$2")
HERE=$SRC/tests/vm/storage
. "$SRC/tests/lib/tap.sh"
. "$SRC/tests/vm/lib/phases.sh"

vm_require
vm_tmpdir storage
mkdir -p "$T/storage"
cp "$HERE/state.json" "$T/storage/state.json"

if vm_phase install "$HERE/guest-install.sh" --payload "$T/storage" --blank 4G --blank 256M; then
  vm_phase reboot "$HERE/guest-boot.sh" --payload "$T/storage" --blank 4G --blank 256M \
    --kernel-args "root=LABEL=vmroot rootflags=subvol=@"
else
  vm_not_run reboot "the install phase failed"
fi
tap_done
