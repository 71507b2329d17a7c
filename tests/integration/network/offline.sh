#!/usr/bin/env bash
# The network plugin with --root: an offline tree gets what brings its network up at boot (prints TAP).
#   /etc/op-dbus/network.json, op-dbus-network.service enabled by symlink, and /etc/network/interfaces when the
#   tree has ifupdown. No privileges needed; nothing on the host is touched. Trees whose directories are
#   symlinks out of them (absolute and relative) are written only inside, where a chroot would resolve them.
# usage: offline.sh OPDBUS SRCDIR
set -u
OPDBUS=$(readlink -f "$1")
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out

# A tree like a Proxmox host: ifupdown installed, an interfaces file with the loopback and a NIC.
R=$T/root
mkdir -p "$R/etc/network" "$R/usr/sbin" "$R/var/lib"
printf '#!/bin/sh\n' >"$R/usr/sbin/ifup"
chmod +x "$R/usr/sbin/ifup"
cat >"$R/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eno3
iface eno3 inet dhcp
EOF

EX=$SRC/examples/proxmox-bridges.json
expect "plan --root shows the boot files to write (exit 2)" 2 "$OPDBUS" plan --root "$R" "$EX"
cp "$T/out" "$T/plan.out"
check "the plan writes only files" grep -qz "keep for boot.*Plan: 1 to update" "$T/plan.out"
check "apply --root" "$OPDBUS" apply --root "$R" "$EX"
expect "plan --root afterwards is empty" 0 "$OPDBUS" plan --root "$R" "$EX"
check "the kept document is a valid state document" "$OPDBUS" validate "$R/etc/op-dbus/network.json"
check "the boot unit is the shipped one" cmp "$R/etc/systemd/system/op-dbus-network.service" "$SRC/data/op-dbus-network.service"
check "the OVS boot unit is the shipped one" cmp "$R/etc/systemd/system/op-dbus-network-ovs.service" "$SRC/data/op-dbus-network-ovs.service"
check "the boot unit is enabled" \
  test "$(readlink "$R/etc/systemd/system/multi-user.target.wants/op-dbus-network.service")" = \
  /etc/systemd/system/op-dbus-network.service
check "/etc/network/interfaces keeps the loopback and the other NIC" \
  grep -qz 'auto lo.iface lo inet loopback.*iface eno3 inet dhcp' "$R/etc/network/interfaces"
check "/etc/network/interfaces has the bridge" \
  grep -qz 'auto vmbr0.iface vmbr0 inet static.	address 192.168.1.100/24.	gateway 192.168.1.1' \
  "$R/etc/network/interfaces"
check "/etc/network/interfaces has the bond" grep -q 'bond-slaves eno1 eno2' "$R/etc/network/interfaces"
check "/etc/network/interfaces has the VLAN" grep -q 'vlan-raw-device vmbr0' "$R/etc/network/interfaces"

# show --root: the tree's network is what it will apply at boot, and it plans to nothing.
check "show --root" sh -c "'$OPDBUS' show --root '$R' --plugin network >'$T/show.json'"
expect "the offline show plans to nothing" 0 "$OPDBUS" plan --root "$R" "$T/show.json"

# A later document merges by name; "absent" drops an interface from the boot configuration.
cat >"$T/later.json" <<'EOF'
{"version": 1, "plugins": {"network": {"interfaces": {
  "vmbr1": {"state": "absent"},
  "vmbr2": {"type": "bridge", "address": "10.2.0.1/24"}}}}}
EOF
check "apply --root a later document" "$OPDBUS" apply --root "$R" "$T/later.json"
check "the kept document has the new bridge and the earlier ones" python3 - "$R/etc/op-dbus/network.json" <<'PY'
import json, sys
net = json.load(open(sys.argv[1]))["plugins"]["network"]
assert set(net["interfaces"]) == {"eno1", "eno2", "bond0", "vmbr0", "vmbr0.50", "vmbr2"}, sorted(net["interfaces"])
assert net["persist"] is False, "the boot run must not rewrite its own files"
PY
check "vmbr1 left /etc/network/interfaces" sh -c "! grep -q vmbr1 '$R/etc/network/interfaces'"
check "vmbr2 is in /etc/network/interfaces" grep -q 'iface vmbr2 inet static' "$R/etc/network/interfaces"
expect "the first document plans only vmbr1 back in" 2 "$OPDBUS" plan --root "$R" "$EX"

# A tree without ifupdown gets no interfaces file.
R2=$T/plain
mkdir -p "$R2/etc"
check "apply --root on a tree without ifupdown" "$OPDBUS" apply --root "$R2" "$EX"
check "no /etc/network/interfaces there" test ! -e "$R2/etc/network/interfaces"
check "but the document and the unit" test -f "$R2/etc/op-dbus/network.json" -a -L \
  "$R2/etc/systemd/system/multi-user.target.wants/op-dbus-network.service"

