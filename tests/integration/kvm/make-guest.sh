#!/usr/bin/env bash
# Makes the kvm test's guest into OUTDIR: vmlinuz (a Debian kernel) and initrd.gz (a static busybox, the
# virtio NIC's and disks' modules and an /init). The guest prints a marker, its address and the first bytes
# of each disk on the first serial port,
# gives its NIC (eth0) the address of the kernel command line's kvmt.ip=ADDR/PREFIX, and then waits, answering
# ping. It has no ACPI daemon: a shutdown request does nothing, so op-dbus forces it off after its timeout.
#
# The kernel and busybox are extracted once into /var/cache/op-dbus-tests/kvm/guest-KEY (KEY: this file's
# content and the packages' names) and copied from there; building the cache takes a few seconds from a local
# .deb, or one download of linux-image-cloud-amd64 (~25 MB) and busybox-static (~1 MB) from Debian's mirror.
# Sources, first found: the host's /boot/vmlinuz-$(uname -r) with its /lib/modules; a cached
# linux-image-*-amd64 .deb (apt's archives, the bootstrap test's cache); `apt-get download`. busybox: a static
# `busybox` on PATH; a cached busybox-static .deb; `apt-get download`.
# usage: make-guest.sh OUTDIR      (prints what it used on stderr; exits 1 when it cannot make the guest)
set -euo pipefail
out=$1
cache_root=${OPDBUS_TEST_CACHE:-/var/cache/op-dbus-tests}/kvm
mkdir -p "$cache_root" "$out"
say() { echo "make-guest: $*" >&2; }

# ---- where the kernel and busybox come from
find_deb() {  # find_deb GLOB: the newest cached .deb matching GLOB that holds a /boot/vmlinuz, or busybox
  local d
  for d in $(ls -1 /var/cache/apt/archives/$1 /var/cache/op-dbus-tests/bootstrap/archives/$1 2>/dev/null | sort -V -r); do
    if dpkg-deb -c "$d" 2>/dev/null | grep -E '\./boot/vmlinuz-|\./bin/busybox$' >/dev/null; then
      echo "$d"
      return 0
    fi
  done
  return 1
}
download() {  # download PACKAGE DIR: the .deb's path
  chmod 755 "$2"  # apt's download user writes there
  (cd "$2" && apt-get download -q "$1" >&2) || return 1
  ls -1 "$2"/"$1"_*.deb | head -1
}

kernel_src="" busybox_src=""
if [ -f "/boot/vmlinuz-$(uname -r)" ] && [ -d "/lib/modules/$(uname -r)/kernel/drivers/net" ]; then
  kernel_src="host:$(uname -r)"
elif deb=$(find_deb 'linux-image-*-amd64_*.deb'); then
  kernel_src="deb:$deb"
fi
bb=$(command -v busybox || true)
if [ -n "$bb" ] && ! ldd "$bb" >/dev/null 2>&1; then  # static: ldd says "not a dynamic executable"
  busybox_src="bin:$bb"
elif deb=$(find_deb 'busybox-static_*.deb'); then
  busybox_src="deb:$deb"
fi

