// The network section as values: what the document asks for, or what the host has, in one shape. Parsing
// canonicalises every equivalent form ("2001:DB8::1/64" and "2001:db8::1/64", "address" and a one-element
// "addresses", "default" and "0.0.0.0/0"), so the diff compares like with like. Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "diagnostic.h"
#include "json.h"

namespace opdbus::network {

inline constexpr int64_t kMainTable = 254;

struct Iface {
  std::string name;
  std::string type;   // "bridge", "vlan", "bond", "ethernet", "dummy", "veth", "ovs-bridge"; "" = not said
  std::string state;  // "up", "down", "absent"; "" = not said
  std::optional<int64_t> mtu;
  std::optional<std::string> mac;                     // lower case
  std::optional<std::vector<std::string>> ports;      // bridge_ports
  std::optional<std::vector<std::string>> addresses;  // canonical "addr/len", "address" first
  std::optional<std::string> gateway;                 // canonical
  std::optional<std::vector<std::string>> dns;        // canonical, in order
  std::optional<bool> dhcp;
  std::optional<bool> stp;
  std::optional<bool> vlan_filtering;
  std::optional<int64_t> vlan_id;
  std::optional<std::string> parent;
  std::optional<std::string> peer;
  std::optional<std::string> comment;
};

struct Bond {
  std::string name;
  std::optional<std::vector<std::string>> slaves;
  std::optional<std::string> mode;  // bonding mode
  std::string state;                // "up", "down", "absent"; "" = not said
};

struct Route {
  size_t index = 0;         // position in the section's "routes" array
  int family = 4;           // 4 or 6
  std::string destination;  // canonical network: "0.0.0.0/0", "10.1.0.0/16", "::/0"
  std::optional<std::string> gateway;
  std::optional<std::string> device;
  std::optional<int64_t>
      metric;  // unset in a document: any metric matches; new routes get the kernel default
  int64_t table = kMainTable;
  std::string state = "present";  // or "absent"
};

// One boot unit as the host has it.
struct UnitFiles {
  std::optional<std::string> file;     // content of /etc/systemd/system/NAME
  std::optional<std::string> shipped;  // path of a packaged unit (/usr/lib/systemd/system/NAME, ...), if any
  std::optional<std::string> link;     // target of the multi-user.target.wants/NAME symlink
};

// What the host has persisted for boot (reported by query() next to the live state when a document is given;
// never by `show`). Texts are whole file contents; nullopt = the file does not exist.
struct Persisted {
  std::optional<std::string> document;     // /etc/op-dbus/network.json
  std::optional<std::string> interfaces;   // /etc/network/interfaces
  bool ifupdown = false;                   // the host has ifupdown (ifup), so its file is kept in step
  std::map<std::string, UnitFiles> units;  // by unit name
};

struct Section {
  std::map<std::string, Iface> interfaces;
  std::map<std::string, Bond> bonds;
  std::vector<Route> routes;
  bool persist = true;
  std::optional<Persisted> persisted;
};

Section parse_section(const JsonValue& section);

// "10.0.0.1/24" -> "10.0.0.1/24"; "2001:DB8:0::1/64" -> "2001:db8::1/64"; nullopt if not an address/prefix.
std::optional<std::string> canonical_cidr(std::string_view text);
std::optional<std::string> canonical_ip(std::string_view text);
// 4, 6, or 0 when not an address (with or without "/len").
int ip_family(std::string_view text);
// "default" (family from the gateway) -> "0.0.0.0/0" / "::/0"; a network is canonicalised.
std::string canonical_destination(std::string_view destination, int family);
// The network part of "10.1.2.3/16" is "10.1.0.0/16"; used by check() to reject host bits in routes.
std::optional<std::string> network_of(std::string_view cidr);
// Kernel default metric for routes added without one: 0 for IPv4, 1024 for IPv6.
inline int64_t default_metric(int family) {
  return family == 6 ? 1024 : 0;
}
// "main" -> 254, "default" -> 253, "local" -> 255, numbers as they are; nullopt for any other name.
std::optional<int64_t> table_id(const JsonValue& v);

// Effective desired state of a link named in interfaces and/or bonds ("up" unless said otherwise).
std::string desired_state(const Section& s, const std::string& name);

// Semantic checks of the section beyond its schema (check.cc): names that reach files and the kernel, and
// what can never converge. Pure.
void check_section(const JsonValue& section, const std::string& file, const std::string& pointer,
                   Diagnostics& out);

// True for a name the kernel accepts as an interface name: 1 to 15 bytes of printable ASCII other than
// '/' and ':', and not "." or "..".
bool valid_ifname(std::string_view name);

// ["a","b"]: a list as compact JSON, for plan changes.
std::string json_list(const std::vector<std::string>& items);

}  // namespace opdbus::network
