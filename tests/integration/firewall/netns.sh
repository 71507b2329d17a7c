#!/usr/bin/env bash
# The firewall plugin against the real kernel, in network namespaces made for the test (prints TAP).
#   S  the server under test: op-dbus writes table inet op_dbus there; python3 listeners on TCP 2222 and 8080
#   C  a client at the other end of a veth pair
# Checked: apply, the ruleset as listed by nft, the second plan is empty, show round-trips, a table made by
# hand survives, a rule deleted behind op-dbus's back is drift that apply corrects, a refused document changes
# nothing (the whole ruleset hashed before and after), and real traffic: the allowed port connects, the
# dropped one does not, ICMP as declared. An apply into a table inet op_dbus owned by another process (a third
# namespace K) fails and changes nothing, byte for byte. Lockout protection: with SSH_CONNECTION on a port the new rules drop,
# apply is refused and nothing changes; --confirm-timeout without `op-dbus confirm` puts the old table back
# (ping works again), with it the new rules stay.
# usage: netns.sh OPDBUS
set -u
# The live apply's journal is not the host's (tests/lib/journal.sh).
. "$(dirname "$0")/../../lib/journal.sh"
private_journal "$0" "$@"
OPDBUS=$(readlink -f "$1")
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for tool in ip nft python3 ping; do
  if ! command -v "$tool" >/dev/null; then
    echo "1..0 # SKIP $tool not installed"
    exit 0
  fi
done

T=$(mktemp -d)
S=firewall2-s$$
C=firewall2-c$$
K=firewall2-k$$
LISTENERS=""
cleanup() {
  for pid in $LISTENERS; do kill "$pid" 2>/dev/null; done
  for ns in "$S" "$C" "$K"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out
opdbus() { ip netns exec "$S" "$OPDBUS" "$@"; }
nft_s() { ip netns exec "$S" nft "$@"; }
doc() {  # doc FILE FIREWALL-SECTION-JSON; "persist": false unless given (the host's /etc is not the test's)
  python3 -c 'import json, sys
d = json.loads(sys.argv[1]); d.setdefault("persist", False)
print(json.dumps({"version": 1, "plugins": {"firewall": d}}))' "$2" >"$1"
}
ruleset_hash() { nft_s list ruleset | sha256sum | cut -d' ' -f1; }
# the JSON listing, handles included: equal only if nothing was even replaced
ruleset_json_hash() { nft_s -j list ruleset | sha256sum | cut -d' ' -f1; }
# connects C -> S:PORT over TCP with a 2 s timeout; exit 0 when the connection is accepted
connect() {
  ip netns exec "$C" python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("10.77.0.1", int(sys.argv[1])))
except OSError as e:
    print("no connection:", e)
    sys.exit(1)
print("connected")
PY
}

# --- the fixture: two namespaces joined by a veth pair, listeners in S -------------------------------------
for ns in "$S" "$C"; do ip netns add "$ns" && ip -n "$ns" link set lo up; done
ip -n "$S" link add eth0 type veth peer name eth0 netns "$C"
ip -n "$S" addr add 10.77.0.1/24 dev eth0 && ip -n "$S" link set eth0 up
ip -n "$C" addr add 10.77.0.2/24 dev eth0 && ip -n "$C" link set eth0 up
for port in 2222 8080; do
  ip netns exec "$S" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept(); c.close()' "$port" &
  LISTENERS="$LISTENERS $!"
done
sleep 0.5

# A table of the admin's own, which op-dbus must never touch.
nft_s add table ip admin
nft_s add chain ip admin watch '{ type filter hook input priority 10; policy accept; }'
nft_s add rule ip admin watch tcp dport 9999 counter comment '"admin rule"'

check "before any firewall, port 8080 connects" connect 8080
check "show with no table yet" sh -c "ip netns exec $S '$OPDBUS' show --plugin firewall >'$T/show0.json'"
expect "show's output without a table plans to nothing" 0 opdbus plan "$T/show0.json"

doc "$T/fw.json" '{
  "default_policy": {"input": "drop", "forward": "drop", "output": "accept"},
  "rules": [
    {"port": 2222, "proto": "tcp", "action": "accept", "comment": "ssh"},
    {"port": ["443", 80], "proto": "TCP", "action": "accept", "source": ["10.0.0.0/8", "192.168.1.1"]},
    {"proto": "icmp", "action": "accept", "comment": "ping"},
    {"port": "5000-5010", "proto": "udp", "action": "drop", "iface": "eth0"}
  ]}'

