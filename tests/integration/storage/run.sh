#!/usr/bin/env bash
# The storage plugin against real loop devices (whole-device: the kernel here shows no partitions of loop
# devices, see TESTING.md): mkfs, probing, btrfs subvolumes on an unmounted filesystem, mounts under --root and
# fstab by UUID, drift, show round trip, and the refusals that leave a disk byte for byte as it was.
# Runs inside a private mount namespace, so a failed test leaves nothing mounted on the host.
# usage: run.sh OPDBUS SRCDIR        (prints TAP)
set -u
OPDBUS=$1
SRC=$2

if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for tool in losetup unshare mkfs.btrfs mkfs.ext4 btrfs findmnt python3 sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "1..0 # SKIP $tool is not installed"
    exit 0
  fi
done
if [ -z "${OPDBUS_STORAGE_PRIVATE_NS:-}" ]; then
  export OPDBUS_STORAGE_PRIVATE_NS=1
  exec unshare -m --propagation private "$0" "$@"
fi

T=$(mktemp -d /tmp/opdbus-storage-it.XXXXXX)
LOOPS=()
PIDS=()
DEVLINK=/dev/opdbus-it-$$-image
cleanup() {
  # Helpers this test started (by pid), innermost mounts, then the loop devices this test attached.
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -f "$DEVLINK"
  findmnt -rn -o TARGET | grep "^$T" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock
export OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
TAP_CHECK_OUT=$T/check
new_loop() {  # new_loop NAME SIZE -> sets LOOP
  truncate -s "$2" "$T/$1.img"
  LOOP=$(losetup -f --show "$T/$1.img") || { echo "Bail out! losetup failed"; exit 1; }
  LOOPS+=("$LOOP")
}
state() {  # state FILE STORAGE_JSON
  printf '{"version": 1, "plugins": {"storage": %s}}\n' "$2" >"$1"
}

ROOT=$T/root
mkdir -p "$ROOT/etc"
printf '# fstab of the test root\nproc\t/proc\tproc\tdefaults\t0\t0\n' >"$ROOT/etc/fstab"
run() { "$OPDBUS" "$@" --root "$ROOT"; }

# --- 1. A whole-disk btrfs with subvolumes mounted under --root, recorded in fstab by UUID ---------------
new_loop a 400M
A=$LOOP
state "$T/a.json" "{
  \"filesystems\": {\"$A\": {\"type\": \"btrfs\", \"label\": \"it-root\"}},
  \"btrfs_subvolumes\": {\"$A\": [{\"name\": \"@\", \"mount\": \"/\"}, {\"name\": \"@home\", \"mount\": \"/home\"}]},
  \"mounts\": {\"/\": {\"device\": \"$A\", \"subvol\": \"@\", \"options\": \"compress=zstd:3\"}}}"
expect "validate the btrfs state" 0 "$OPDBUS" validate "$T/a.json"
expect "plan on a blank loop device lists the changes" 2 run plan "$T/a.json"
contains "plan names the mkfs" "create btrfs filesystem \"it-root\" on $A"
contains "plan names the subvolume" "create btrfs subvolume @home on $A"
expect "apply creates, mounts and records" 0 run apply "$T/a.json"
check "blkid sees the btrfs filesystem and its label" \
  sh -c "blkid -p -o export $A | grep -qx TYPE=btrfs && blkid -p -o export $A | grep -qx LABEL=it-root"
check "/ is the @ subvolume with compress=zstd:3" \
  sh -c "findmnt -n -o FSROOT,OPTIONS '$ROOT' | grep -q '^/@ .*compress=zstd:3'"
check "/home is the @home subvolume" sh -c "findmnt -n -o FSROOT '$ROOT/home' | grep -qx '/@home'"
UUID_A=$(blkid -p -o value -s UUID "$A")
# The fstab that counts is the one in the mounted root ($ROOT/etc/fstab, on @).
check "fstab records / by UUID with the subvolume" \
  grep -qP "^UUID=$UUID_A\t/\tbtrfs\tsubvol=@,compress=zstd:3\t0\t0$" "$ROOT/etc/fstab"
check "fstab records /home by UUID" grep -qP "^UUID=$UUID_A\t/home\tbtrfs\tsubvol=@home\t0\t0$" "$ROOT/etc/fstab"
expect "second plan is empty" 0 run plan "$T/a.json"
expect "second apply changes nothing" 0 run apply "$T/a.json"
check "no scratch mounts are left under /run/op-dbus" sh -c "! findmnt -rn -o TARGET | grep -q '^/run/op-dbus/storage-'"

# Drift behind op-dbus's back: unmount /home, drop its fstab line, add an unrelated one, relabel.
umount "$ROOT/home"
grep -v $'\t/home\t' "$ROOT/etc/fstab" >"$T/fstab" && cat "$T/fstab" >"$ROOT/etc/fstab"
printf '# a line op-dbus does not own\ntmpfs\t/scratch\ttmpfs\tdefaults\t0\t0\n' >>"$ROOT/etc/fstab"
btrfs filesystem label "$ROOT" it-other >/dev/null
expect "drift is detected" 2 run plan "$T/a.json"
contains "drift: the unmounted /home" "storage/mounts//home"
contains "drift: the label" "relabel the btrfs filesystem on $A \"it-root\""
expect "apply corrects the drift" 0 run apply "$T/a.json"
check "/home is mounted again" findmnt -n "$ROOT/home"
check "the label is back" sh -c "blkid -p -o value -s LABEL $A | grep -qx it-root"
check "fstab has /home again and kept the unrelated line" \
  sh -c "grep -qP '^UUID=$UUID_A\t/home\t' '$ROOT/etc/fstab' && grep -qx '# a line op-dbus does not own' '$ROOT/etc/fstab' && grep -qP '^tmpfs\t/scratch\t' '$ROOT/etc/fstab'"
expect "plan is empty after the correction" 0 run plan "$T/a.json"

# Changed options: the fstab line is rewritten and the mounted filesystem remounted with them.
sed 's/"compress=zstd:3"/"compress=zstd:1,noatime"/' "$T/a.json" >"$T/a-opts.json"
expect "changed mount options are planned as a remount" 2 run plan "$T/a-opts.json"
contains "the plan says remount" "remount / with compress=zstd:1,noatime and update its /etc/fstab entry"
expect "apply remounts with the new options" 0 run apply "$T/a-opts.json"
check "the live mount has the new options" sh -c "findmnt -n -o OPTIONS '$ROOT' | grep -q 'noatime,compress=zstd:1'"
check "fstab has the new options" grep -qP "^UUID=$UUID_A\t/\tbtrfs\tsubvol=@,compress=zstd:1,noatime\t0\t0$" "$ROOT/etc/fstab"
expect "back to the original options" 0 run apply "$T/a.json"

# show reports the filesystem, its subvolumes and mounts; restricted to this test's devices it plans empty.
expect "show --plugin storage --json" 0 run show --plugin storage --json
cp "$T/out" "$T/show.json"
check "show reports type, label, uuid, subvolumes and mounts" python3 - "$T/show.json" "$A" "$UUID_A" <<'PY'
import json, sys
doc, dev, uuid = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
s = doc["plugins"]["storage"]
fs = s["filesystems"][dev]
assert fs == {"type": "btrfs", "label": "it-root", "uuid": uuid}, fs
assert [x["name"] for x in s["btrfs_subvolumes"][dev]] == ["@", "@home"], s["btrfs_subvolumes"]
m = s["mounts"]["/"]
assert m["device"] == "UUID=" + uuid and m["subvol"] == "@" and m["options"] == "compress=zstd:3", m
assert m["state"] == "mounted" and s["mounts"]["/home"]["state"] == "mounted"
assert s["devices"][dev]["size"] == "400M", s["devices"][dev]
PY
python3 - "$T/show.json" "$A" "$T/round.json" <<'PY'
import json, sys
doc, dev = json.load(open(sys.argv[1])), sys.argv[2]
s = doc["plugins"]["storage"]
keep = {"devices": {dev: s["devices"][dev]}, "filesystems": {dev: s["filesystems"][dev]},
        "btrfs_subvolumes": {dev: s["btrfs_subvolumes"][dev]},
        "mounts": {k: v for k, v in s["mounts"].items() if k in ("/", "/home")}}
json.dump({"version": 1, "plugins": {"storage": keep}}, open(sys.argv[3], "w"))
PY
expect "the show output validates" 0 "$OPDBUS" validate "$T/round.json"
expect "the show output plans to nothing" 0 run plan "$T/round.json"

# --- 2. Subvolumes on a btrfs filesystem that is not mounted; deletion needs --allow-destructive -------------
new_loop b 300M
B=$LOOP
mkfs.btrfs -q -L it-b "$B" >/dev/null
state "$T/b.json" "{\"btrfs_subvolumes\": {\"LABEL=it-b\": [{\"name\": \"@a\"}, {\"name\": \"@b\"}, {\"name\": \"@b/nested\"}]}}"
expect "subvolumes on an unmounted btrfs (named by LABEL=)" 0 run apply "$T/b.json"
mkdir -p "$T/peek"
mount -o subvolid=5 "$B" "$T/peek"
check "the subvolumes exist" sh -c "btrfs subvolume list -o '$T/peek' | awk '{print \$NF}' | sort | tr '\n' ' ' | grep -qx '@a @b '"
check "the nested subvolume exists" sh -c "btrfs subvolume list '$T/peek' | grep -q ' @b/nested$'"
umount "$T/peek"
check "the filesystem is not left mounted" sh -c "! grep -q '^$B ' /proc/self/mounts"
state "$T/b2.json" "{\"btrfs_subvolumes\": {\"$B\": [{\"name\": \"@b/nested\", \"state\": \"absent\"}]}}"
expect "plan marks the deletion destructive" 2 run plan "$T/b2.json"
contains "plan shows DESTRUCTIVE" "DESTRUCTIVE"
expect "deleting a subvolume without --allow-destructive is refused" 1 run apply "$T/b2.json"
contains "the refusal says why" "refusing destructive actions without --allow-destructive"
expect "with --allow-destructive it is deleted" 0 run apply --allow-destructive "$T/b2.json"
mount -o subvolid=5,ro "$B" "$T/peek"
check "the nested subvolume is gone, its parent kept" \
  sh -c "! btrfs subvolume list '$T/peek' | grep -q nested && btrfs subvolume list '$T/peek' | grep -q ' @b$'"
umount "$T/peek"

# --- 3. Refusals leave the disk byte for byte as it was --------------------------------------------------------
new_loop c 200M
C=$LOOP
mkfs.ext4 -q -F -L precious "$C" >/dev/null
mkdir -p "$T/peek" && mount "$C" "$T/peek" && echo "data that must survive" >"$T/peek/file" && umount "$T/peek"
HASH_C=$(sha256sum <"$C")
state "$T/c1.json" "{\"devices\": {\"$C\": {\"partition_table\": \"gpt\", \"partitions\": [{\"number\": 1, \"size\": \"remaining\"}]}}}"
expect "partitioning a disk with a filesystem is refused at plan" 1 run plan "$T/c1.json"
contains "the refusal names the filesystem and the way out" \
  "storage: $C: it holds an ext4 filesystem and no partition table; set \"wipe\": true and pass --allow-destructive to repartition"
expect "and at apply" 1 run apply --allow-destructive "$T/c1.json"
state "$T/c2.json" "{\"filesystems\": {\"$C\": {\"type\": \"xfs\"}}}"
expect "reformatting without wipe is refused" 1 run apply --allow-destructive "$T/c2.json"
contains "the refusal says what differs" "filesystem did not match: want xfs, got ext4"
state "$T/c3.json" "{\"devices\": {\"$C\": {\"partition_table\": \"gpt\", \"wipe\": true, \"partitions\": [{\"number\": 1, \"size\": \"remaining\"}]}}}"
expect "with wipe, plan shows the destructive action" 2 run plan "$T/c3.json"
contains "plan marks it DESTRUCTIVE" "DESTRUCTIVE"
expect "with wipe but without --allow-destructive, apply refuses" 1 run apply "$T/c3.json"
state "$T/c4.json" "{\"filesystems\": {\"$C\": {\"type\": \"ext4\", \"label\": \"precious\"}}}"
expect "the same type and label is kept" 0 run apply "$T/c4.json"
check "the disk is byte for byte unchanged" sh -c "[ \"\$(sha256sum <'$C')\" = '$HASH_C' ]"
expect "with wipe and --allow-destructive the disk is repartitioned" 0 run apply --allow-destructive "$T/c3.json"
check "the old filesystem is gone and a gpt table is there" \
  sh -c "blkid -p -o export $C | grep -qx PTTYPE=gpt && ! blkid -p -o export $C | grep -q '^TYPE='"
expect "plan is empty after repartitioning" 0 run plan "$T/c3.json"

# --- 4. ext4, xfs, vfat on loop devices: made once, then kept; a failing mkfs reports the tool's words ----------
for fs in ext4 xfs vfat; do
  command -v "mkfs.$fs" >/dev/null 2>&1 || { ok "mkfs.$fs # SKIP not installed"; continue; }
  new_loop "fs-$fs" 320M
  D=$LOOP
  label=$([ "$fs" = vfat ] && echo ITVFAT || echo "it-$fs")
  # This kernel may lack a filesystem (vfat is a module); then the filesystem is made but not mounted.
  modprobe "$fs" >/dev/null 2>&1
  if grep -qw "$fs" /proc/filesystems; then
    mounts=", \"mounts\": {\"/srv/$fs\": {\"device\": \"LABEL=$label\", \"options\": \"noatime\"}}"
  else
    mounts=""
  fi
  state "$T/$fs.json" "{\"filesystems\": {\"$D\": {\"type\": \"$fs\", \"label\": \"$label\"}}$mounts}"
  expect "$fs: apply" 0 run apply "$T/$fs.json"
  check "$fs: blkid agrees" sh -c "blkid -p -o value -s TYPE $D | grep -qx $fs"
  if [ -n "$mounts" ]; then
    check "$fs: mounted under the root" findmnt -n "$ROOT/srv/$fs"
  else
    ok "$fs: mounted under the root # SKIP this kernel has no $fs"
  fi
  expect "$fs: second plan is empty" 0 run plan "$T/$fs.json"
done
new_loop bad 64M
state "$T/bad.json" "{\"filesystems\": {\"$LOOP\": {\"type\": \"ext4\", \"options\": \"--no-such-option\"}}}"
expect "a failing mkfs fails the apply" 1 run apply "$T/bad.json"
contains "the error carries mkfs's own words" "mkfs.ext4: invalid option"

# --- 5. Absent mounts are unmounted and leave fstab ----------------------------------------------------------
state "$T/gone.json" "{\"mounts\": {\"/srv/ext4\": {\"state\": \"absent\"}}}"
expect "a mount declared absent is removed" 0 run apply "$T/gone.json"
check "it is unmounted" sh -c "! findmnt -n '$ROOT/srv/ext4'"
check "its fstab line is gone, the others stay" \
  sh -c "! grep -qP '\t/srv/ext4\t' '$ROOT/etc/fstab' && grep -qP '\t/srv/xfs\t' '$ROOT/etc/fstab'"

# --- 6. --root confinement: directories that are symlinks (absolute and relative, into and out of the root) ---
# A chroot resolves an absolute link as <root>/<target> and never lets ".." climb above the root; op-dbus must
# mount and write exactly there, and nothing outside the root may change.
CR=$T/conf/root
OUT=$T/conf/outside
# The places a chroot resolves the links to exist inside the root too (as in an installed tree); the same
# names outside exist as well, so a resolver that escaped would find them.
mkdir -p "$CR/real-mnt" "$CR$OUT/srv" "$CR/outside/etc" "$OUT/srv" "$OUT/etc" "$OUT/mnt" "$OUT/dangling"
printf 'outside fstab: must not change\n' >"$OUT/etc/fstab"
echo "outside file" >"$OUT/srv/keep"
ln -s "$OUT/srv" "$CR/srv"            # absolute, pointing out of the root: means $CR$OUT/srv
ln -s ../../outside/etc "$CR/etc"     # relative, climbing out: means $CR/outside/etc
ln -s real-mnt "$CR/mnt"              # relative, into the root
ln -s /real-mnt "$CR/data"            # absolute, into the root
ln -s "$OUT/dangling" "$CR/dangling"  # absolute, out of the root, with nothing at root/target
outside_sum() { (cd "$T/conf/outside" && find . -printf '%p %y %l\n' | sort && find . -type f -exec sha256sum {} + | sort); }
mount_list() { findmnt -rn -o TARGET | sort; }
SUM_OUT=$(outside_sum)
MOUNTS_BEFORE=$(mount_list)
new_loop conf 200M
E=$LOOP
mkfs.ext4 -q -F -L it-conf "$E" >/dev/null
state "$T/conf.json" "{\"filesystems\": {\"$E\": {\"type\": \"ext4\", \"label\": \"it-conf\"}},
  \"mounts\": {\"/srv/data\": {\"device\": \"LABEL=it-conf\"},
             \"/mnt/x\": {\"device\": \"LABEL=it-conf\", \"fstab\": false},
             \"/data/y\": {\"device\": \"LABEL=it-conf\", \"fstab\": false}}}"
confrun() { "$OPDBUS" "$@" --root "$CR"; }
echo half >"$CR/outside/etc/fstab.op-dbus-tmp-99999999"   # left by a killed run (no such pid)
expect "confinement: apply through symlinked directories" 0 confrun apply "$T/conf.json"
check "a killed run's temporary of fstab is removed by the next apply" test ! -e "$CR/outside/etc/fstab.op-dbus-tmp-99999999"
check "confinement: nothing outside the root changed (checksums)" sh -c "[ \"\$1\" = \"\$2\" ]" _ "$SUM_OUT" "$(outside_sum)"
check "confinement: every new mount is inside the root" sh -c \
  "comm -13 /dev/fd/3 /dev/fd/4 3<<A 4<<B | grep -v '^$CR/' | { ! grep -q .; }
\$1
A
\$2
B" _ "$MOUNTS_BEFORE" "$(mount_list)"
check "confinement: absolute link out of the root mounts at root/target, as a chroot" findmnt -n "$CR$OUT/srv/data"
check "confinement: relative link into the root" findmnt -n "$CR/real-mnt/x"
check "confinement: absolute link into the root" findmnt -n "$CR/real-mnt/y"
check "confinement: fstab lands where a chroot puts it (relative link cannot climb out)" \
  grep -qP "^UUID=[0-9a-f-]+\t/srv/data\text4\t" "$CR/outside/etc/fstab"
check "confinement: the fstab outside the root is untouched" grep -qx 'outside fstab: must not change' "$OUT/etc/fstab"
expect "confinement: second plan is empty" 0 confrun plan "$T/conf.json"
state "$T/conf-gone.json" "{\"mounts\": {\"/srv/data\": {\"state\": \"absent\"}, \"/mnt/x\": {\"state\": \"absent\"}, \"/data/y\": {\"state\": \"absent\"}}}"
expect "confinement: absent mounts are removed inside the root" 0 confrun apply "$T/conf-gone.json"
check "confinement: unmounted and removed from the root's fstab" \
  sh -c "! findmnt -n '$CR$OUT/srv/data' && ! grep -q '/srv/data' '$CR/outside/etc/fstab'"
state "$T/conf-dangling.json" "{\"mounts\": {\"/dangling/x\": {\"device\": \"LABEL=it-conf\"}}}"
expect "confinement: a link whose in-root target is missing is refused, not followed out" 1 \
  confrun apply "$T/conf-dangling.json"
check "confinement: nothing is mounted at the outside target" sh -c "! findmnt -n '$OUT/dangling/x'"
check "confinement: still nothing outside the root changed" sh -c "[ \"\$1\" = \"\$2\" ]" _ "$SUM_OUT" "$(outside_sum)"

# A --root that does not exist yet (bootstrap's target) is made, and "/" mounted on it.
state "$T/fresh.json" "{\"mounts\": {\"/\": {\"device\": \"LABEL=it-conf\"}}}"
expect "a --root that does not exist yet plans" 2 "$OPDBUS" plan --root "$T/fresh/root" "$T/fresh.json"
expect "and applies: the root is made and / mounted on it" 0 "$OPDBUS" apply --root "$T/fresh/root" "$T/fresh.json"
check "/ is mounted on the new root, fstab written on it" \
  sh -c "findmnt -n '$T/fresh/root' >/dev/null && grep -qP '^UUID=[0-9a-f-]+\t/\text4\t' '$T/fresh/root/etc/fstab'"
expect "the new root plans to nothing" 0 "$OPDBUS" plan --root "$T/fresh/root" "$T/fresh.json"
umount "$T/fresh/root"

# --- 7. Exclusive devices: mounted in another mount namespace, or held open with O_EXCL by another process ---
new_loop excl-ns 200M
F=$LOOP
mkfs.ext4 -q -F -L it-elsewhere "$F" >/dev/null
mkdir -p "$T/other-ns"
# Read-only there, so the filesystem itself never writes to the device (ext4 would, lazily, when read-write).
unshare -m --propagation private sh -c "mount -o ro '$F' '$T/other-ns' && echo ready && exec sleep 600" >"$T/ns.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q ready "$T/ns.out" && break; sleep 0.1; done
check "the helper mounted the device in its own namespace only" sh -c "grep -q ready '$T/ns.out' && ! findmnt -n '$T/other-ns'"
HASH_F=$(sha256sum <"$F")
state "$T/excl1.json" "{\"filesystems\": {\"$F\": {\"type\": \"xfs\", \"wipe\": true}}}"
expect "reformatting a device mounted in another namespace is refused" 1 run apply --allow-destructive "$T/excl1.json"
contains "the refusal says it is in use" "$F is in use"
state "$T/excl2.json" "{\"devices\": {\"$F\": {\"partition_table\": \"gpt\", \"wipe\": true, \"partitions\": [{\"number\": 1, \"size\": \"remaining\"}]}}}"
expect "repartitioning a device mounted in another namespace is refused" 1 run apply --allow-destructive "$T/excl2.json"
contains "the partition refusal says it is in use" "$F is in use"
state "$T/excl3.json" "{\"filesystems\": {\"$F\": {\"type\": \"ext4\", \"label\": \"renamed\"}}}"
expect "relabelling a device mounted in another namespace is refused" 1 run apply "$T/excl3.json"
check "the device mounted elsewhere is byte for byte unchanged" sh -c "[ \"\$(sha256sum <'$F')\" = '$HASH_F' ]"

new_loop excl-held 200M
G=$LOOP
python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL)
print("ready", flush=True)
time.sleep(600)' "$G" >"$T/held.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q ready "$T/held.out" && break; sleep 0.1; done
check "the helper holds the device with O_EXCL" grep -q ready "$T/held.out"
HASH_G=$(sha256sum <"$G")
state "$T/held1.json" "{\"filesystems\": {\"$G\": {\"type\": \"ext4\"}}}"
expect "mkfs on a device held with O_EXCL by another process is refused" 1 run apply "$T/held1.json"
contains "the mkfs refusal says it is in use" "$G is in use"
state "$T/held2.json" "{\"devices\": {\"$G\": {\"partition_table\": \"gpt\", \"partitions\": [{\"number\": 1, \"size\": \"remaining\"}]}}}"
expect "partitioning a device held with O_EXCL is refused" 1 run apply "$T/held2.json"
contains "the partitioning refusal says it is in use" "$G is in use"
check "the held device is byte for byte unchanged" sh -c "[ \"\$(sha256sum <'$G')\" = '$HASH_G' ]"

