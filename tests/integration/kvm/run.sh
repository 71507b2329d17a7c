#!/usr/bin/env bash
# The kvm plugin against a real libvirtd with the qemu driver (software emulation, TCG), on the host
# (prints TAP). libvirtd and virtlogd are started when not running and stopped at the end only if this test
# started them (by the PIDs it recorded). Everything made here carries this run's number N: the bridge
# kvmbr-tN (made by the network plugin in the same document), the dir pool kvmt-pool-N under
# /var/lib/op-dbus-tests/kvm-pool/N, the domains kvmt-N-*.
#
# The guest (make-guest.sh, cached under /var/cache/op-dbus-tests/kvm): a Debian kernel and a busybox initrd,
# booted directly (boot.kernel/initrd/cmdline). It prints "op-dbus-kvm-guest: booted", its memory and the
# address it takes from the command line (kvmt.ip=) on the serial console, which the document writes to a file
# (console.log), and answers ping: the host side is a veth from the test's netns kvmt-ns-N on the bridge. It
# boots in about 10 s under TCG and 256 MiB.
#
# Checked: validate, apply (bridge + volume + define + start), running, the kernel and initrd in the domain,
# the console log says it booted with its address, it answers ping across the bridge, the cloud-init seed ISO
# (attached, its user-data and network-config, label cidata), a second plan is empty, show round-trips; a
# memory change is planned as needing a reboot and only updates the definition; a VM destroyed behind
# op-dbus's back (virsh destroy) is drift that apply corrects (the guest boots again, sees the new memory and
# answers ping); restart "allowed" restarts it (forced off after the timeout: the guest ignores ACPI);
# stopped; absent refused without --allow-destructive, then removes the domain and keeps its disk, which a new
# VM of that name reuses; delete_disks deletes it; a failing start reports libvirt's own reason; a missing
# pool or kernel is a plan error; hostile documents change nothing.
#
# op-dbus runs in a private mount namespace with the test's own directory over /var/lib/op-dbus, so its journal
# is this test's (the host's shared journal can be gigabytes, which every apply would read), and nothing else
# of the host's mounts changes.
# usage: run.sh OPDBUS [SOURCE_ROOT]
set -u
OPDBUS_BIN=$(readlink -f "$1")
SRC=$(readlink -f "${2:-$(dirname "$0")/../../..}")
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for tool in libvirtd virtlogd virsh genisoimage isoinfo qemu-system-x86_64 qemu-img ip ping python3 unshare dpkg-deb gzip; do
  if ! command -v "$tool" >/dev/null; then
    echo "1..0 # SKIP $tool not installed"
    exit 0
  fi
done

N=$$
T=$(mktemp -d /tmp/kvm-test.XXXXXX)
BR=kvmbr-t$N
POOL=kvmt-pool-$N
POOL_DIR=/var/lib/op-dbus-tests/kvm-pool/$N
VM=kvmt-$N-a
STARTED_PIDS=""
NS_MADE=""
export LIBVIRT_DEFAULT_URI=qemu:///system
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run
v() { virsh -q "$@"; }