key=$( (cat "$0"; echo "$kernel_src $busybox_src") | sha256sum | cut -c1-16)
cache=$cache_root/guest-$key
exec 9>"$cache_root/guest.lock"
flock 9
if [ ! -f "$cache/.complete" ]; then
  tmp=$(mktemp -d "$cache_root/.guest.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/x" "$tmp/debs" "$tmp/initrd"/{bin,dev,proc,sys,lib/modules}
  if [ -z "$kernel_src" ]; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -1)
    [ -n "$pkg" ] || { say "no kernel found and apt knows no linux-image-cloud-amd64"; exit 1; }
    kernel_src="deb:$(download "$pkg" "$tmp/debs")" || { say "cannot download $pkg"; exit 1; }
  fi
  if [ -z "$busybox_src" ]; then
    busybox_src="deb:$(download busybox-static "$tmp/debs")" || { say "cannot download busybox-static"; exit 1; }
  fi
  case $kernel_src in
    host:*)
      kver=${kernel_src#host:}
      cp "/boot/vmlinuz-$kver" "$tmp/vmlinuz"
      moddir=/lib/modules/$kver
      ;;
    deb:*)
      dpkg-deb -x "${kernel_src#deb:}" "$tmp/x"
      cp "$(ls "$tmp"/x/boot/vmlinuz-* | head -1)" "$tmp/vmlinuz"
      moddir=$(ls -d "$tmp"/x/lib/modules/* | head -1)
      ;;
  esac
  # The virtio NIC's and disks' modules, uncompressed (busybox's insmod takes plain .ko); /init loads them in rounds,
  # so their order does not matter. A module built into the kernel is simply not there.
  for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net \
    virtio_blk; do
    f=$(find "$moddir" -name "$m.ko*" | head -1)
    [ -n "$f" ] || continue
    case $f in
      *.xz) xz -dc "$f" >"$tmp/initrd/lib/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" >"$tmp/initrd/lib/modules/$m.ko" ;;
      *.gz) gzip -dc "$f" >"$tmp/initrd/lib/modules/$m.ko" ;;
      *) cp "$f" "$tmp/initrd/lib/modules/$m.ko" ;;
    esac
  done
  [ -f "$tmp/initrd/lib/modules/virtio_net.ko" ] || grep -q 'CONFIG_VIRTIO_NET=y' "$moddir"/../../../boot/config-* 2>/dev/null ||
    say "warning: no virtio_net module found in $moddir"
  case $busybox_src in
    bin:*) cp "${busybox_src#bin:}" "$tmp/initrd/bin/busybox" ;;
    deb:*)
      mkdir -p "$tmp/bb"
      dpkg-deb -x "${busybox_src#deb:}" "$tmp/bb"
      cp "$tmp/bb/bin/busybox" "$tmp/initrd/bin/busybox"
      ;;
  esac
  cat >"$tmp/initrd/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for round in 1 2 3 4; do
  for m in /lib/modules/*.ko; do insmod "$m" 2>/dev/null; done
done
addr=$(sed -n 's/.*kvmt\.ip=\([0-9./]*\).*/\1/p' /proc/cmdline)
ip link set lo up
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/eth0 ] && break; sleep 1; done
ip link set eth0 up
[ -n "$addr" ] && ip addr add "$addr" dev eth0
echo "op-dbus-kvm-guest: booted"
echo "op-dbus-kvm-guest: memory $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
ip -4 -o addr show dev eth0 | sed 's/^/op-dbus-kvm-guest: /'
# The first bytes of each disk (a disk made from an image shows the image's).
for d in /sys/block/vd*; do
  [ -e "$d" ] || continue
  echo "op-dbus-kvm-guest: disk ${d##*/}: $(head -c 64 "/dev/${d##*/}" | tr -dc 'A-Za-z0-9 :._-')"
done
while :; do sleep 3600; done
INIT
  chmod 755 "$tmp/initrd/init" "$tmp/initrd/bin/busybox"
  # busybox's own cpio writes the archive (the host may have no cpio).
  (cd "$tmp/initrd" && find . | "$tmp/initrd/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) >"$tmp/initrd.gz"
  rm -rf "$cache"
  mkdir -p "$cache"
  mv "$tmp/vmlinuz" "$tmp/initrd.gz" "$cache/"
  echo "kernel $kernel_src; busybox $busybox_src" >"$cache/source"
  touch "$cache/.complete"
  rm -rf "$tmp"
  trap - EXIT
  # Older guests of earlier versions of this script.
  for old in "$cache_root"/guest-*; do [ "$old" = "$cache" ] || rm -rf "$old"; done
fi
flock -u 9
cp "$cache/vmlinuz" "$cache/initrd.gz" "$out/"
say "$(cat "$cache/source")"
