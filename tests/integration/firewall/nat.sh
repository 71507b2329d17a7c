#!/usr/bin/env bash
# NAT of the firewall plugin against the real kernel, in three network namespaces (prints TAP):
#   I  an internal host, 10.10.0.2 behind the router's internal bridge vmbr1 (10.10.0.1/24)
#   R  the router: op-dbus writes table inet op_dbus there; vmbr1 inside, eth0 (192.0.2.1/24) outside
#   O  an outside host, 192.0.2.2, with no route to 10.10.0.0/24
# Checked: masquerade rewrites the source address the outside host sees (to the router's 192.0.2.1); a port
# forward (R:8080 -> 10.10.0.2:80) reaches its target; with the forward policy drop, only what the document
# lets through is forwarded; show round-trips; removing NAT from the document removes it.
# usage: nat.sh OPDBUS
set -u
# The live apply's journal is not the host's (tests/lib/journal.sh).
. "$(dirname "$0")/../../lib/journal.sh"
private_journal "$0" "$@"
OPDBUS=$(readlink -f "$1")
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for tool in ip nft python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "1..0 # SKIP $tool not installed"
    exit 0
  fi
done

T=$(mktemp -d /tmp/firewall2-nat.XXXXXX)
I=firewall2-i$$
R=firewall2-r$$
O=firewall2-o$$
LISTENERS=""
cleanup() {
  for pid in $LISTENERS; do kill "$pid" 2>/dev/null; done
  for ns in "$I" "$R" "$O"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
opdbus() { ip netns exec "$R" "$OPDBUS" "$@"; }
doc() {  # doc FILE FIREWALL-SECTION-JSON; "persist": false unless given (the host's /etc is not the test's)
  python3 -c 'import json, sys
d = json.loads(sys.argv[1]); d.setdefault("persist", False)
print(json.dumps({"version": 1, "plugins": {"firewall": d}}))' "$2" >"$1"
}
# listen NS PORT LOG: a TCP listener in NS that writes each peer's address to LOG
listen() {
  ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
while True:
    c, peer = s.accept()
    with open(sys.argv[2], "a") as f: f.write(peer[0] + "\n")
    c.close()' "$2" "$3" &
  LISTENERS="$LISTENERS $!"
}
# connect NS ADDR PORT: exit 0 when a TCP connection is accepted within 2 s
connect() {
  ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError as e:
    print("no connection:", e); sys.exit(1)
print("connected")' "$2" "$3"
}
last_peer() { tail -n 1 "$1" 2>/dev/null; }

# --- the fixture ---------------------------------------------------------------------------------------------
for ns in "$I" "$R" "$O"; do ip netns add "$ns" && ip -n "$ns" link set lo up; done
ip -n "$R" link add vmbr1 type bridge && ip -n "$R" link set vmbr1 up
ip -n "$R" addr add 10.10.0.1/24 dev vmbr1
ip -n "$R" link add vi0 type veth peer name eth0 netns "$I"
ip -n "$R" link set vi0 master vmbr1 && ip -n "$R" link set vi0 up
ip -n "$I" addr add 10.10.0.2/24 dev eth0 && ip -n "$I" link set eth0 up
ip -n "$I" route add default via 10.10.0.1
ip -n "$R" link add eth0 type veth peer name eth0 netns "$O"
ip -n "$R" addr add 192.0.2.1/24 dev eth0 && ip -n "$R" link set eth0 up
ip -n "$O" addr add 192.0.2.2/24 dev eth0 && ip -n "$O" link set eth0 up
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
listen "$O" 9000 "$T/outside.log"
listen "$I" 80 "$T/inside.log"
sleep 0.5

expect "without NAT the internal host cannot reach the outside (no route back)" 1 connect "$I" 192.0.2.2 9000
expect "nor does R:8080 lead anywhere" 1 connect "$O" 192.0.2.1 8080

doc "$T/nat.json" '{
  "default_policy": {"input": "drop", "forward": "drop", "output": "accept"},
  "nat": {
    "masquerade": [{"source": "10.10.0.0/24", "out_interface": "eth0"}],
    "forwards": [{"proto": "tcp", "port": 8080, "to": "10.10.0.2:80", "in_interface": "eth0"}]
  },
  "rules": [
    {"chain": "forward", "iif": "vmbr1", "oif": "eth0", "action": "accept", "comment": "internal out"},
    {"proto": "icmp", "action": "accept"}
  ]}'
expect "plan shows changes (exit 2)" 2 opdbus plan "$T/nat.json"
check "apply" opdbus apply "$T/nat.json"
check "one table holds the filter and nat chains" sh -c \
  "ip netns exec $R nft list table inet op_dbus | grep -q 'type nat hook postrouting' &&
   ip netns exec $R nft list table inet op_dbus | grep -q 'masquerade' &&
   ip netns exec $R nft list table inet op_dbus | grep -q 'dnat ip to 10.10.0.2:80'"
expect "the second plan is empty (exit 0)" 0 opdbus plan "$T/nat.json"
check "show" sh -c "ip netns exec $R '$OPDBUS' show --plugin firewall >'$T/show.json'"
expect "show's output plans to nothing" 0 opdbus plan "$T/show.json"

# --- masquerade ------------------------------------------------------------------------------------------------
check "the internal host reaches the outside host" connect "$I" 192.0.2.2 9000
is "the outside host sees the router's address, not 10.10.0.2" "192.0.2.1" last_peer "$T/outside.log"

# --- port forward ----------------------------------------------------------------------------------------------
check "the outside host reaches R:8080" connect "$O" 192.0.2.1 8080
is "which is the internal host's port 80, seeing the real client" "192.0.2.2" last_peer "$T/inside.log"
check "give the outside host a route to the internal network" ip -n "$O" route add 10.10.0.0/24 via 192.0.2.1
expect "it still cannot reach the internal host directly (forward policy drop)" 1 connect "$O" 10.10.0.2 80

# --- removing NAT --------------------------------------------------------------------------------------------
doc "$T/nonat.json" '{
  "default_policy": {"input": "drop", "forward": "drop", "output": "accept"},
  "rules": [
    {"chain": "forward", "iif": "vmbr1", "oif": "eth0", "action": "accept", "comment": "internal out"},
    {"proto": "icmp", "action": "accept"}
  ]}'
expect "dropping NAT from the document is a plan" 2 opdbus plan "$T/nonat.json"
contains "that removes it" "remove NAT"
check "apply" opdbus apply "$T/nonat.json"
check "the nat chains are gone" sh -c "! ip netns exec $R nft list table inet op_dbus | grep -q 'type nat'"
expect "R:8080 no longer leads to the internal host" 1 connect "$O" 192.0.2.1 8080
expect "and the plan is empty" 0 opdbus plan "$T/nonat.json"

tap_done
