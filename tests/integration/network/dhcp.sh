#!/usr/bin/env bash
# "dhcp": true hands an interface to Debian's DHCP client (prints TAP). Two network namespaces: S runs dnsmasq
# as the DHCP server on one end of a veth pair, C is the client where op-dbus applies; the address comes from
# the lease, `show` reports "dhcp": true (the learnt address is not configuration), and "dhcp": false stops the
# client and releases the lease.
# usage: dhcp.sh OPDBUS
set -u
OPDBUS=$(readlink -f "$1")
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for tool in ip ping dhclient dnsmasq; do
  if ! command -v "$tool" >/dev/null; then
    echo "1..0 # SKIP $tool not installed (isc-dhcp-client, dnsmasq-base, iputils-ping)"
    exit 0
  fi
done

# This test applies to the live system (in its own network namespaces): the journal it writes must not be
# the host's (tests/lib/journal.sh).
. "$(dirname "$0")/../../lib/journal.sh"
private_journal "$0" "$@"

T=$(mktemp -d)
P=opd$$
S=${P}s
C=${P}c
cleanup() {
  [ -f "$T/dnsmasq.pid" ] && kill "$(cat "$T/dnsmasq.pid")" 2>/dev/null
  for f in "$T"/run/op-dbus/dhclient-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  for ns in "$S" "$C"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "/etc/netns/$C" "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
wait_for() {
  local s=$1
  shift
  for _ in $(seq 1 $((s * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
opdbus() { ip netns exec "$C" "$OPDBUS" "$@"; }
doc() { printf '{"version": 1, "plugins": {"network": %s}}\n' "$2" >"$1"; }

# The fixture: the server side is set up with ip and dnsmasq; the client's resolv.conf is private to it.
for ns in "$S" "$C"; do ip netns add "$ns" && ip -n "$ns" link set lo up; done
ip -n "$S" link add s0 type veth peer name c0 netns "$C"
ip -n "$S" addr add 10.66.0.1/24 dev s0
ip -n "$S" link set s0 up
mkdir -p "/etc/netns/$C"
: >"/etc/netns/$C/resolv.conf"
ip netns exec "$S" dnsmasq --port=0 --no-resolv --no-hosts --interface=s0 --bind-interfaces \
  --dhcp-range=10.66.0.100,10.66.0.150,1h --dhcp-leasefile="$T/dnsmasq.leases" --pid-file="$T/dnsmasq.pid" \
  --log-facility="$T/dnsmasq.log"

doc "$T/on.json" '{"persist": false, "interfaces": {"c0": {"dhcp": true}}}'
doc "$T/off.json" '{"persist": false, "interfaces": {"c0": {"dhcp": false}}}'

expect "plan starts the DHCP client (exit 2)" 2 opdbus plan "$T/on.json"
check "apply dhcp: true" opdbus apply "$T/on.json"
check "the client gets a lease from the server" wait_for 20 sh -c \
  "ip -n $C -o addr show dev c0 | grep -q 'inet 10.66.0.1[0-5][0-9]/24'"
check "ping the server from the leased address" ip netns exec "$C" ping -c 1 -W 3 10.66.0.1
expect "the second plan is empty" 0 opdbus plan "$T/on.json"
check "show" sh -c "ip netns exec $C '$OPDBUS' show --plugin network >'$T/show.json'"
check "show reports dhcp and not the learnt address" python3 - "$T/show.json" <<'PY'
import json, sys
c0 = json.load(open(sys.argv[1]))["plugins"]["network"]["interfaces"]["c0"]
assert c0.get("dhcp") is True, c0
assert "address" not in c0 and "addresses" not in c0, c0
PY
expect "the show output plans to nothing" 0 opdbus plan "$T/show.json"
check "apply dhcp: false" opdbus apply "$T/off.json"
check "the client is gone" sh -c "! pgrep -x dhclient >/dev/null"
check "and the leased address with it" sh -c "! ip -n $C -o addr show dev c0 | grep -q 'inet 10.66.0.1'"
expect "dhcp: false plans to nothing" 0 opdbus plan "$T/off.json"

# The journal of these applies is the private one, never the host's.
is "the live journal is a private tmpfs (the host's is not written)" tmpfs findmnt -n -o FSTYPE /var/lib/op-dbus
expect "... and holds this test's entries, intact" 0 "$OPDBUS" log verify
lacks "... (not an empty journal)" "intact (0 entries)"
tap_done
