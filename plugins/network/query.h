// From what the kernel (and OVSDB, resolved, the DHCP client) reports to the section format. Pure: the
// backend collects a HostState, these functions turn it into the JSON that diff() and `show` use.
//
// Left out as kernel-owned noise: "lo" and the OVS datapath "ovs-system" (in `show` only), IPv6 link-local
// addresses, addresses that are not permanent (learnt by DHCP or SLAAC) or failed duplicate detection, routes
// the kernel, router advertisements or redirects made, local/broadcast/multicast routes, and multipath
// routes.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "json.h"
#include "network/model.h"
#include "sys/netlink.h"
#include "sys/ovsdb.h"

namespace opdbus::network {

struct HostState {
  std::vector<sys::LinkInfo> links;
  std::vector<sys::AddressInfo> addresses;
  std::vector<sys::RouteInfo> routes;
  std::map<std::string, std::vector<std::string>> dns;  // by link name
  std::set<std::string> dhcp;                           // links a DHCP client started by op-dbus serves
  std::optional<std::vector<sys::OvsBridge>> ovs;       // nullopt: Open vSwitch is not available
};

// The section for `state`. `show` leaves out what only the kernel derives (the MAC of bridges, bonds and
// VLANs) and the loopback link, and says "persist": false: a snapshot of every link (including those other
// tools made) is not meant to become the boot configuration as it is.
JsonDoc section_from_host(const HostState& state, bool show);

// Offline (--root) nothing runs: the tree's network is what its boot unit will apply, so the runtime part of
// `desired` reads back as already true (absent items gone, states explicit) and only the boot files can
// differ.
JsonDoc section_as_applied(const JsonValue& desired);

// At boot, before ovs-vswitchd runs: the links in `names` (Open vSwitch bridges) and the routes through them
// read back as `desired` asks, so they are left for later instead of failing everything else.
void defer_links(JsonDoc& current, const JsonValue& desired, const std::set<std::string>& names);

// The persisted files as query() reports them next to the live state.
JsonValue persisted_json(const Persisted& p, JsonAlloc& a);

// The link type in the document's words for a kernel link ("" when the document has no word for it).
std::string link_type(const sys::LinkInfo& link, const std::optional<std::vector<sys::OvsBridge>>& ovs);

// Whether a route is one the kernel or a protocol daemon owns, not configuration.
bool route_is_noise(const sys::RouteInfo& r);
// Whether an address is configuration (permanent, not link-local).
bool address_is_config(const sys::AddressInfo& a);

}  // namespace opdbus::network