# --- apply, the ruleset, idempotence -------------------------------------------------------------------------
expect "plan shows changes (exit 2)" 2 opdbus plan "$T/fw.json"
contains "the plan creates the table" "create table inet op_dbus with 4 rule(s)"
check "apply" opdbus apply "$T/fw.json"
check "nft lists table inet op_dbus as declared" python3 - <<PY
import json, subprocess
out = subprocess.run(["ip", "netns", "exec", "$S", "nft", "-j", "list", "table", "inet", "op_dbus"],
                     capture_output=True, text=True, check=True).stdout
items = json.loads(out)["nftables"]
chains = {c["chain"]["name"]: c["chain"] for c in items if "chain" in c}
assert chains["input"]["policy"] == "drop" and chains["forward"]["policy"] == "drop", chains
assert chains["output"]["policy"] == "accept", chains
rules = [r["rule"] for r in items if "rule" in r and r["rule"]["chain"] == "input"]
comments = [r.get("comment", "") for r in rules]
assert comments[:3] == ["op-dbus: established/related", "op-dbus: loopback", "op-dbus: invalid"], comments
assert comments[3] == "ssh" and comments[5] == "ping", comments
assert len(rules) == 7, len(rules)
assert '"dport"' in json.dumps(rules[3]["expr"]) and "2222" in json.dumps(rules[3]["expr"]), rules[3]
PY
expect "second plan is empty (exit 0)" 0 opdbus plan "$T/fw.json"
check "show --plugin firewall" sh -c "ip netns exec $S '$OPDBUS' show --plugin firewall >'$T/show.json'"
expect "show's output plans to nothing" 0 opdbus plan "$T/show.json"
check "the admin's table survives the apply" sh -c "ip netns exec $S nft list table ip admin | grep -q 'admin rule'"

# --- real traffic ------------------------------------------------------------------------------------------------
check "the allowed port 2222 connects" connect 2222
expect "the dropped port 8080 does not connect" 1 connect 8080
check "ping is accepted as declared" ip netns exec "$C" ping -c 1 -W 2 10.77.0.1
doc "$T/noping.json" '{
  "default_policy": {"input": "drop"},
  "rules": [{"port": 2222, "proto": "tcp", "action": "accept", "comment": "ssh"}]}'
check "apply a ruleset without the ICMP rule" opdbus apply "$T/noping.json"
expect "ping is dropped now" 1 ip netns exec "$C" ping -c 1 -W 2 10.77.0.1
check "port 2222 still connects" connect 2222
check "apply the first document again" opdbus apply "$T/fw.json"

# --- drift ---------------------------------------------------------------------------------------------------------
handle=$(nft_s -a list chain inet op_dbus input | sed -n 's/.*comment "ssh" # handle \([0-9]*\)/\1/p')
check "delete the ssh rule behind op-dbus's back" nft_s delete rule inet op_dbus input handle "$handle"
expect "the deleted rule is drift (exit 2)" 2 opdbus plan "$T/fw.json"
contains "the plan adds the rule back" 'add rule 0: {"proto":"tcp","port":2222,"action":"accept","comment":"ssh"}'
check "apply corrects the drift" opdbus apply "$T/fw.json"
expect "the plan is empty again" 0 opdbus plan "$T/fw.json"
check "port 2222 connects again" connect 2222
nft_s add rule inet op_dbus input tcp dport 7000 counter accept
expect "a rule added by hand is drift too" 2 opdbus plan "$T/fw.json"
contains "the plan removes it" "remove rule"
check "apply removes it" opdbus apply "$T/fw.json"
expect "and the plan is empty" 0 opdbus plan "$T/fw.json"

