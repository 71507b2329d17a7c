#!/usr/bin/env bash
# Boots a throwaway Debian 12 VM (qemu, software emulation, no network), runs a script in it, reports back.
#
# usage: vm-run.sh --opdbus BIN --script GUEST_SCRIPT [--payload DIR]... [--blank SIZE]... [--disks-dir DIR]
#                  [--packages "pkg1 pkg2"] [--timeout SECONDS] [--memory MB] [--artifacts DIR]
#                  [--kernel-args ARGS] [--net] [--unsafe-cache] [--shell] [-v]
#
# In the guest, GUEST_SCRIPT runs as root from /run/test (the payload disk) after multi-user.target, with
#   $OPDBUS   = /usr/local/bin/op-dbus (a copy of BIN; also at /run/test/bin/op-dbus)
#   $PAYLOAD  = /run/test/payload (each --payload DIR is copied there as payload/$(basename DIR))
#   $ARTIFACTS = /run/test/artifacts (files the script leaves there come back with --artifacts DIR)
#   /run/test/tap.sh = tests/lib/tap.sh, the TAP helpers (ok, not_ok, check, expect, ... tap_done)
# Disks: /dev/vda root (overlay on the cached image), /dev/vdb payload, /dev/vdc, /dev/vdd, ... the --blank disks.
# With --disks-dir, the root overlay and the blank disks live there and are reused by the next call with the same
# directory (multi-phase tests: install, reboot, check).
# --net: a virtio NIC on qemu's user network (10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3; the guest script
# configures it); without it the guest has no network.
# --unsafe-cache: qemu ignores the guest's flushes (cache=unsafe; the disks are complete once qemu exits), for
# guests that run dpkg a lot.
# --artifacts DIR receives console.log, out.log, journal.txt (the guest's journal) and artifacts/.
# --shell: after the script, a root shell on this terminal (no timeout); exiting it powers the guest off.
#
# stdout: the guest script's output. stderr: progress, and the console log's tail on failure (all of it with -v).
# Exit status: the guest script's; 124 on timeout; 125 if the script did not run to its end (or a harness error).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
builder=$here/build-image.sh
base_packages=(linux-image-cloud-amd64 iproute2 kmod udev util-linux e2fsprogs btrfs-progs dosfstools xfsprogs
               procps)

opdbus=
script=
payloads=()
blanks=()
disks_dir=
extra_packages=()
timeout_s=600
memory=1024
artifacts_dir=
kernel_args=
shell=0
net=0
drive_cache=
verbose=0

log() { echo "vm: $*" >&2; }
die() { echo "vm: error: $*" >&2; exit 125; }
usage() { sed -n '3,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 125; }

while [ $# -gt 0 ]; do
  case $1 in
    --opdbus) opdbus=${2:?}; shift 2 ;;
    --script) script=${2:?}; shift 2 ;;
    --payload) payloads+=("${2:?}"); shift 2 ;;
    --blank) blanks+=("${2:?}"); shift 2 ;;
    --disks-dir) disks_dir=${2:?}; shift 2 ;;
    --packages) read -r -a more <<<"${2:?}"; extra_packages+=("${more[@]}"); shift 2 ;;
    --timeout) timeout_s=${2:?}; shift 2 ;;
    --memory) memory=${2:?}; shift 2 ;;
    --artifacts) artifacts_dir=${2:?}; shift 2 ;;
    --kernel-args) kernel_args=${2:?}; shift 2 ;;
    --net) net=1; shift ;;
    --unsafe-cache) drive_cache=,cache=unsafe; shift ;;
    --shell) shell=1; shift ;;
    -v|--verbose) verbose=1; shift ;;
    -h|--help) usage ;;
    *) echo "vm: unknown argument: $1" >&2; usage ;;
  esac
done

[ -n "$opdbus" ] && [ -n "$script" ] || usage
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
[ -x "$opdbus" ] || die "--opdbus $opdbus: not an executable"
[ -f "$script" ] || die "--script $script: no such file"
for d in "${payloads[@]}"; do [ -d "$d" ] || die "--payload $d: not a directory"; done
[[ $timeout_s =~ ^[0-9]+$ ]] || die "--timeout wants seconds"
[[ $memory =~ ^[0-9]+$ ]] || die "--memory wants megabytes"
for t in qemu-system-x86_64 qemu-img debootstrap debugfs mkfs.ext4 flock sha256sum timeout; do
  command -v "$t" >/dev/null || die "$t not found (run scripts/install-deps.sh)"
done

