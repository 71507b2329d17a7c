#!/usr/bin/env bash
# The lxc plugin against real containers on this host (prints TAP). One document makes a bridge (the network
# plugin, runtime only: "persist": false) and a Debian 12 container on it (the lxc plugin, after network).
# Checked: apply; the container RUNNING; ping from the host side of the bridge; its memory limit read back from
# its cgroup and changed live (same init process); the second plan is empty at each step; `show` round-trips; a
# container stopped behind op-dbus's back (lxc-stop) is drift and is started again; a network change on the
# running container is pending without "restart": "allowed" and carried out with it; stop; a second container
# reuses the template cache; destroy is refused without --allow-destructive and done with it.
# Everything lives in a private lxcpath (/var/lib/op-dbus-tests/lxc-PID): the admin's containers are never
# seen. Names: containers lxct-*, bridge lxcbr-t* (15 bytes at most). Only what the test made is removed,
# on every exit path. The debian template's cache (/var/cache/lxc/debian) is kept: the first run builds it
# (about 70 s of debootstrap against the host's mirror), later runs reuse it.
# usage: run.sh OPDBUS
set -u
OPDBUS=$(readlink -f "$1")
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
# op-dbus journals every live apply in /var/lib/op-dbus; other tests on a shared host apply there too. This
# test runs in its own mount namespace with a tmpfs there, so it neither reads nor grows the host's journal.
if [ -z "${OPDBUS_LXC_TEST_NS:-}" ] && command -v unshare >/dev/null; then
  export OPDBUS_LXC_TEST_NS=1
  exec unshare -m --propagation private "$0" "$@"
fi
if [ -n "${OPDBUS_LXC_TEST_NS:-}" ]; then
  mkdir -p /var/lib/op-dbus && mount -t tmpfs -o mode=0700 op-dbus-lxc-test /var/lib/op-dbus ||
    { echo "1..0 # SKIP cannot mount a private /var/lib/op-dbus"; exit 0; }
fi
for tool in ip ping lxc-info lxc-stop lxc-destroy lxc-cgroup debootstrap wget; do
  if ! command -v "$tool" >/dev/null; then
    echo "1..0 # SKIP $tool not installed"
    exit 0
  fi
done