# --- refused documents change nothing ---------------------------------------------------------------------
before=$(ruleset_hash)
before_json=$(ruleset_json_hash)
doc "$T/bad-comment.json" '{"rules": [{"port": 22, "proto": "tcp", "action": "accept", "comment": "a\nb"}]}'
expect "a comment with a newline is refused" 1 opdbus apply "$T/bad-comment.json"
contains "the refusal names the comment" "/plugins/firewall/rules/0/comment"
doc "$T/bad-port.json" '{"rules": [{"port": 22, "action": "accept"}]}'
expect "a port without a protocol is refused" 1 opdbus apply "$T/bad-port.json"
doc "$T/bad-nat.json" '{"nat": {"forwards": [{"proto": "tcp", "port": 80, "to": "10.0.0.5:0"}]}, "rules": []}'
expect "a port forward to port 0 is refused" 1 opdbus apply "$T/bad-nat.json"
contains "the refusal names the forward" "/plugins/firewall/nat/forwards/0/to"
doc "$T/bad-log.json" '{"rules": [{"action": "drop", "log": "two\nlines"}]}'
expect "a log prefix with a newline is refused" 1 opdbus apply "$T/bad-log.json"
contains "the refusal names the log prefix" "/plugins/firewall/rules/0/log"
doc "$T/bad-set.json" '{"rules": [{"action": "drop", "source": "@nosuch"}]}'
expect "a rule naming a set that is not declared is refused" 1 opdbus apply "$T/bad-set.json"
contains "the refusal names the set" 'no set "nosuch"' 
doc "$T/bad-net.json" '{"rules": [{"source": "10.0.0.1/8", "action": "drop"}]}'
expect "a network with host bits is refused" 1 opdbus apply "$T/bad-net.json"
is "the whole ruleset is unchanged" "$before" ruleset_hash
is "byte for byte in nft -j list ruleset, handles included" "$before_json" ruleset_json_hash
expect "the plan is still empty" 0 opdbus plan "$T/fw.json"
is "the ruleset is still unchanged" "$before" ruleset_hash

# --- lockout protection: SSH_CONNECTION against the new rules ---------------------------------------------------
# Without the builtin rules, port 22 is not accepted and the input policy is drop: an SSH session from C to
# S:22 would be cut. The same document with the session on 2222 (accepted) is fine.
doc "$T/lockout.json" '{
  "builtin_rules": false,
  "default_policy": {"input": "drop"},
  "rules": [{"port": 2222, "proto": "tcp", "action": "accept", "comment": "ssh"}]}'
expect "with SSH_CONNECTION on a port the rules drop, apply is refused" 1 \
  env SSH_CONNECTION="10.77.0.2 50022 10.77.0.1 22" ip netns exec "$S" "$OPDBUS" apply "$T/lockout.json"
contains "the refusal says it would lock the session out" "LOCKOUT: the new ruleset would drop this SSH connection"
contains "and names --allow-destructive" "--allow-destructive"
is "the refused apply changed nothing" "$before" ruleset_hash
expect "the plan shows the action as destructive (exit 2)" 2 \
  env SSH_CONNECTION="10.77.0.2 50022 10.77.0.1 22" ip netns exec "$S" "$OPDBUS" plan "$T/lockout.json"
contains "the plan says why" "policy is drop"
expect "with the session on an accepted port the plan is an ordinary one" 2 \
  env SSH_CONNECTION="10.77.0.2 50022 10.77.0.1 2222" ip netns exec "$S" "$OPDBUS" plan "$T/lockout.json"
lacks "and mentions no lockout" "LOCKOUT"
expect "with the builtin rules the established session is accepted: no lockout" 2 \
  env SSH_CONNECTION="10.77.0.2 50022 10.77.0.1 22" ip netns exec "$S" "$OPDBUS" plan "$T/noping.json"
lacks "no lockout for the builtin rules" "LOCKOUT"
check "--allow-destructive applies it anyway" \
  env SSH_CONNECTION="10.77.0.2 50022 10.77.0.1 22" ip netns exec "$S" "$OPDBUS" apply --allow-destructive "$T/lockout.json"
check "apply the first document again" opdbus apply "$T/fw.json"
before=$(ruleset_hash)

