#!/usr/bin/env bash
# The firewall plugin with --root DIR (prints TAP): apply renders /etc/op-dbus/firewall.json and
# op-dbus-firewall.service into DIR and enables it; show/plan read the rendered file back; `nft -c -j -f`
# accepts the file; an empty section removes it all. In a tree whose directories are symlinks (absolute,
# relative, and one pointing out of DIR), writes land where a chroot would put them and nothing outside DIR
# changes. Then, when root, the live apply in a private network and mount namespace writes the same files.
# usage: offline.sh OPDBUS
set -u
# The live apply's journal is not the host's (tests/lib/journal.sh).
. "$(dirname "$0")/../../lib/journal.sh"
private_journal "$0" "$@"
OPDBUS=$(readlink -f "$1")
T=$(mktemp -d /tmp/firewall2-offline.XXXXXX)
NS=firewall2-l$$
cleanup() {
  ip netns del "$NS" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
doc() {  # doc FILE FIREWALL-SECTION-JSON
  printf '{"version": 1, "plugins": {"firewall": %s}}\n' "$2" >"$1"
}
outside_sum() { (cd "$T/outside" && find . -printf '%p %y %m %l\n' | sort && find . -type f -exec sha256sum {} + | sort) | sha256sum; }

doc "$T/fw.json" '{
  "default_policy": {"input": "drop", "forward": "drop"},
  "sets": {"admins": {"type": "ipv4_addr", "elements": ["10.0.0.0/24", "192.0.2.7"]}},
  "nat": {"masquerade": [{"source": "10.10.0.0/24", "out_interface": "eth0"}],
          "forwards": [{"proto": "tcp", "port": 8080, "to": "10.10.0.5:80"}]},
  "rules": [
    {"port": 22, "proto": "tcp", "action": "accept", "source": "@admins", "comment": "ssh"},
    {"proto": "icmp", "icmp_type": "echo-request", "limit": "5/second", "action": "accept"},
    {"log": "fw drop: ", "counter": true, "action": "drop"}
  ]}'

# --- a plain tree ------------------------------------------------------------------------------------------
R=$T/root
mkdir -p "$R/etc" "$T/outside"
expect "plan --root shows the table to create (exit 2)" 2 "$OPDBUS" plan --root "$R" "$T/fw.json"
contains "the plan creates the table" "create table inet op_dbus with 3 rule(s)"
check "apply --root" "$OPDBUS" apply --root "$R" "$T/fw.json"
check "the boot file is there" test -s "$R/etc/op-dbus/firewall.json"
is "it is readable by root only" "600" stat -c %a "$R/etc/op-dbus/firewall.json"
check "the unit loads it with nft -j -f" grep -qx 'ExecStart=/usr/sbin/nft -j -f /etc/op-dbus/firewall.json' \
  "$R/etc/systemd/system/op-dbus-firewall.service"
check "the unit orders itself before network-pre.target" grep -qx 'Before=network-pre.target shutdown.target' \
  "$R/etc/systemd/system/op-dbus-firewall.service"
check "and after nftables.service" grep -qx 'After=nftables.service' "$R/etc/systemd/system/op-dbus-firewall.service"
is "it is enabled (sysinit.target.wants)" "/etc/systemd/system/op-dbus-firewall.service" \
  readlink "$R/etc/systemd/system/sysinit.target.wants/op-dbus-firewall.service"
expect "the second plan --root is empty (exit 0)" 0 "$OPDBUS" plan --root "$R" "$T/fw.json"
check "show --root" sh -c "'$OPDBUS' show --root '$R' --plugin firewall >'$T/show.json'"
check "show reports the rendered table" grep -q '"admins"' "$T/show.json"
expect "show's output plans to nothing" 0 "$OPDBUS" plan --root "$R" "$T/show.json"
if [ "$(id -u)" -eq 0 ] && command -v nft >/dev/null && ip netns add "$NS" 2>/dev/null; then
  check "nft -c -j -f accepts the rendered file" ip netns exec "$NS" nft -c -j -f "$R/etc/op-dbus/firewall.json"
  check "and it loads into a fresh namespace" ip netns exec "$NS" nft -j -f "$R/etc/op-dbus/firewall.json"
  check "where it is the table the document declares" sh -c \
    "ip netns exec $NS nft list table inet op_dbus | grep -q 'masquerade' &&
     ip netns exec $NS nft list table inet op_dbus | grep -q 'log prefix \"fw drop: \"'"
  check "loading it again (a restart of the unit) works" ip netns exec "$NS" nft -j -f "$R/etc/op-dbus/firewall.json"
else
  skip "nft -c -j -f accepts the rendered file" "needs root and nft"