T=$(mktemp -d /tmp/lxc-test.XXXXXX)
LXCPATH=/var/lib/op-dbus-tests/lxc-$$
BR=lxcbr-t$$
CT=lxct-$$a
CT2=lxct-$$b
CT3=lxct-$$u
CT4=lxct-$$d
NET=10.213.$(($$ % 200 + 20))
BTRFS=/var/lib/op-dbus-tests/lxc-btrfs-$$
GOLD=lxct-$$g
COPY=lxct-$$c
LOOP=
made_bridge=0
cleanup() {
  local path ct
  for path in "$LXCPATH" "$BTRFS"; do
    for ct in "$CT" "$CT2" "$CT3" "$CT4" "$COPY" "$GOLD"; do
      if [ -e "$path/$ct" ]; then
        lxc-stop -P "$path" -n "$ct" -k >/dev/null 2>&1
        lxc-destroy -P "$path" -n "$ct" -f >/dev/null 2>&1
      fi
    done
  done
  rmdir "$LXCPATH" 2>/dev/null
  if [ -n "$LOOP" ]; then
    umount "$BTRFS" 2>/dev/null
    losetup -d "$LOOP" 2>/dev/null
  fi
  rmdir "$BTRFS" 2>/dev/null
  rm -f "$BTRFS.img"
  if [ "$made_bridge" = 1 ]; then ip link del "$BR" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out

# The debian template: lxc-templates in CI (scripts/install-deps.sh). A host without it gets the package
# unpacked under the test cache (apt-get download: no dpkg, no install), its config directory pointed there.
if [ ! -x /usr/share/lxc/templates/lxc-debian ]; then
  C=/var/cache/op-dbus-tests/lxc/lxc-templates
  if [ ! -x "$C/templates/lxc-debian" ]; then
    rm -rf "$C" && mkdir -p "$C/deb" "$C/templates" &&
      (cd "$C/deb" && apt-get download lxc-templates >/dev/null 2>&1) &&
      dpkg-deb -x "$C"/deb/lxc-templates_*.deb "$C/x" &&
      sed "s|^LXC_TEMPLATE_CONFIG=.*|LXC_TEMPLATE_CONFIG=\"$C/x/usr/share/lxc/config\"|" \
        "$C/x/usr/share/lxc/templates/lxc-debian" >"$C/templates/lxc-debian" &&
      chmod 755 "$C/templates/lxc-debian" || tap_skip_all "no debian template: install lxc-templates"
  fi
  export OPDBUS_LXC_TEMPLATE_DIR=$C/templates
fi

# The template copies its cache with rsync (installed in CI); a host without it gets the package unpacked the
# same way, on the PATH the template inherits from op-dbus.
if ! command -v rsync >/dev/null; then
  R=/var/cache/op-dbus-tests/lxc/rsync
  if [ ! -x "$R/x/usr/bin/rsync" ]; then
    rm -rf "$R" && mkdir -p "$R/deb" && (cd "$R/deb" && apt-get download rsync >/dev/null 2>&1) &&
      dpkg-deb -x "$R"/deb/rsync_*.deb "$R/x" || tap_skip_all "rsync is not installed (the debian template needs it)"
  fi
  export PATH=$R/x/usr/bin:$PATH
fi

if ip link show "$BR" >/dev/null 2>&1; then tap_skip_all "bridge $BR already exists (not ours)"; fi
made_bridge=1

doc() {  # doc FILE CONTAINERS-JSON
  printf '{"version": 1, "plugins": {
  "network": {"persist": false, "interfaces": {"%s": {"type": "bridge", "address": "%s.1/24"}}},
  "lxc": {"lxcpath": "%s", "containers": %s}}}\n' "$BR" "$NET" "$LXCPATH" "$2" >"$1"
}
state_of() { lxc-info -P "$LXCPATH" -n "$1" -sH 2>/dev/null; }
pid_of() { lxc-info -P "$LXCPATH" -n "$1" -pH 2>/dev/null; }
memory_of() { lxc-cgroup -P "$LXCPATH" -n "$1" memory.limit_in_bytes 2>/dev/null; }
ping_ct() {  # ping ADDRESS, for up to 20 s
  local i
  for i in $(seq 1 20); do ping -c1 -W1 "$1" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}
on_fail() { lxc-ls -P "$LXCPATH" --fancy; ip -br addr show "$BR"; }
TAP_ON_FAIL=on_fail

mkdir -p "$T/share" && echo "from the host" >"$T/share/hello"
CTDEF='"template": "debian-12", "config": {"memory": "%s", "cpus": 1,
  "network": {"bridge": "'$BR'", "ip": "%s/24", "gateway": "'$NET'.1"},
  "mounts": [{"source": "'$T/share'", "target": "/srv/share", "read_only": true}]}, "autostart": false'
ct() {  # ct MEMORY IP [EXTRA]
  printf "{\"$CT\": {$CTDEF%s}}" "$1" "$2" "${3:-}"
}

# --- --root is refused, and nothing under the tree (or outside it) changes ---------------------------------------
mkdir -p "$T/root/etc" "$T/outside" && ln -s "$T/outside" "$T/root/var" && ln -s ../outside "$T/root/srv"
doc "$T/root.json" "{\"$CT\": {\"template\": \"debian-12\"}}"
sum_before=$(cd "$T" && find root outside -printf '%p %y %l\n' | sort | sha256sum)
expect "plan --root with an lxc section is refused (exit 1)" 1 "$OPDBUS" plan --root "$T/root" --plugin lxc "$T/root.json"
contains "the refusal names --root" "--root"
is "nothing under the tree or outside it changed" "$sum_before" sh -c "cd '$T' && find root outside -printf '%p %y %l\n' | sort | sha256sum"

