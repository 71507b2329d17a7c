# seed_cache_image IMAGE LABEL SIZE HOSTCACHE
# An ext4 image used as bootstrap's --cache-dir inside a VM (kept between runs), made or repaired, grown to
# SIZE, and given the cache entries (CACHE/base, CACHE/packages: tarball and record) that
# `op-dbus bootstrap --prepare-cache --cache-dir HOSTCACHE` made on this host. An entry already on the image
# with the same size is kept; otherwise the tarball is copied first and its record last, as bootstrap writes
# them. Returns non-zero (with the reason on stdout) when the image cannot be mounted or written.
seed_cache_image() {
  local img=$1 label=$2 size=$3 host=$4 mnt rc
  [ -f "$img" ] && [ "$(stat -c %s "$img")" -ge "$(numfmt --from=iec "$size")" ] || truncate -s "$size" "$img"
  if ! blkid -p "$img" >/dev/null 2>&1; then
    mkfs.ext4 -q -L "$label" "$img" || return 1
  fi
  e2fsck -fy "$img" >/dev/null 2>&1
  if [ $? -gt 2 ]; then  # 0 clean, 1-2 repaired, 4 and up: not repaired
    echo "the cache image $img was damaged beyond repair: made again"
    mkfs.ext4 -q -F -L "$label" "$img" || return 1
  fi
  resize2fs "$img" >/dev/null 2>&1
  mnt=$(mktemp -d /tmp/opdbus-seed-cache.XXXXXX)
  mount -o loop "$img" "$mnt" || { rmdir "$mnt"; echo "cannot mount $img"; return 1; }
  rc=0
  local kind f name
  for kind in base packages; do
    mkdir -p "$mnt/$kind" || rc=1
    for f in "$host/$kind"/*.tar; do
      [ -f "$f" ] && [ -f "${f%.tar}.key" ] || continue
      name=$(basename "${f%.tar}")
      if [ "$(stat -c %s "$f")" != "$(stat -c %s "$mnt/$kind/$name.tar" 2>/dev/null)" ]; then
        rm -f "$mnt/$kind/$name.key" "$mnt/$kind/$name.tar"
        cp "$f" "$mnt/$kind/$name.tar" && sync || { rc=1; echo "copying $f failed"; }
      fi
      cp "${f%.tar}.key" "$mnt/$kind/$name.key" || rc=1
    done
  done
  umount "$mnt" && rmdir "$mnt"
  return $rc
}
