// The firewall section as typed values, and the two translations the plugin needs: to an nftables JSON batch
// (render_batch) and back from `list table inet op_dbus` (parse_table). Equivalent forms compare equal after
// parse_section(): 22 and "22", "TCP" and "tcp", a port list in another order, "10.0.0.1/32" and "10.0.0.1".
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "json.h"

namespace opdbus::firewall {

inline constexpr const char* kFamily = "inet";
inline constexpr const char* kTable = "op_dbus";
// Comments of the rules op-dbus adds itself ("builtin_rules"); a document's comment may not start so.
inline constexpr const char* kBuiltinTag = "op-dbus:";
// The forward chain's rule that lets port-forwarded (DNAT) connections through, there when nat.forwards is.
inline constexpr const char* kDnatAcceptComment = "op-dbus: port forwards";

struct PortRange {
  int lo = 0;
  int hi = 0;
  auto operator<=>(const PortRange&) const = default;
};

// `limit rate RATE/PER burst BURST packets`: the rule matches while the rate is not exceeded.
struct Limit {
  int64_t rate = 0;
  std::string per;    // second, minute, hour, day, week
  int64_t burst = 5;  // nft's default
  bool operator==(const Limit&) const = default;
};

struct Rule {
  std::string chain = "input";           // input, forward, output
  std::string action;                    // accept, drop, reject
  std::string proto;                     // "" (any), tcp, udp, sctp, icmp, icmpv6
  std::vector<PortRange> ports;          // sorted, merged; empty: any
  std::string port_set;                  // "@NAME": a named set of type inet_service (instead of ports)
  std::vector<std::string> source;       // canonical addresses/networks, sorted; or one "@NAME"
  std::vector<std::string> destination;  // idem
  std::string iface;                     // incoming interface ("" any); "iif" in a document too
  std::string oiface;                    // outgoing interface ("" any); "oif"
  std::vector<std::string> icmp_types;   // sorted names (proto icmp or icmpv6)
  std::optional<Limit> limit;
  bool counter = false;
  bool log = false;
  std::string log_prefix;
  std::string comment;
  std::string nft;  // current only: a rule of the table op-dbus cannot read, as nft's JSON
  bool operator==(const Rule&) const = default;
};

// firewall.sets.NAME: a named set the rules reference as "@NAME".
struct NamedSet {
  std::string type;                    // ipv4_addr, ipv6_addr, inet_service
  std::vector<std::string> addresses;  // canonical, sorted (address types)
  std::vector<PortRange> ports;        // merged (inet_service)
  bool operator==(const NamedSet&) const = default;
};

// firewall.nat.masquerade[]: traffic from `source` leaving by `out_interface` gets the outgoing address.
struct Masquerade {
  std::string source;         // canonical network ("" any)
  std::string out_interface;  // "" any
  bool operator==(const Masquerade&) const = default;
};

// firewall.nat.forwards[]: `proto` traffic to `port` (arriving on `in_interface`) goes to to_addr:to_port.
struct Forward {
  std::string proto;  // tcp, udp
  int port = 0;
  std::string to_addr;  // IPv4 address
  int to_port = 0;
  std::string in_interface;  // "" any
  bool operator==(const Forward&) const = default;
};

struct Section {
  bool observe = false;
  bool builtin_rules = true;  // established/related + loopback accepted, invalid dropped
  // The table is loaded at boot (persist.h). Current: the boot files are installed and hold this table.
  bool persist = true;
  std::map<std::string, std::string> policy{{"forward", "accept"}, {"input", "accept"}, {"output", "accept"}};
  std::vector<Rule> rules;
  std::map<std::string, NamedSet> sets;
  std::vector<Masquerade> masquerade;
  std::vector<Forward> forwards;
  // Derived: the nat chains (prerouting, postrouting) exist / are wanted, and the forward chain's
  // "ct status dnat accept" rule that lets port-forwarded connections through.
  bool nat = false;
  bool dnat_accept = false;
  bool operator==(const Section& o) const {
    return builtin_rules == o.builtin_rules && persist == o.persist && policy == o.policy &&
           rules == o.rules && sets == o.sets && masquerade == o.masquerade && forwards == o.forwards &&
           nat == o.nat && dnat_accept == o.dnat_accept;
  }
};

struct Problem {
  std::vector<std::string> tokens;  // pointer into the section
  std::string message;
};

// Parses and normalises a section (a document's or a query's). Every refused value is a Problem. Rules are
// ordered by chain (input, forward, output), keeping the document's order within each chain.
Section parse_section(const JsonValue& section, std::vector<Problem>* problems);

// The section's document form (what query reports and `show` prints). Round-trips through parse_section.
JsonDoc section_to_json(const Section& s);
JsonDoc rule_to_json(const Rule& r);
JsonDoc set_to_json(const NamedSet& set);
JsonDoc nat_to_json(const Section& s);  // {"masquerade": [...], "forwards": [...]}

// Canonical text of an address or network ("10.0.0.0/8", "fd00::1"); nullopt with `why` when refused.
std::optional<std::string> canonical_address(const std::string& text, std::string* why);
// 4 or 6 for a canonical address.
int address_family(const std::string& canonical);
// The fewest networks (canonical, sorted as text) covering exactly the addresses of `list` (canonical
// addresses and networks of one family): what nft makes of a list in a rule, whose anonymous interval set
// merges overlapping and adjacent networks. `list` itself when it cannot be read so.
std::vector<std::string> address_cover(const std::vector<std::string>& list);
// The fewest networks covering the addresses FROM to TO (two addresses of one family); empty if not that.
std::vector<std::string> range_networks(const std::string& from, const std::string& to);
// True when canonical `address` (an address or a network) lies inside canonical `network`.
bool network_contains(const std::string& network, const std::string& address);

// The one transaction that makes table inet op_dbus exactly `s`: add table; delete table; add table; the
// base chains with their policies (and the nat chains when NAT is declared); the named sets; every rule.
// Whatever the table held before (chains, sets, objects made by hand) is gone, in the same transaction.
std::string render_batch(const Section& s);

// The transaction that puts back a table exactly as `listing` (`nft -j list table inet op_dbus`) shows it,
// or deletes the table when `listing` is nullopt: what a checkpoint restores.
std::string render_restore(const std::optional<std::string>& listing);

// The transaction that deletes table inet op_dbus (add first, so it holds whether or not the table exists).
std::string render_delete();

// True for a section that declares nothing (no rules, policies, builtin_rules, sets or nat; "mode" and
// "persist" alone declare nothing): op-dbus owns no table then.
bool declares_nothing(const JsonValue& section);

// The table read back from `nft -j list table inet op_dbus` output (nullopt: there is no such table).
struct CurrentTable {
  bool present = false;
  Section section;
  std::vector<std::string> other_chains;  // chains in the table op-dbus does not define
};
CurrentTable parse_table(const std::optional<std::string>& listing);

// For decode.cc: merge_ports() (sorted, merged), a set name op-dbus reads, and the builtin rules' (chain,
// comment) in the order render_batch() writes them.
std::vector<PortRange> merged_ports(std::vector<PortRange> ports);
bool valid_set_name(const std::string& name);
std::vector<std::pair<std::string, std::string>> builtin_rule_comments();

}  // namespace opdbus::firewall