# --- create and start ---------------------------------------------------------------------------------------
doc "$T/a.json" "$(ct 256M "$NET.2")"
check "the document validates" "$OPDBUS" validate "$T/a.json"
expect "plan shows changes (exit 2)" 2 "$OPDBUS" plan "$T/a.json"
contains "the plan creates the container" "create container $CT from template debian-12"
contains "the plan starts it and waits for its address" "start container $CT and wait for $NET.2/24 inside"
start=$(date +%s)
check "apply (bridge, then container: create, configure, start)" timeout 900 "$OPDBUS" apply "$T/a.json"
first_create=$(($(date +%s) - start))
echo "# first apply took ${first_create}s"
is "the container is RUNNING" RUNNING state_of "$CT"
check "ping the container from the host side of the bridge" ping_ct "$NET.2"
is "its memory limit, read back from its cgroup, is 256M" 268435456 memory_of "$CT"
is "its cpuset is CPU 0" 0 lxc-cgroup -P "$LXCPATH" -n "$CT" cpuset.cpus
is "the bind mount shows the host's file inside" "from the host" lxc-attach -P "$LXCPATH" -n "$CT" -- cat /srv/share/hello
check "... read-only" sh -c "! lxc-attach -P '$LXCPATH' -n '$CT' -- touch /srv/share/new 2>/dev/null && ! test -e '$T/share/new'"
check "lxc.start.auto is 0 in its config" grep -qx 'lxc.start.auto = 0' "$LXCPATH/$CT/config"
expect "second plan is empty (exit 0)" 0 "$OPDBUS" plan "$T/a.json"

# --- show round-trips -----------------------------------------------------------------------------------------
OPDBUS_LXC_PATH=$LXCPATH "$OPDBUS" show --plugin lxc >"$T/show.json" 2>"$T/show.err"
check "show lists the container" grep -q "\"$CT\"" "$T/show.json"
expect "show's output plans to nothing" 0 env OPDBUS_LXC_PATH="$LXCPATH" "$OPDBUS" plan --plugin lxc "$T/show.json"

# --- live memory change ---------------------------------------------------------------------------------------
pid_before=$(pid_of "$CT")
doc "$T/b.json" "$(ct 512M "$NET.2")"
expect "a memory change plans (exit 2)" 2 "$OPDBUS" plan "$T/b.json"
contains "it is applied live" "set memory 256M -> 512M of container $CT (live)"
check "apply the memory change" "$OPDBUS" apply "$T/b.json"
is "the cgroup now says 512M" 536870912 memory_of "$CT"
is "the same init process runs (no restart)" "$pid_before" pid_of "$CT"
check "the config says 512M for the next start" grep -qx 'lxc.cgroup.memory.limit_in_bytes = 536870912' "$LXCPATH/$CT/config"
expect "second plan is empty" 0 "$OPDBUS" plan "$T/b.json"

# --- drift: stopped behind op-dbus's back ---------------------------------------------------------------------
check "lxc-stop the container behind op-dbus's back" lxc-stop -P "$LXCPATH" -n "$CT" -k
expect "the stopped container is drift (exit 2)" 2 "$OPDBUS" plan "$T/b.json"
contains "the plan starts it again" "start container $CT"
check "apply corrects the drift" "$OPDBUS" apply "$T/b.json"
is "RUNNING again" RUNNING state_of "$CT"
check "ping again" ping_ct "$NET.2"
expect "second plan is empty" 0 "$OPDBUS" plan "$T/b.json"