cleanup() {
  local d
  for d in $(virsh -q list --all --name 2>/dev/null | grep "^kvmt-$N-"); do
    virsh -q destroy "$d" >/dev/null 2>&1
    virsh -q undefine "$d" --nvram >/dev/null 2>&1 || virsh -q undefine "$d" >/dev/null 2>&1
    rm -f "/var/log/libvirt/qemu/$d-console.log" "/var/lib/libvirt/images/op-dbus-seeds/$d-seed.iso"
  done
  if virsh -q pool-info "$POOL" >/dev/null 2>&1; then
    for d in $(virsh -q vol-list "$POOL" 2>/dev/null | awk '{print $1}'); do virsh -q vol-delete "$d" --pool "$POOL" >/dev/null 2>&1; done
    virsh -q pool-destroy "$POOL" >/dev/null 2>&1
    virsh -q pool-undefine "$POOL" >/dev/null 2>&1
  fi
  rm -rf "$POOL_DIR"
  rmdir /var/lib/libvirt/images/op-dbus-seeds 2>/dev/null
  ip link del "kvmv$N" 2>/dev/null
  [ -n "$NS_MADE" ] && ip netns del "kvmt-ns-$N" 2>/dev/null
  ip link del "$BR" 2>/dev/null
  for pid in $STARTED_PIDS; do kill "$pid" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
mkdir -p -m 700 "$T/journal"; mkdir -p /var/lib/op-dbus
OPDBUS=$T/op-dbus
cat >"$OPDBUS" <<SH
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind "\$0" /var/lib/op-dbus && exec "\$@"' "$T/journal" "$OPDBUS_BIN" "\$@"
SH
chmod 755 "$OPDBUS"

# libvirtd (and virtlogd, which writes the console log) by hand: the host has no systemd.
start_daemon() {  # start_daemon NAME PIDFILE
  if [ -f "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then return 0; fi
  "$1" -d || return 1
  for _ in $(seq 50); do [ -s "$2" ] && break; sleep 0.1; done
  STARTED_PIDS="$STARTED_PIDS $(cat "$2")"
}
start_daemon virtlogd /run/virtlogd.pid
start_daemon libvirtd /run/libvirtd.pid
for _ in $(seq 50); do virsh -q version >/dev/null 2>&1 && break; sleep 0.2; done
if ! virsh -q version >/dev/null 2>&1; then
  echo "1..0 # SKIP libvirtd does not answer at qemu:///system"
  exit 0
fi

# The guest: a Debian kernel and a busybox initrd (make-guest.sh; cached), booted directly by QEMU. It prints
# "op-dbus-kvm-guest: booted" and its address on the serial console, which the document writes to a file.
mkdir -p "$T/guest"
if ! "$(dirname "$0")/make-guest.sh" "$T/guest" 2>"$T/make-guest.log"; then
  cat "$T/make-guest.log" >&2
  echo "Bail out! cannot make the test guest (a Debian kernel and busybox; see above)"
  exit 1
fi
sed 's/^/# /' "$T/make-guest.log"
# The image the second disk is made from (a qcow2 overlay of it): 16 MiB starting with a marker.
{ printf 'op-dbus-kvm-image-marker'; head -c $((16 << 20)) /dev/zero; } | head -c $((16 << 20)) >"$T/base.raw"
qemu-img convert -q -f raw -O qcow2 "$T/base.raw" "$T/guest/base.qcow2" && rm -f "$T/base.raw"
IMAGE_SUM=$(sha256sum <"$T/guest/base.qcow2")
chmod 755 "$T" "$T/guest"

mkdir -p "$POOL_DIR"
v pool-define-as "$POOL" dir --target "$POOL_DIR" >/dev/null && v pool-start "$POOL" >/dev/null

# The documents: the example of docs/plugins/kvm.md with this run's names, and variants of it.
python3 - "$SRC/docs/plugins/kvm.md" "$T" "$BR" "$POOL" "$VM" <<'PY'
import copy, json, re, sys
md, t, br, pool, vm = sys.argv[1:]
block = re.search(r"```json\n(.*?)```", open(md).read(), re.S).group(1)
block = block.replace("kvmbr-t0", br).replace("kvmt-pool", pool).replace("kvmt-web", vm)
block = block.replace("/var/lib/op-dbus-tests/kvm-guest", t + "/guest")
example = json.loads(block)
def variant(name, **fields):
    d = copy.deepcopy(example)
    v = d["plugins"]["kvm"]["vms"][vm]
    for k, x in fields.items():
        if x is None:
            v.clear()
        else:
            v[k] = x
    json.dump(d, open(t + "/" + name + ".json", "w"), indent=2)
variant("a")
variant("b", memory=384)
variant("c", memory=320, restart="allowed")
variant("stopped", memory=320, state="stopped")
variant("absent", _=None, state="absent", shutdown_timeout=3)
variant("purge", _=None, state="absent", delete_disks=True, shutdown_timeout=3)
variant("missing-iso", _=None, virt_type="qemu", memory=256, cdrom=t + "/no-such.iso", boot=["cdrom"],
        shutdown_timeout=1)
variant("nopool", _=None, virt_type="qemu", disks=[{"storage": pool.replace("pool", "nopool"), "size": 1}])
variant("nokernel", _=None, virt_type="qemu", boot={"kernel": t + "/guest/no-such-vmlinuz"})
PY

state() { virsh -q domstate "$1" 2>/dev/null | head -1; }
CONSOLE=$T/guest/console.log
console_says() {  # console_says TEXT: the guest's console log shows TEXT within 3 minutes
  for _ in $(seq 360); do
    grep -qF "$1" "$CONSOLE" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "# the console log:"
  sed 's/^/#   /' "$CONSOLE" 2>/dev/null
  return 1
}
pings() {  # the guest answers ping from the host side of the bridge (the test's netns), within 60 s
  for _ in $(seq 30); do
    ip netns exec "$NS" ping -c 1 -W 2 192.0.2.10 >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
plan_is_empty() {
  "$OPDBUS" plan "$1" >"$T/plan" 2>&1 && grep -q 'No changes' "$T/plan" && return 0
  cat "$T/plan"
  return 1
}
max_memory_kib() { virsh -q dumpxml "$@" "$VM" | sed -n "s/.*<memory unit='KiB'>\([0-9]*\)<.*/\1/p"; }

# 0. --root: VMs are libvirtd's running state, not files of a tree: refused, nothing changes
mkdir -p "$T/root"
expect "plan --root is refused for the kvm plugin" 1 "$OPDBUS" plan --root "$T/root" --plugin kvm "$T/a.json"
contains "saying --root is not supported" "--root"
is "nothing was defined" "" sh -c "virsh -q list --all --name | grep '^kvmt-$N-'"

# 1. validate and create
expect "the document validates" 0 "$OPDBUS" validate "$T/a.json"
expect "the first plan shows changes" 2 "$OPDBUS" plan "$T/a.json"
contains "the plan creates the volume in the pool" "create volume $POOL/$VM-disk0.img (64M)"
check "apply makes the bridge, the volume, the VM and starts it" "$OPDBUS" apply "$T/a.json"
is "the domain is running" "running" state "$VM"
check "the domain boots the document's kernel and initrd" sh -c "virsh -q dumpxml $VM | grep -qF '<kernel>$T/guest/vmlinuz</kernel>' && virsh -q dumpxml $VM | grep -qF '<initrd>$T/guest/initrd.gz</initrd>'"
check "the guest booted: its console, written to the document's file, says so" console_says "op-dbus-kvm-guest: booted"
check "the guest took its address from the command line" console_says "inet 192.0.2.10/24"
# The host side of the bridge: a veth from the test's own netns, so its address is nowhere on the host.
NS=kvmt-ns-$N
ip netns add "$NS" && NS_MADE=1
ip link add "kvmv$N" type veth peer name "kvmp$N" netns "$NS"
ip link set "kvmv$N" master "$BR" up
ip -n "$NS" addr add 192.0.2.1/24 dev "kvmp$N"
ip -n "$NS" link set "kvmp$N" up
check "the guest answers ping across the bridge" pings
check "the disk made from the image is a qcow2 overlay of it" sh -c "qemu-img info -U \$(virsh -q vol-path $VM-disk1.qcow2 --pool $POOL) | grep -qF 'backing file: $T/guest/base.qcow2'"
check "its size is the image's" sh -c "virsh -q vol-info $VM-disk1.qcow2 --pool $POOL --bytes | grep -q 'Capacity: *16777216 bytes'"
check "the guest reads the image's content on that disk" console_says "op-dbus-kvm-image-marker"
check "the volume is in the pool with the size asked" sh -c "virsh -q vol-info $VM-disk0.img --pool $POOL --bytes | grep -q 'Capacity: *67108864 bytes'"
check "the NIC is on the bridge" sh -c "virsh -q domiflist $VM | grep -q ' bridge *$BR '"
SEED=/var/lib/libvirt/images/op-dbus-seeds/$VM-seed.iso
check "the cloud-init seed is attached as the second CD-ROM" sh -c "virsh -q domblklist $VM | grep -q 'hdd *$SEED'"
check "its user-data creates the user with the document's key" sh -c \
  "isoinfo -R -i $SEED -x /user-data | grep -q 'ssh_authorized_keys: \\[\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtpbmQtb2YtYS10ZXN0LWtleS1mb3Itb3AtZGJ1cw admin@example\"\\]'"
check "its network-config has the static address" sh -c "isoinfo -R -i $SEED -x /network-config | grep -q '192.0.2.10/24'"
check "its volume label is cidata" sh -c "isoinfo -d -i $SEED | grep -q 'Volume id: cidata'"
check "a second plan is empty" plan_is_empty "$T/a.json"
"$OPDBUS" show --plugin kvm >"$T/show.json" 2>"$T/show.err"
check "show reports the VM in the document's format" python3 - "$T/show.json" "$VM" "$BR" <<'PY'
import json, sys
vm = json.load(open(sys.argv[1]))["plugins"]["kvm"]["vms"][sys.argv[2]]
assert vm["state"] == "running" and vm["memory"] == 256 and vm["cores"] == 1, vm
assert vm["network"][0]["bridge"] == sys.argv[3] and vm["disks"][0]["size"] == "64M", vm
assert vm["boot"]["kernel"].endswith("/guest/vmlinuz") and "kvmt.ip=192.0.2.10/24" in vm["boot"]["cmdline"], vm
assert vm["console"]["log"].endswith("/guest/console.log"), vm
assert vm["disks"][1] == {"storage": vm["disks"][0]["storage"], "size": "16M", "source": vm["boot"]["kernel"].replace("vmlinuz", "base.qcow2")}, vm
PY
expect "show round-trips to an empty plan" 0 "$OPDBUS" plan --plugin kvm "$T/show.json"

# 2. memory: needs a reboot; only the definition changes
expect "a memory change is planned" 2 "$OPDBUS" plan "$T/b.json"
contains "it is planned as needing a reboot" "needs reboot"
contains "and says it takes effect at the next boot" "takes effect at the next boot"
check "apply updates the definition" "$OPDBUS" apply "$T/b.json"
is "the running VM keeps its memory" "262144" max_memory_kib
is "the definition has the new memory" "393216" max_memory_kib --inactive
is "the VM was not restarted" "running" state "$VM"
check "a second plan is empty" plan_is_empty "$T/b.json"

# 3. drift: destroyed behind op-dbus's back
v destroy "$VM" >/dev/null
expect "a VM stopped behind op-dbus's back is drift" 2 "$OPDBUS" plan "$T/b.json"
contains "the plan starts it" "start VM $VM"
check "apply starts it again" "$OPDBUS" apply "$T/b.json"
is "the domain is running again" "running" state "$VM"
is "it booted with the new memory" "393216" max_memory_kib
check "the guest booted again and sees the new memory (384 MiB: MemTotal 3xxxxx kB)" console_says "op-dbus-kvm-guest: memory 3"
check "the guest answers ping again" pings
check "a second plan is empty" plan_is_empty "$T/b.json"

# 4. restart allowed: the guest ignores ACPI, so it is forced off after shutdown_timeout and started
expect "with restart allowed the change is planned as a restart" 2 "$OPDBUS" plan "$T/c.json"
contains "the plan says the VM restarts" "(restarts the VM)"
check "apply restarts the VM" "$OPDBUS" apply "$T/c.json"
is "the VM runs with the new memory" "327680" max_memory_kib
check "a second plan is empty" plan_is_empty "$T/c.json"

# 5. stopped
check "apply stops the VM (forced off after the timeout)" "$OPDBUS" apply "$T/stopped.json"
is "the domain is shut off" "shut off" state "$VM"
check "a second plan is empty" plan_is_empty "$T/stopped.json"

# 6. absent: destructive, keeps the disk unless delete_disks
expect "absent is refused without --allow-destructive" 1 "$OPDBUS" apply "$T/absent.json"
contains "the refusal names the VM" "kvm/vms/$VM"
is "the domain is still defined" "shut off" state "$VM"
check "apply --allow-destructive removes it" "$OPDBUS" apply --allow-destructive "$T/absent.json"
check "the domain is gone" sh -c "! virsh -q dominfo $VM >/dev/null 2>&1"
check "its disk is kept" sh -c "virsh -q vol-info $VM-disk0.img --pool $POOL >/dev/null"
check "its cloud-init seed is removed" test ! -e "$SEED"
check "a second plan is empty" plan_is_empty "$T/absent.json"
check "a new VM of that name reuses the kept disk" "$OPDBUS" apply "$T/a.json"
is "it runs" "running" state "$VM"
check "apply --allow-destructive with delete_disks removes the VM" "$OPDBUS" apply --allow-destructive "$T/purge.json"
check "and deletes its disks" sh -c "! virsh -q vol-info $VM-disk0.img --pool $POOL >/dev/null 2>&1 && ! virsh -q vol-info $VM-disk1.qcow2 --pool $POOL >/dev/null 2>&1"
is "the image the overlay was made from is unchanged" "$IMAGE_SUM" sh -c "sha256sum <$T/guest/base.qcow2"
check "a second plan is empty" plan_is_empty "$T/purge.json"

# 7. a failing action reports libvirt's own reason
expect "a start that libvirt refuses fails the apply" 1 "$OPDBUS" apply "$T/missing-iso.json"
contains "the error carries libvirt's reason" "no-such.iso"
check "clean up that VM" "$OPDBUS" apply --allow-destructive "$T/absent.json"

# 8. a pool that does not exist is a plan error; hostile names are refused at validate, changing nothing
expect "a missing pool is a plan error" 1 "$OPDBUS" plan "$T/nopool.json"
contains "naming the pool" "storage pool \"kvmt-nopool-$N\" does not exist"
expect "a kernel that is not on the host is a plan error" 1 "$OPDBUS" plan "$T/nokernel.json"
contains "naming the field and the path" "kvm/vms/$VM/boot/kernel: \"$T/guest/no-such-vmlinuz\" does not exist on the host"
before=$(virsh -q list --all --name | sort | sha256sum)
i=0
for name in 'kvmt<x' 'kvmt&x' 'kvmt\nx' 'kvmt/x' "$(printf 'k%.0s' $(seq 200))"; do
  i=$((i + 1))
  printf '{"version": 1, "plugins": {"kvm": {"vms": {"v": {"name": "%s", "virt_type": "qemu"}}}}}\n' "$name" >"$T/hostile$i.json"
  expect "hostile name $i is refused at validate" 1 "$OPDBUS" apply "$T/hostile$i.json"
  contains "the refusal names the file and the pointer" "$T/hostile$i.json"
done
printf '{"version": 1, "plugins": {"kvm": {"vms": {"kvmt-%s-h": {"network": [{"bridge": "br0%s"}]}}}}}\n' "$N" "'/><x a='" >"$T/hostile-bridge.json"
expect "a bridge name carrying XML is refused" 1 "$OPDBUS" apply "$T/hostile-bridge.json"
printf '{"version": 1, "plugins": {"kvm": {"vms": {"kvmt-%s-h": {"disks": [{"storage": "../x", "size": 1}]}}}}}\n' "$N" >"$T/hostile-pool.json"
expect "a pool name with a slash is refused" 1 "$OPDBUS" apply "$T/hostile-pool.json"
is "no domain was defined by any of them" "$before" sh -c "virsh -q list --all --name | sort | sha256sum"

tap_done
