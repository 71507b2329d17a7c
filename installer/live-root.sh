#!/usr/bin/env bash
# Makes the installer's live root: a Debian live system (kernel, live-boot, systemd) with what
# `op-dbus bootstrap` runs, and the boot unit that starts the installer from the ISO (live-customize.sh).
# Called by build-iso when its cache has no live root for the hash of these two files, the package list, the
# suite and the mirror; writes
# OUT/filesystem.squashfs, OUT/vmlinuz and OUT/initrd.img.
#
# usage: live-root.sh OUT SUITE MIRROR PACKAGES      (PACKAGES: comma-separated; root)
#
# mmdebstrap rather than debootstrap: it resolves the whole package list (kernel, live-boot and the
# op-dbus package's libraries) with apt in one pass, runs hooks inside the tree for the customisation, and
# leaves no apt lists or downloaded packages behind, so the squashfs holds only the installed system.
set -euo pipefail
OUT=$1 SUITE=$2 MIRROR=$3 PACKAGES=$4
ROOT=$OUT/root
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$ROOT"

mmdebstrap --variant=minbase --include="$PACKAGES" \
  --customize-hook="bash $HERE/live-customize.sh \"\$1\"" \
  "$SUITE" "$ROOT" "$MIRROR"

cp -L "$ROOT"/boot/vmlinuz-* "$OUT/vmlinuz"
cp -L "$ROOT"/boot/initrd.img-* "$OUT/initrd.img"
# The kernel and initrd live on the ISO itself; the squashfs need not carry them twice.
mksquashfs "$ROOT" "$OUT/filesystem.squashfs" -noappend -comp zstd -e boot -quiet
rm -rf "$ROOT"