# Scratch space for this run (the payload disk, the console log; the disks too without --disks-dir).
work=$(mktemp -d "${TMPDIR:-/tmp}/opdbus-vm.XXXXXX")
qemu_pid=
tail_pid=
cleanup() {
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- which Debian packages provide the binary's shared libraries ------------------------------------------------
# One dpkg -S call for all of them (it is slow per call). A library is looked up under both /lib and /usr/lib
# (merged /usr: dpkg knows each file by one of the two). Libraries no package owns (from a build tree) travel on
# the payload disk instead.
mapfile -t libs < <(ldd "$opdbus" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
candidates=()
for lib in "${libs[@]}"; do
  candidates+=("$lib" "$(readlink -f "$lib")")
  case $lib in /usr/*) candidates+=("${lib#/usr}") ;; *) candidates+=("/usr$lib") ;; esac
done
owners=$work/owners
if [ "${#candidates[@]}" -gt 0 ]; then
  dpkg -S "${candidates[@]}" 2>/dev/null | grep -v '^diversion ' >"$owners"
else
  : >"$owners"
fi
lib_packages=()
unpackaged_libs=()
for lib in "${libs[@]}"; do
  real=$(readlink -f "$lib")
  case $lib in /usr/*) other=${lib#/usr} ;; *) other=/usr$lib ;; esac
  pkgs=$(awk -v a="$lib" -v b="$real" -v c="$other" '
    { i = index($0, ": /"); path = substr($0, i + 2); split(substr($0, 1, i - 1), p, ", ") }
    path == a || path == b || path == c { for (k in p) { sub(/:.*/, "", p[k]); print p[k] } }' "$owners")
  if [ -n "$pkgs" ]; then
    while read -r p; do lib_packages+=("$p"); done <<<"$pkgs"
  else
    unpackaged_libs+=("$lib")
  fi
done
mapfile -t packages < <(printf '%s\n' "${base_packages[@]}" "${extra_packages[@]}" "${lib_packages[@]}" | sort -u)

# --- the cached image --------------------------------------------------------------------------------------------
cache=${OPDBUS_CACHE_DIR:-/var/cache/op-dbus}/vm
key=$( { printf '%s\n' "${packages[@]}"; echo ---; cat "$builder"; } | sha256sum | cut -c1-16)
# A root disk kept in --disks-dir stays on the image it was made from, even if this call would pick another one.
if [ -n "$disks_dir" ] && [ -f "$disks_dir/root.qcow2" ] && [ -f "$disks_dir/image-key" ]; then
  made_from=$(cat "$disks_dir/image-key")
  if [ "$made_from" != "$key" ]; then
    log "note: the root disk in $disks_dir was made from image $made_from (this call alone would use $key)"
    key=$made_from
    [ -f "$cache/$key/.complete" ] || die "image $key, the base of $disks_dir/root.qcow2, is gone"
  fi
fi
image=$cache/$key
mkdir -p "$cache" || die "cannot create $cache"