fi
printf '{"nftables": [' >"$R/etc/op-dbus/firewall.json"
expect "a boot file changed by hand is drift" 2 "$OPDBUS" plan --root "$R" "$T/fw.json"
check "apply --root corrects it" "$OPDBUS" apply --root "$R" "$T/fw.json"
expect "and the plan is empty again" 0 "$OPDBUS" plan --root "$R" "$T/fw.json"
doc "$T/nopersist.json" '{"persist": false, "rules": []}'
expect "\"persist\": false is refused with --root" 1 "$OPDBUS" plan --root "$R" "$T/nopersist.json"
contains "saying why" '"persist": false with --root'
doc "$T/empty.json" '{}'
expect "an empty section plans the removal" 2 "$OPDBUS" plan --root "$R" "$T/empty.json"
check "apply --root the empty section" "$OPDBUS" apply --root "$R" "$T/empty.json"
check "the boot file, the unit and the link are gone" sh -c \
  "! test -e '$R/etc/op-dbus/firewall.json' && ! test -e '$R/etc/systemd/system/op-dbus-firewall.service' &&
   ! test -L '$R/etc/systemd/system/sysinit.target.wants/op-dbus-firewall.service'"
expect "and the plan is empty" 0 "$OPDBUS" plan --root "$R" "$T/empty.json"

# --- a tree of symlinked directories -------------------------------------------------------------------------
# /etc/op-dbus -> /srv/op-dbus (absolute: inside DIR, as a chroot sees it); /etc/systemd -> ../usr/systemd
# (relative); /etc/systemd/system/sysinit.target.wants -> OUTSIDE (an absolute host path out of DIR).
S=$T/sym
mkdir -p "$S/srv/op-dbus" "$S/usr/systemd/system" "$S/etc" "$T/outside/wants"
echo keep >"$T/outside/wants/keep"
ln -s /srv/op-dbus "$S/etc/op-dbus"
ln -s ../usr/systemd "$S/etc/systemd"
ln -s "$T/outside/wants" "$S/usr/systemd/system/sysinit.target.wants"
mkdir -p "$S$T/outside/wants"  # where that link leads for a chroot into DIR
before=$(outside_sum)
check "apply --root into the symlinked tree" "$OPDBUS" apply --root "$S" "$T/fw.json"
check "the absolute /etc/op-dbus link is followed inside the tree" test -s "$S/srv/op-dbus/firewall.json"
check "the relative /etc/systemd link is followed inside the tree" \
  test -f "$S/usr/systemd/system/op-dbus-firewall.service"
check "the link out of the tree lands where a chroot puts it" \
  test -L "$S$T/outside/wants/op-dbus-firewall.service"
is "nothing outside the tree changed" "$before" outside_sum
expect "the symlinked tree's second plan is empty" 0 "$OPDBUS" plan --root "$S" "$T/fw.json"
check "apply --root the empty section there" "$OPDBUS" apply --root "$S" "$T/empty.json"
is "still nothing outside the tree changed" "$before" outside_sum

# --- live: the same files, in a private network and mount namespace -------------------------------------------
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v nft >/dev/null; then
  mkdir -p "$T/live-etc-op-dbus" "$T/live-units"
  doc "$T/live.json" '{"default_policy": {"input": "drop"},
    "rules": [{"port": 22, "proto": "tcp", "action": "accept", "comment": "ssh"}]}'
  # /etc/op-dbus and /etc/systemd/system are this test's directories inside the private mount namespace.
  cat >"$T/live.sh" <<EOF
set -e
mkdir -p /etc/op-dbus
mount --bind "$T/live-etc-op-dbus" /etc/op-dbus
mount --bind "$T/live-units" /etc/systemd/system
"$OPDBUS" apply "$T/live.json"
"$OPDBUS" plan "$T/live.json"
nft list table inet op_dbus | grep -q 'comment "ssh"'
EOF
  hadetc=$(test -d /etc/op-dbus && echo yes || echo no)
  check "live apply (private netns + mount namespace) writes the boot files and plans to nothing" \
    unshare --net --mount --propagation private sh "$T/live.sh"
  check "the boot file holds the applied table" grep -q '"ssh"' "$T/live-etc-op-dbus/firewall.json"
  is "the live unit is enabled" "/etc/systemd/system/op-dbus-firewall.service" \
    readlink "$T/live-units/sysinit.target.wants/op-dbus-firewall.service"
  [ "$hadetc" = no ] && rmdir /etc/op-dbus 2>/dev/null
  check "the host's systemd units were not touched" sh -c "! test -e /etc/systemd/system/op-dbus-firewall.service"
else
  skip "live apply writes the boot files" "needs root, unshare and nft"
fi

tap_done
