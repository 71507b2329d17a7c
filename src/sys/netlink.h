// rtnetlink for the network plugin: links, addresses and routes of the network namespace the socket was
// opened in. Only this file's .cc sees libnl; callers get plain structs. Links are read and changed with raw
// rtnetlink messages built through libnl (libnl-route has no accessors for bridge and bond options);
// addresses and routes use libnl-route's objects. Every kernel refusal becomes Error(BackendError) carrying
// the kernel's own words (errno text plus the extended-ack message when the kernel sends one).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nl_sock;

namespace opdbus::sys {

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string
      kind;  // IFLA_INFO_KIND: "bridge", "veth", "vlan", "bond", "dummy", "openvswitch", "" (hardware)
  std::string slave_kind;  // IFLA_INFO_SLAVE_KIND when enslaved: "bridge", "bond", "openvswitch"
  unsigned arptype = 0;    // ARPHRD_*: 1 ethernet, 772 loopback
  bool up = false;         // administratively up (IFF_UP)
  bool lower_up = false;   // carrier (IFF_LOWER_UP)
  uint32_t mtu = 0;
  std::string mac;              // "52:54:00:12:34:56", lower case; empty when the link has none
  std::string alias;            // IFLA_IFALIAS
  int master = 0;               // ifindex of the bridge/bond this link is enslaved to, 0 = none
  int link = 0;                 // IFLA_LINK: a VLAN's parent, a veth's peer
  bool link_elsewhere = false;  // IFLA_LINK_NETNSID present: `link` is an index in another namespace
  std::optional<uint16_t> vlan_id;
  std::optional<uint8_t> bond_mode;       // BOND_MODE_*: 0 balance-rr .. 6 balance-alb
  std::optional<uint32_t> stp_state;      // bridge: 0 off, 1 kernel STP, 2 user-space STP
  std::optional<uint8_t> vlan_filtering;  // bridge
};

struct AddressInfo {
  int index = 0;
  int family = 0;          // AF_INET / AF_INET6
  std::string address;     // canonical text with prefix: "10.0.0.1/24", "2001:db8::1/64"
  unsigned flags = 0;      // IFA_F_*
  unsigned scope = 0;      // RT_SCOPE_*
  bool permanent() const;  // configured, not learnt (DHCP/SLAAC) nor tentative-failed
};

struct RouteInfo {
  int family = 0;
  std::string destination;  // "0.0.0.0/0", "10.1.0.0/16", "::/0"
  std::string gateway;      // "" for a device route
  int oif = 0;              // outgoing ifindex, 0 = none
  uint32_t metric = 0;
  uint32_t table = 254;  // RT_TABLE_MAIN
  uint8_t protocol = 0;  // RTPROT_*: 2 kernel, 3 boot, 4 static, 9 ra, 16 dhcp
  uint8_t type = 1;      // RTN_UNICAST
  uint8_t scope = 0;     // RT_SCOPE_UNIVERSE
  int nexthops = 1;      // more than one: a multipath route (reported, never edited)
};

// What to create. Unset optionals are left at the kernel's defaults.
struct LinkSpec {
  std::string name;
  std::string kind;      // "bridge", "veth", "vlan", "bond", "dummy"
  std::string peer;      // veth: the other end's name
  int parent = 0;        // vlan: the parent's ifindex
  uint16_t vlan_id = 0;  // vlan
  std::optional<uint8_t> bond_mode;
  std::optional<uint32_t> stp_state;
  std::optional<uint8_t> vlan_filtering;
  std::optional<uint32_t> mtu;
  std::string mac;
};

// A change to an existing link; unset fields are not sent.
struct LinkChange {
  std::optional<bool> up;
  std::optional<uint32_t> mtu;
  std::optional<std::string> mac;
  std::optional<std::string> alias;  // "" clears it
  std::optional<int> master;         // 0 = release from its master
  std::optional<uint8_t> bond_mode;  // the bond must be down and without slaves
  std::optional<uint32_t> stp_state;
  std::optional<uint8_t> vlan_filtering;
};

class Netlink {
 public:
  // A NETLINK_ROUTE socket in the calling thread's network namespace. Throws
  // Error(PermissionError/BackendError).
  static std::unique_ptr<Netlink> open();
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  std::vector<LinkInfo> links();
  // One link by name, without a dump; nullopt if there is none.
  std::optional<LinkInfo> link(const std::string& name);
  std::vector<AddressInfo> addresses();
  std::vector<RouteInfo> routes();  // every table

  void create_link(const LinkSpec& spec);
  void change_link(int index, const LinkChange& change);
  void delete_link(int index);

  void add_address(int index, const std::string& cidr);
  void delete_address(int index, const std::string& cidr);

  // `replace` sends NLM_F_REPLACE: a route with the same destination, table and metric is overwritten.
  void add_route(const RouteInfo& route, bool replace);
  void delete_route(const RouteInfo& route);

 private:
  explicit Netlink(nl_sock* sock);
  nl_sock* sock_;
};

// Kernel bonding modes by name ("802.3ad" -> 4); nullopt for an unknown name.
std::optional<uint8_t> bond_mode_number(const std::string& name);
std::string bond_mode_name(uint8_t mode);

}  // namespace opdbus::sys