# --- --confirm-timeout: the previous table comes back unless confirmed ------------------------------------------
check "ping is accepted before the change" ip netns exec "$C" ping -c 1 -W 2 10.77.0.1
expect "apply --confirm-timeout without confirm exits 1" 1 opdbus apply --confirm-timeout 2 "$T/noping.json"
contains "it says it was not confirmed" "not confirmed"
contains "and that the firewall was rolled back" "firewall: rolled back"
is "the whole ruleset is exactly as before" "$before" ruleset_hash
expect "the first document plans to nothing" 0 opdbus plan "$T/fw.json"
check "ping is accepted again" ip netns exec "$C" ping -c 1 -W 2 10.77.0.1
opdbus apply --confirm-timeout 60 "$T/noping.json" >"$T/confirm.out" 2>&1 &
apply_pid=$!
for _ in $(seq 1 100); do
  [ -f "$OPDBUS_RUN_DIR/op-dbus/pending-confirm" ] && break
  sleep 0.1
done
check "op-dbus confirm" "$OPDBUS" confirm
wait "$apply_pid"
rc=$?
if [ "$rc" -eq 0 ]; then ok "the confirmed apply exits 0"; else not_ok "the confirmed apply exits 0" "$(cat "$T/confirm.out")"; fi
expect "the confirmed rules stay: ping is dropped" 1 ip netns exec "$C" ping -c 1 -W 2 10.77.0.1
expect "and plan to nothing" 0 opdbus plan "$T/noping.json"
check "apply the first document again" opdbus apply "$T/fw.json"
before=$(ruleset_hash)
check "the admin's table still has its rule" sh -c "ip netns exec $S nft list table ip admin | grep -q 'admin rule'"

# --- a table op-dbus may not change: the apply fails and changes nothing ----------------------------------------
# In a namespace of its own, another process owns table inet op_dbus (nft's "flags owner": only its netlink
# socket may change the table; the kernel refuses anyone else's transaction with EPERM). The document is valid.
# (nftables 1.0.6 prints an owned table's flags as JSON that does not parse, so there op-dbus stops at its
# query; a newer nft lists it and the kernel refuses the batch. Either way nothing may change.)
ip netns add "$K"
ip netns exec "$K" nft add table ip admin
ip netns exec "$K" nft add chain ip admin watch '{ type filter hook input priority 10; policy accept; }'
ip netns exec "$K" nft add rule ip admin watch tcp dport 9999 counter comment '"admin rule"'
mkfifo "$T/owner.fifo"
ip netns exec "$K" nft -i <"$T/owner.fifo" >"$T/owner.out" 2>&1 &
LISTENERS="$LISTENERS $!"
exec 7>"$T/owner.fifo"
echo 'add table inet op_dbus { flags owner; }' >&7
for _ in $(seq 1 50); do ip netns exec "$K" nft list table inet op_dbus >/dev/null 2>&1 && break; sleep 0.1; done
k_hash() { ip netns exec "$K" nft -j list ruleset | sha256sum | cut -d' ' -f1; }
k_before=$(k_hash)
expect "apply into a table another process owns fails" 1 ip netns exec "$K" "$OPDBUS" apply "$T/fw.json"
contains "the error names the firewall" "firewall"
is "the ruleset is byte-identical (nft -j list ruleset)" "$k_before" k_hash
check "the admin's table is still there" sh -c "ip netns exec $K nft list table ip admin | grep -q 'admin rule'"
exec 7>&-  # the owner goes away, and with it its table
for _ in $(seq 1 50); do ip netns exec "$K" nft list table inet op_dbus >/dev/null 2>&1 || break; sleep 0.1; done
check "once the owner is gone, the same document applies" ip netns exec "$K" "$OPDBUS" apply "$T/fw.json"
expect "and plans to nothing" 0 ip netns exec "$K" "$OPDBUS" plan "$T/fw.json"
check "the admin's table survived it" sh -c "ip netns exec $K nft list table ip admin | grep -q 'admin rule'"

# --- an empty section deletes the table, and only it ----------------------------------------------------------
doc "$T/empty.json" '{}'
expect "an empty section plans the table's deletion" 2 opdbus plan "$T/empty.json"
contains "the plan deletes table inet op_dbus" "delete table inet op_dbus"
check "apply the empty section" opdbus apply "$T/empty.json"
expect "table inet op_dbus is gone" 1 nft_s list table inet op_dbus
check "the admin's table is still there" sh -c "ip netns exec $S nft list table ip admin | grep -q 'admin rule'"
expect "and the plan is empty" 0 opdbus plan "$T/empty.json"
check "port 8080 connects again" connect 8080

tap_done