# The key's lock: exclusive while building, shared while a VM uses the image (so pruning skips it).
exec {lock_fd}>"$cache/$key.lock"
if [ ! -f "$image/.complete" ]; then
  flock -n -x "$lock_fd" || { log "waiting for another process building image $key..."; flock -x "$lock_fd"; }
  if [ ! -f "$image/.complete" ]; then
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    mirror=${mirror:-http://deb.debian.org/debian}
    log "building image $key (first time, ~3 min)..."
    started=$SECONDS
    rm -rf "$image"
    tmp=$(mktemp -d "$cache/.build-$key.XXXXXX")
    if ! "$builder" "$tmp" "$mirror" "${packages[@]}" >"$tmp/build.log" 2>&1; then
      tail -n 40 "$tmp/build.log" >&2
      mv "$tmp/build.log" "$cache/$key.failed.log" 2>/dev/null
      rm -rf "$tmp"
      die "image build failed (log: $cache/$key.failed.log)"
    fi
    touch "$tmp/.complete"
    mv -T "$tmp" "$image" || die "cannot move the image into $image"
    log "image built in $((SECONDS - started)) s"
    # Drop images nobody has used for two weeks and nobody is using now.
    for old in "$cache"/*/.last-used; do
      [ -e "$old" ] || continue
      od=$(dirname "$old")
      [ "$od" != "$image" ] || continue
      [ -n "$(find "$old" -mtime +14)" ] || continue
      exec {old_fd}>"$od.lock"
      if flock -n -x "$old_fd"; then rm -rf "$od"; rm -f "$od.lock"; log "pruned unused image $(basename "$od")"; fi
      exec {old_fd}>&-
    done
  fi
fi
flock -s "$lock_fd"
touch "$image/.last-used"

# --- per-run disks -----------------------------------------------------------------------------------------------
disks=${disks_dir:-$work}
mkdir -p "$disks" || die "cannot create $disks"
disks=$(cd "$disks" && pwd)
overlay=$disks/root.qcow2
if [ -f "$overlay" ] && [ -n "$disks_dir" ]; then
  log "reusing root disk $overlay"
else
  qemu-img create -q -f qcow2 -F raw -b "$image/base.img" "$overlay" || die "qemu-img create failed"
  echo "$key" >"$disks/image-key"
fi

blank_files=()
letter=(c d e f g h i j k l m n o p q r s t u v w x y z)
i=0
for size in "${blanks[@]}"; do
  [ "$i" -lt "${#letter[@]}" ] || die "too many --blank disks"
  f=$disks/vd${letter[$i]}.img
  if [ -f "$f" ] && [ -n "$disks_dir" ]; then
    log "reusing disk $f (/dev/vd${letter[$i]})"
  else
    truncate -s "$size" "$f" || die "--blank $size: bad size"
  fi
  blank_files+=("$f")
  i=$((i + 1))
done

# The payload disk: op-dbus, the script, the payload directories, and where the results come back.
staging=$work/staging
mkdir -p "$staging/bin" "$staging/payload" "$staging/lib"
cp "$opdbus" "$staging/bin/op-dbus"
cp "$script" "$staging/run.sh"
# The TAP helpers guest scripts source as /run/test/tap.sh.
cp "$(dirname "$(readlink -f "$0")")/../../lib/tap.sh" "$staging/tap.sh"
chmod 0755 "$staging/bin/op-dbus" "$staging/run.sh"
for d in "${payloads[@]}"; do cp -a "$d" "$staging/payload/$(basename "$(cd "$d" && pwd)")"; done
for l in "${unpackaged_libs[@]}"; do cp -L "$l" "$staging/lib/"; log "shipping unpackaged library $l"; done
payload_mb=$(( $(du -sm "$staging" | cut -f1) * 2 + 64 ))
[ "$payload_mb" -ge 256 ] || payload_mb=256
payload=$work/payload.img
truncate -s "${payload_mb}M" "$payload"
mkfs.ext4 -q -F -L OPDBUS-TEST -d "$staging" "$payload" || die "cannot make the payload disk"

# --- boot ----------------------------------------------------------------------------------------------------------
console=$work/console.log
: >"$console"
drives=(-drive "file=$overlay,if=virtio,format=qcow2$drive_cache" -drive "file=$payload,if=virtio,format=raw")
for f in "${blank_files[@]}"; do drives+=(-drive "file=$f,if=virtio,format=raw$drive_cache"); done
append="console=ttyS0 root=/dev/vda rw panic=-1 quiet"
[ "$shell" -eq 1 ] && append+=" opdbus.shell"
[ -n "$kernel_args" ] && append+=" $kernel_args"
nic=(-nic none)
[ "$net" -eq 1 ] && nic=(-nic user,model=virtio-net-pci)
qemu=(qemu-system-x86_64 -nodefaults -m "$memory" -smp 2 -nographic -no-reboot "${nic[@]}"
      -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$append" "${drives[@]}")
# ANSI sequences (the firmware clears the screen) and carriage returns, out of what people read.
plain() { sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[c78]//g' -e 's/\r$//'; }

started=$SECONDS
if [ "$shell" -eq 1 ]; then
  log "booting; a root shell follows the script (Ctrl-A X kills the VM)..."
  "${qemu[@]}" -chardev "stdio,id=s0,mux=on,signal=off,logfile=$console" -serial chardev:s0 -mon chardev=s0
  qemu_rc=$?
else
  log "booting (software emulation, ~30-40 s; timeout ${timeout_s} s)..."
  timeout -k 10 "$timeout_s" "${qemu[@]}" -serial "file:$console" -monitor none \
    </dev/null >"$work/qemu.out" 2>&1 &
  qemu_pid=$!
  if [ "$verbose" -eq 1 ]; then
    tail -n +1 -F --pid="$qemu_pid" -s 0.2 "$console" 2>/dev/null | plain >&2 &
    tail_pid=$!
  fi
  wait "$qemu_pid"
  qemu_rc=$?
  qemu_pid=
  [ -n "$tail_pid" ] && { wait "$tail_pid" 2>/dev/null; tail_pid=; }
fi
elapsed=$((SECONDS - started))

# --- results -------------------------------------------------------------------------------------------------------
guest_file() { debugfs -R "cat /$1" "$payload" 2>/dev/null; }
show_console() {
  [ "$verbose" -eq 1 ] || [ "$shell" -eq 1 ] && return
  echo "vm: ---- last 100 lines of the serial console ----" >&2
  tail -n 100 "$console" | plain >&2
  echo "vm: ---- end of console ----" >&2
}

if [ -n "$artifacts_dir" ]; then
  mkdir -p "$artifacts_dir"
  plain <"$console" >"$artifacts_dir/console.log"
  guest_file out.log >"$artifacts_dir/out.log"
  guest_file journal.txt >"$artifacts_dir/journal.txt"
  rm -rf "$artifacts_dir/artifacts"
  debugfs -R "rdump /artifacts $artifacts_dir" "$payload" >/dev/null 2>&1
fi
guest_file out.log
code=$(guest_file exit-code | tr -dc '0-9')

if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
  show_console
  log "TIMEOUT: the guest did not power off within ${timeout_s} s"
  exit 124
fi
if [ "$qemu_rc" -ne 0 ]; then
  cat "$work/qemu.out" >&2
  show_console
  log "qemu failed (exit $qemu_rc)"
  exit 125
fi
if [ -z "$code" ]; then
  show_console
  if [ -n "$(guest_file started)" ]; then
    log "the guest script started but did not finish (guest shut down or crashed while it ran)"
  else
    log "the guest never ran the script (boot failed?)"
  fi
  exit 125
fi
[ "$code" -eq 0 ] || show_console
log "guest script exited with $code after ${elapsed} s"
exit "$code"