# Temporaries a killed run left where the plugin writes: a dead writer's are removed by the next apply, a
# running writer's ($$, this script) are kept.
R4=$T/leftovers
mkdir -p "$R4/etc/network" "$R4/usr/sbin" "$R4/etc/op-dbus"
printf '#!/bin/sh\n' >"$R4/usr/sbin/ifup"
echo half >"$R4/etc/network/interfaces.op-dbus-tmp-99999999"
echo half >"$R4/etc/op-dbus/network.json.op-dbus-tmp-99999999"
echo mine >"$R4/etc/network/interfaces.op-dbus-tmp-$$"
check "apply --root with temporaries of a killed run" "$OPDBUS" apply --root "$R4" "$EX"
check "the dead writer's temporaries are gone" test ! -e "$R4/etc/network/interfaces.op-dbus-tmp-99999999" -a \
  ! -e "$R4/etc/op-dbus/network.json.op-dbus-tmp-99999999"
check "a running writer's temporary is kept" test -e "$R4/etc/network/interfaces.op-dbus-tmp-$$"

# Runtime-only documents write nothing.
R3=$T/runtime
mkdir -p "$R3/etc"
cat >"$T/runtime.json" <<'EOF'
{"version": 1, "plugins": {"network": {"persist": false, "interfaces": {"br0": {"type": "bridge"}}}}}
EOF
expect "persist false plans nothing offline" 0 "$OPDBUS" plan --root "$R3" "$T/runtime.json"

# Confinement: a tree whose directories are symlinks out of it (absolute and relative) is still only ever
# written inside it, where a chroot would resolve those links. Nothing outside the tree changes.
OUT=$T/outside
mkdir -p "$OUT/network/interfaces.d" "$OUT/systemd-system/multi-user.target.wants" "$OUT/op-dbus" "$OUT/if.d"
echo "outside: must stay as it is" >"$OUT/network/interfaces"
echo "outside" >"$OUT/network/interfaces.d/keep"
echo "outside" >"$OUT/systemd-system/op-dbus-network.service"
ln -s /nowhere "$OUT/systemd-system/multi-user.target.wants/op-dbus-network.service"
echo "outside" >"$OUT/op-dbus/network.json"
echo "outside" >"$OUT/if.d/keep"
outside_sum() {
  (cd "$OUT" && { find . -printf '%p %y %m %l\n' | sort; find . -type f -exec sha256sum {} + | sort; }) | sha256sum
}
before=$(outside_sum)

# Tree A: /etc/network is an absolute link to $OUT/network (a chroot reads it as A/$OUT/network),
# /etc/op-dbus a relative link that climbs above the root (a chroot stops at the root: A/outside/op-dbus).
A=$T/linked-a
mkdir -p "$A/etc" "$A/usr/sbin"
printf '#!/bin/sh\n' >"$A/usr/sbin/ifup"
ln -s "$OUT/network" "$A/etc/network"
ln -s ../../../../outside/op-dbus "$A/etc/op-dbus"
# Inside the tree those links lead nowhere yet: as in a chroot, the writes fail rather than go elsewhere.
expect "apply --root refuses while the links lead nowhere inside the tree" 1 "$OPDBUS" apply --root "$A" "$EX"
cp "$T/out" "$T/refused.out"
check "  and said why" grep -q "No such file or directory" "$T/refused.out"
mkdir -p "$A$OUT/network" "$A/outside/op-dbus"
check "apply --root a tree whose /etc/network and /etc/op-dbus lead out of it" "$OPDBUS" apply --root "$A" "$EX"
check "the interfaces file lands where a chroot puts it" grep -q 'iface vmbr0 inet static' "$A$OUT/network/interfaces"
check "the kept document lands where a chroot puts it" test -f "$A/outside/op-dbus/network.json"
expect "and the tree plans to nothing afterwards" 0 "$OPDBUS" plan --root "$A" "$EX"

# Tree B: /etc/network/interfaces.d a relative link out of it, /etc/systemd/system an absolute one.
B=$T/linked-b
mkdir -p "$B/etc/network" "$B/etc/systemd" "$B/usr/sbin"
printf '#!/bin/sh\n' >"$B/usr/sbin/ifup"
ln -s ../../../outside/if.d "$B/etc/network/interfaces.d"
ln -s "$OUT/systemd-system" "$B/etc/systemd/system"
mkdir -p "$B$OUT/systemd-system" "$B/outside/if.d"
check "apply --root a tree whose interfaces.d and /etc/systemd/system lead out of it" \
  "$OPDBUS" apply --root "$B" "$EX"
check "the boot unit lands where a chroot puts it" \
  cmp "$B$OUT/systemd-system/op-dbus-network.service" "$SRC/data/op-dbus-network.service"
check "its enabling link too" test "$(readlink "$B$OUT/systemd-system/multi-user.target.wants/op-dbus-network.service")" = \
  /etc/systemd/system/op-dbus-network.service
check "a later document with an absent interface stays inside too" "$OPDBUS" apply --root "$B" "$T/later.json"

after=$(outside_sum)
if [ "$before" = "$after" ]; then ok "nothing outside the trees changed"; else
  not_ok "nothing outside the trees changed" "$(cd "$OUT" && find . -printf '%p %y %l\n' | sort)"
fi

tap_done
