#!/usr/bin/env bash
# op-dbus bootstrap against the bare tools doing the same install, in the same run, on the same kind of disk
# (a 3 GiB loop device), with the same package cache (so neither downloads what the other fetched):
#   bare:    sfdisk (GPT: bios_grub + ext4 root), mkfs.ext4, mount, debootstrap --include=<the same base
#            packages>, hostname, chroot mounts, apt-get install <kernel> grub-pc, grub-install, update-grub
#   op-dbus: op-dbus bootstrap --no-cache --deb PKG LOOP STATE with the same layout (it also installs op-dbus
#            itself from its .deb and applies the document's other sections, here none): debootstrap and apt
#            like the bare tools, which is the comparison the ratio makes
#   cached:  the same without --no-cache, the installed system unpacked from bootstrap's own cache (made by
#            the warm-up run), reported beside the others
# Each is run RUNS times after one warm-up of each; prints the median times and the ratios to bare.
# usage: bench/bootstrap.sh OPDBUS [RUNS]        (root; needs debootstrap, sfdisk, losetup)
set -euo pipefail
OPDBUS=$(readlink -f "${1:?usage: bench/bootstrap.sh OPDBUS [RUNS]}")
RUNS=${2:-1}
SRC=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/bootstrap.sh: needs root" >&2; exit 1; }
for t in debootstrap sfdisk losetup partx mkfs.ext4; do
  command -v "$t" >/dev/null || { echo "bench/bootstrap.sh: $t is missing" >&2; exit 1; }
done
if [ -z "${OPDBUS_BENCH_NS:-}" ]; then OPDBUS_BENCH_NS=1 exec unshare -m --propagation private "$0" "$@"; fi

T=$(mktemp -d /tmp/opdbus-bench-bootstrap.XXXXXX)
LOOP=
cleanup() {
  set +e  # every step, even when one finds nothing to do (grep without a match)
  grep -o " $T/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
  rm -rf "$T"
  return 0
}
trap cleanup EXIT
CACHE=/var/cache/op-dbus-tests/bootstrap
mkdir -p "$CACHE/archives/partial"
MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KERNEL=linux-image-cloud-amd64
BASE=dbus,e2fsprogs,iproute2,kmod,systemd,systemd-sysv,udev

DEB=$("$SRC/scripts/package.sh" --build-dir "$(dirname "$OPDBUS")" --output "$T/dist" --no-build 2>/dev/null | tail -n1)
cat >"$T/state.json" <<EOF
{"version": 1,
 "bootstrap": {"device": "/dev/vda", "hostname": "bench", "kernel": "$KERNEL", "bootloader": "grub-bios"},
 "plugins": {"storage": {"devices": {"/dev/vda": {"partition_table": "gpt", "wipe": true, "partitions": [
   {"number": 1, "size": "1M", "type": "bios_grub"},
   {"number": 2, "size": "remaining", "type": "linux", "filesystem": "ext4", "mount": "/"}]}}}}}
EOF

fresh_disk() {
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  rm -f "$T/disk.img"
  truncate -s 3G "$T/disk.img"
  LOOP=$(losetup -f --show -P "$T/disk.img")
}

bare() {
  local r=$T/bare
  printf 'label: gpt\nsize=1MiB, type=21686148-6449-6E6F-744E-656564454649\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' |
    sfdisk -q "$LOOP" >/dev/null
  partx -a "$LOOP" 2>/dev/null || true
  mkfs.ext4 -q "${LOOP}p2"
  mkdir -p "$r" && mount "${LOOP}p2" "$r"
  debootstrap --variant=minbase --components=main --include=$BASE --cache-dir="$CACHE/archives" bookworm "$r" \
    "$MIRROR" >/dev/null
  echo bench >"$r/etc/hostname"
  echo "UUID=$(blkid -s UUID -o value "${LOOP}p2") / ext4 defaults 0 1" >"$r/etc/fstab"
  mount -t proc proc "$r/proc"; mount --rbind /sys "$r/sys"; mount --rbind /dev "$r/dev"
  mount --bind "$CACHE/archives" "$r/var/cache/apt/archives"
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod 755 "$r/usr/sbin/policy-rc.d"
  chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null
  chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install "$KERNEL" grub-pc \
    >/dev/null
  chroot "$r" grub-install --target=i386-pc "$LOOP" >/dev/null 2>&1
  chroot "$r" update-grub >/dev/null 2>&1
  rm -f "$r/usr/sbin/policy-rc.d"
  sync
  grep -o " $r[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
}

opdbus() {
  "$OPDBUS" -q bootstrap --no-cache --target "$T/target" --cache-dir "$CACHE" --deb "$DEB" --allow-destructive \
    "$LOOP" "$T/state.json"
}
cached() {
  "$OPDBUS" -q bootstrap --target "$T/target" --cache-dir "$CACHE" --deb "$DEB" --allow-destructive "$LOOP" \
    "$T/state.json"
}

timed() {  # timed FN -> seconds (float) on stdout
  fresh_disk
  local start end
  start=$(date +%s.%N)
  "$1"
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.1f}')"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "bench/bootstrap.sh: warming the package cache (one run of each)" >&2
timed bare >/dev/null
timed opdbus >/dev/null
timed cached >/dev/null  # writes the cache entries for this document when they are not there yet
b=(); o=(); c=()
for _ in $(seq "$RUNS"); do
  b+=("$(timed bare)")
  o+=("$(timed opdbus)")
  c+=("$(timed cached)")
done
bm=$(printf '%s\n' "${b[@]}" | median)
om=$(printf '%s\n' "${o[@]}" | median)
cm=$(printf '%s\n' "${c[@]}" | median)
printf 'bootstrap of bookworm (minbase + %s + grub-pc) onto a 3 GiB loop device, %s run(s) each, warm cache\n' \
  "$KERNEL" "$RUNS"
printf '  bare tools: %6ss   (runs: %s)\n' "$bm" "${b[*]}"
printf '  op-dbus:    %6ss   (runs: %s)   --no-cache: debootstrap and apt\n' "$om" "${o[*]}"
printf '  cached:     %6ss   (runs: %s)   the installed system from the cache\n' "$cm" "${c[*]}"
python3 -c "print(f'  ratio op-dbus / bare: {$om / $bm:.2f}x   cached / bare: {$cm / $bm:.2f}x')"
exit 0