# --- a change that needs a restart ----------------------------------------------------------------------------
doc "$T/c.json" "$(ct 512M "$NET.3")"
expect "an address change on the running container plans (exit 2)" 2 "$OPDBUS" plan "$T/c.json"
contains "it is pending: needs a restart" "pending: needs a restart"
pid_before=$(pid_of "$CT")
check "apply leaves it pending" "$OPDBUS" apply "$T/c.json"
is "the container was not restarted" "$pid_before" pid_of "$CT"
doc "$T/d.json" "$(ct 512M "$NET.3" ', "restart": "allowed"')"
check "apply with \"restart\": \"allowed\"" timeout 300 "$OPDBUS" apply "$T/d.json"
check "the new address answers" ping_ct "$NET.3"
expect "second plan is empty" 0 "$OPDBUS" plan "$T/d.json"

# --- stop -------------------------------------------------------------------------------------------------------
doc "$T/e.json" "$(ct 512M "$NET.3" ', "state": "stopped"')"
check "apply state stopped" timeout 300 "$OPDBUS" apply "$T/e.json"
is "STOPPED" STOPPED state_of "$CT"
expect "second plan is empty" 0 "$OPDBUS" plan "$T/e.json"

# --- a second container: the template cache is reused ---------------------------------------------------------
cache=/var/cache/lxc/debian/rootfs-bookworm-amd64
stamp_before=$(stat -c %Y "$cache" 2>/dev/null)
doc "$T/f.json" "{\"$CT2\": {\"template\": \"debian-12\", \"state\": \"stopped\", \"config\": {\"network\": {\"bridge\": \"$BR\"}}}}"
start=$(date +%s)
check "apply a second container" timeout 600 "$OPDBUS" apply "$T/f.json"
echo "# second create took $(($(date +%s) - start))s"
is "the template cache was not rebuilt" "$stamp_before" stat -c %Y "$cache"
is "the second container exists, stopped" STOPPED state_of "$CT2"

# --- clone_from on dir storage: a copy ------------------------------------------------------------------------
doc "$T/d2.json" "{\"$CT4\": {\"clone_from\": \"$CT2\", \"state\": \"stopped\"}}"
check "apply a clone of the second container (dir storage: a copy)" timeout 600 "$OPDBUS" apply "$T/d2.json"
is "the copy exists, stopped" STOPPED state_of "$CT4"
check "its root filesystem is a full copy" test -s "$LXCPATH/$CT4/rootfs/etc/os-release"
check "its config names its own root filesystem" grep -q "^lxc.rootfs.path = dir:$LXCPATH/$CT4/rootfs" "$LXCPATH/$CT4/config"
expect "second plan is empty" 0 "$OPDBUS" plan "$T/d2.json"