namespace opdbus::sys {
struct NftTableContents;
}

namespace opdbus::firewall {

// ---- decode.cc
// The table read straight from the nf_tables dump (sys::nft_table_state's contents) into the section, as
// parse_table() would read libnftables' listing of it, for the shapes render_batch() writes (base chains,
// named sets, the builtin rules, and rules of interfaces, addresses, ports, protocols, limits, counters,
// logging and verdicts). nullopt when the table holds anything else (NAT, ICMP types, a chain, set, object,
// attribute or expression of another shape): the caller must then list the table through libnftables.
std::optional<CurrentTable> decode_table(const sys::NftTableContents& contents);

}  // namespace opdbus::firewall

#include "diagnostic.h"

namespace opdbus::firewall {

// ---- lockout.cc
// The TCP connection this command runs over (SSH_CONNECTION: "client_ip client_port server_ip server_port").
struct SshTuple {
  std::string client;  // canonical address
  int client_port = 0;
  std::string server;
  int server_port = 0;
};
std::optional<SshTuple> parse_ssh_connection(const std::string& text);
// Why the ruleset `s` would drop the connection's packets (an established TCP connection: input from the
// client, output to it), or nullopt when both directions are accepted. See docs/plugins/firewall.md,
// "Lockout protection", for exactly what is assumed.
std::optional<std::string> lockout_reason(const Section& s, const SshTuple& t);

// ---- check.cc
// parse_section()'s problems plus those only a document can have; `parsed` receives the section.
std::vector<Problem> section_problems(const JsonValue& section, Section* parsed);
void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out);

}  // namespace opdbus::firewall
