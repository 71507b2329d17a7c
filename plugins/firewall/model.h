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

struct PortRange {
  int lo = 0;
  int hi = 0;
  auto operator<=>(const PortRange&) const = default;
};

struct Rule {
  std::string chain = "input";           // input, forward, output
  std::string action;                    // accept, drop, reject
  std::string proto;                     // "" (any), tcp, udp, sctp, icmp, icmpv6
  std::vector<PortRange> ports;          // sorted, merged; empty: any
  std::vector<std::string> source;       // canonical addresses/networks, sorted
  std::vector<std::string> destination;  // idem
  std::string iface;                     // incoming interface ("" any)
  std::string comment;
  std::string nft;  // current only: a rule of the table op-dbus cannot read, as nft's JSON
  bool operator==(const Rule&) const = default;
};

struct Section {
  bool observe = false;
  bool builtin_rules = true;  // established/related + loopback accepted, invalid dropped
  std::map<std::string, std::string> policy{{"forward", "accept"}, {"input", "accept"}, {"output", "accept"}};
  std::vector<Rule> rules;
  bool operator==(const Section& o) const {
    return builtin_rules == o.builtin_rules && policy == o.policy && rules == o.rules;
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

// Canonical text of an address or network ("10.0.0.0/8", "fd00::1"); nullopt with `why` when refused.
std::optional<std::string> canonical_address(const std::string& text, std::string* why);
// 4 or 6 for a canonical address.
int address_family(const std::string& canonical);

// The one transaction that makes table inet op_dbus exactly `s`: add table; flush table; delete the chains
// in `stale_chains`; add the base chains with their policies; add every rule.
std::string render_batch(const Section& s, const std::vector<std::string>& stale_chains);

// The transaction that deletes table inet op_dbus (add first, so it holds whether or not the table exists).
std::string render_delete();

// True for a section that declares nothing (no rules, policies or builtin_rules): op-dbus owns no table then.
bool declares_nothing(const JsonValue& section);

// The table read back from `nft -j list table inet op_dbus` output (nullopt: there is no such table).
struct CurrentTable {
  bool present = false;
  Section section;
  std::vector<std::string> other_chains;  // chains in the table that are not input/forward/output
};
CurrentTable parse_table(const std::optional<std::string>& listing);

}  // namespace opdbus::firewall

#include "diagnostic.h"

namespace opdbus::firewall {

// ---- check.cc
// parse_section()'s problems plus those only a document can have; `parsed` receives the section.
std::vector<Problem> section_problems(const JsonValue& section, Section* parsed);
void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out);

}  // namespace opdbus::firewall