# --- an unprivileged container: its root filesystem shifted into the host ids of its map -----------------------
doc "$T/u.json" "{\"$CT3\": {\"template\": \"debian-12\", \"config\": {\"network\": {\"bridge\": \"$BR\",
  \"ip\": \"$NET.4/24\"}, \"idmap\": [{\"type\": \"u\", \"container\": 0, \"host\": 100000, \"count\": 65536},
  {\"type\": \"g\", \"container\": 0, \"host\": 100000, \"count\": 65536}]}}}"
check "apply an unprivileged container" timeout 600 "$OPDBUS" apply "$T/u.json"
is "it is RUNNING" RUNNING state_of "$CT3"
is "its init runs in a user namespace mapping 0 to 100000" "0 100000 65536" \
  sh -c "tr -s ' ' <'/proc/$(pid_of "$CT3")/uid_map' | sed 's/^ //'"
is "its /etc/passwd belongs to host uid 100000" 100000 stat -c %u "$LXCPATH/$CT3/rootfs/etc/passwd"
is "setuid bits survive the shift (/usr/bin/passwd)" 4755 stat -c %a "$LXCPATH/$CT3/rootfs/usr/bin/passwd"
check "ping the unprivileged container" ping_ct "$NET.4"
expect "second plan is empty" 0 "$OPDBUS" plan "$T/u.json"

# --- a failing action reports liblxc's reason ------------------------------------------------------------------
doc "$T/h.json" "{\"$CT2\": {\"config\": {\"network\": {\"bridge\": \"lxcbr-tx$$\"}}}}"
expect "starting on a bridge that does not exist fails (exit 1)" 1 "$OPDBUS" apply "$T/h.json"
contains "the error names the action and liblxc's failure" "liblxc: start '$CT2' failed"
contains "... with liblxc's own reason (from its log)" "to bridge \"lxcbr-tx$$\", bridge interface doesn't exist"
is "the container is still STOPPED" STOPPED state_of "$CT2"

# --- destroy ----------------------------------------------------------------------------------------------------
doc "$T/g.json" "{\"$CT\": {\"state\": \"absent\"}, \"$CT2\": {\"state\": \"absent\"}, \"$CT3\": {\"state\": \"absent\"}, \"$CT4\": {\"state\": \"absent\"}}"
expect "destroy without --allow-destructive is refused (exit 1)" 1 "$OPDBUS" apply "$T/g.json"
contains "the refusal says why" "allow-destructive"
check "the container is still there" test -e "$LXCPATH/$CT/config"
check "apply --allow-destructive" timeout 300 "$OPDBUS" apply --allow-destructive "$T/g.json"
check "the containers are gone" sh -c "! test -e '$LXCPATH/$CT' && ! test -e '$LXCPATH/$CT2' && ! test -e '$LXCPATH/$CT3' && ! test -e '$LXCPATH/$CT4'"
expect "second plan is empty" 0 "$OPDBUS" plan "$T/g.json"

# --- clone_from: a btrfs snapshot of a golden container ---------------------------------------------------------
if command -v mkfs.btrfs >/dev/null && command -v btrfs >/dev/null; then
  truncate -s 3G "$BTRFS.img" && LOOP=$(losetup -f --show "$BTRFS.img") && mkfs.btrfs -q "$LOOP" >/dev/null &&
    mkdir -p "$BTRFS" && mount "$LOOP" "$BTRFS"
  check "a btrfs lxcpath on a loop device" mountpoint -q "$BTRFS"
  printf '{"version": 1, "plugins": {"lxc": {"lxcpath": "%s", "containers": {
    "%s": {"template": "debian-12", "storage": "btrfs", "state": "stopped"},
    "%s": {"clone_from": "%s", "state": "stopped", "config": {"memory": "128M"}}}}}}\n' \
    "$BTRFS" "$GOLD" "$COPY" "$GOLD" >"$T/clone.json"
  expect "the plan creates the golden container, then the clone" 2 "$OPDBUS" plan "$T/clone.json"
  contains "... the clone from the golden container" "create container $COPY from a clone of $GOLD"
  check "apply: golden container from the template, clone as a snapshot" timeout 600 "$OPDBUS" apply "$T/clone.json"
  gold_uuid=$(btrfs subvolume show "$BTRFS/$GOLD/rootfs" 2>/dev/null | awk '$1 == "UUID:" {print $2}')
  check "the golden container's rootfs is a btrfs subvolume" test -n "$gold_uuid"
  is "the clone's rootfs is a btrfs snapshot of the golden one" "${gold_uuid:-none}" \
    sh -c "btrfs subvolume show '$BTRFS/$COPY/rootfs' | awk '\$1 == \"Parent\" && \$2 == \"UUID:\" {print \$3}'"
  check "the clone's config has its own memory limit" grep -qx 'lxc.cgroup.memory.limit_in_bytes = 134217728' "$BTRFS/$COPY/config"
  expect "second plan is empty" 0 "$OPDBUS" plan "$T/clone.json"
  printf '{"version": 1, "plugins": {"lxc": {"lxcpath": "%s", "containers": {"%s": {"state": "absent"}, "%s": {"state": "absent"}}}}}\n' \
    "$BTRFS" "$COPY" "$GOLD" >"$T/clone-gone.json"
  check "destroy both" "$OPDBUS" apply --allow-destructive "$T/clone-gone.json"
else
  skip "clone_from as a btrfs snapshot" "mkfs.btrfs/btrfs not installed"
fi

tap_done