# A device held by a local mount is named in the refusal (holders and this namespace's mounts are read).
new_loop excl-here 200M
H=$LOOP
mkfs.ext4 -q -F "$H" >/dev/null
mkdir -p "$T/here" && mount "$H" "$T/here"
state "$T/here.json" "{\"devices\": {\"$H\": {\"partition_table\": \"gpt\", \"wipe\": true, \"partitions\": [{\"number\": 1, \"size\": \"remaining\"}]}}}"
expect "repartitioning a device mounted here is refused" 1 run apply --allow-destructive "$T/here.json"
contains "the refusal names the mount" "mounted on $T/here"
umount "$T/here"

# --- 8. Only block devices: a /dev name that leads to a regular file is refused at plan time -------------------
truncate -s 64M "$T/plain.img"
HASH_IMG=$(sha256sum <"$T/plain.img")
ln -s "$T/plain.img" "$DEVLINK"
state "$T/img.json" "{\"filesystems\": {\"$DEVLINK\": {\"type\": \"ext4\"}}}"
expect "a regular file behind a /dev name is refused" 1 run plan "$T/img.json"
contains "the refusal says it is not a block device" "is not a block device"
expect "and apply refuses it too" 1 run apply "$T/img.json"
check "the image file is untouched" sh -c "[ \"\$(sha256sum <'$T/plain.img')\" = '$HASH_IMG' ]"

# --- 9. Hostile mkfs options never reach the tool -----------------------------------------------------------------
new_loop victim 64M
V=$LOOP
HASH_V=$(sha256sum <"$V")
new_loop target 64M
state "$T/inject.json" "{\"filesystems\": {\"$LOOP\": {\"type\": \"ext4\", \"options\": [\"-f\", \"$V\"]}}}"
expect "mkfs options naming another device are refused at validate" 1 "$OPDBUS" validate "$T/inject.json"
expect "and at apply" 1 run apply --allow-destructive "$T/inject.json"
check "the other device is untouched" sh -c "[ \"\$(sha256sum <'$V')\" = '$HASH_V' ]"

tap_done
