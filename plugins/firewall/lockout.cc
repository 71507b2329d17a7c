// Lockout protection: would the ruleset drop the SSH connection this command runs over?
//
// The connection is an ESTABLISHED TCP connection (conntrack knows it), described by SSH_CONNECTION as
// "client_ip client_port server_ip server_port". Two packets are evaluated, as nft would, rule by rule in
// order, the first verdict wins, the chain's policy when none does:
//   input:  client_ip:client_port -> server_ip:server_port, tcp, ct state established
//   output: server_ip:server_port -> client_ip:client_port, tcp, ct state established
// The builtin rules count: "ct state established,related accept" accepts the input packet at once (there is
// no builtin rule in output). What the tuple does not say is assumed against the connection: the interfaces
// (a rule matching iif/oif is taken to match when it drops or rejects, and not to match when it accepts),
// except that a loopback client address arrives on "lo"; a rate limit is taken to be exceeded for accept
// rules and not for drop/reject rules. log and counter change nothing. NAT chains are not consulted (a port
// forward of the SSH port would be set up by the document on purpose).
#include <arpa/inet.h>

#include "firewall/model.h"
#include "text.h"

namespace opdbus::firewall {
namespace {

enum class Match { No, Yes, Unknown };

struct Packet {
  std::string chain;  // input or output
  std::string saddr, daddr;
  int sport = 0, dport = 0;
  std::string iif;  // "" unknown
};

bool in_addresses(const Section& s, const std::vector<std::string>& list, const std::string& addr) {
  if (list.size() == 1 && starts_with(list.front(), "@")) {
    auto it = s.sets.find(list.front().substr(1));
    if (it == s.sets.end()) return false;
    for (const auto& n : it->second.addresses) {
      if (network_contains(n, addr)) return true;
    }
    return false;
  }
  for (const auto& n : list) {
    if (network_contains(n, addr)) return true;
  }
  return false;
}

bool in_ports(const std::vector<PortRange>& ports, int port) {
  for (const auto& r : ports) {
    if (port >= r.lo && port <= r.hi) return true;
  }
  return false;
}

Match rule_matches(const Section& s, const Rule& r, const Packet& p) {
  if (!r.nft.empty()) return Match::Unknown;  // a rule op-dbus cannot read (never in a desired section)
  if (r.chain != p.chain) return Match::No;
  if (!r.proto.empty() && r.proto != "tcp") return Match::No;
  if (!r.icmp_types.empty()) return Match::No;
  if (!r.source.empty() && !in_addresses(s, r.source, p.saddr)) return Match::No;
  if (!r.destination.empty() && !in_addresses(s, r.destination, p.daddr)) return Match::No;
  if (!r.port_set.empty()) {
    auto it = s.sets.find(r.port_set.substr(1));
    if (it == s.sets.end() || !in_ports(it->second.ports, p.dport)) return Match::No;
  } else if (!r.ports.empty() && !in_ports(r.ports, p.dport)) {
    return Match::No;
  }
  Match m = Match::Yes;
  if (!r.iface.empty()) {
    if (!p.iif.empty() && p.iif != r.iface) return Match::No;
    if (p.iif.empty()) m = Match::Unknown;
  }
  if (!r.oiface.empty()) m = Match::Unknown;
  if (r.limit) m = Match::Unknown;
  return m;
}

// nullopt: accepted; otherwise what drops it.
std::optional<std::string> evaluate(const Section& s, const Packet& p) {
  if (s.builtin_rules && p.chain == "input") return std::nullopt;  // ct state established,related accept
  for (const auto& r : s.rules) {
    Match m = rule_matches(s, r, p);
    if (m == Match::No) continue;
    bool accepts = r.action == "accept";
    if (m == Match::Unknown && accepts) continue;  // may not match: assume it does not
    if (accepts) return std::nullopt;
    return "chain " + p.chain + ": rule " + to_json(rule_to_json(r)) + " " +
           (m == Match::Unknown ? "may " : "") + (r.action == "reject" ? "rejects" : "drops") + " it";
  }
  if (s.policy.at(p.chain) == "drop")
    return "chain " + p.chain + ": no rule accepts it and the policy is drop";
  return std::nullopt;
}

// IPv4-mapped IPv6 (sshd on a dual-stack socket reports ::ffff:a.b.c.d) is the IPv4 address.
std::optional<std::string> tuple_address(const std::string& text) {
  std::string t = text;
  if (starts_with(lower(t), "::ffff:") && t.find('.') != std::string::npos) t = t.substr(7);
  std::string why;
  auto c = canonical_address(t, &why);
  if (!c || c->find('/') != std::string::npos) return std::nullopt;
  return c;
}

int tuple_port(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return 0;
  int n = std::stoi(text);
  return n >= 1 && n <= 65535 ? n : 0;
}

}  // namespace

std::optional<SshTuple> parse_ssh_connection(const std::string& text) {
  std::vector<std::string> parts;
  for (const auto& p : split(trim(text), ' ')) {
    if (!p.empty()) parts.push_back(p);
  }
  if (parts.size() != 4) return std::nullopt;
  SshTuple t;
  auto client = tuple_address(parts[0]);
  auto server = tuple_address(parts[2]);
  t.client_port = tuple_port(parts[1]);
  t.server_port = tuple_port(parts[3]);
  if (!client || !server || !t.client_port || !t.server_port) return std::nullopt;
  if (address_family(*client) != address_family(*server)) return std::nullopt;
  t.client = *client;
  t.server = *server;
  return t;
}

std::optional<std::string> lockout_reason(const Section& s, const SshTuple& t) {
  bool loopback = network_contains("127.0.0.0/8", t.client) || t.client == "::1";
  Packet in{"input", t.client, t.server, t.client_port, t.server_port, loopback ? "lo" : ""};
  if (auto why = evaluate(s, in)) return why;
  return evaluate(s, {"output", t.server, t.client, t.server_port, t.client_port, ""});
}

}  // namespace opdbus::firewall
