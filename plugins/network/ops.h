// The network plugin's operations: what diff() asks apply() to do, one struct each (see src/operation.h).
// Link names are names, not indexes: an index is looked up at apply time in the backend's index, so a link
// made by an earlier action of the same apply is found.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "json_object.h"
#include "operation.h"

namespace opdbus::network {

// A route as apply() sends it: the device by name, the metric and table always set.
struct RouteSpec {
  int family = 4;  // 4 or 6
  std::string destination;
  std::optional<std::string> gateway;
  std::optional<std::string> device;
  int64_t metric = 0;
  int64_t table = 254;

  JsonDoc json() const {
    JsonObject o;
    o.set("family", family).set("destination", destination);
    if (gateway) o.set("gateway", *gateway);
    if (device) o.set("device", *device);
    o.set("metric", metric).set("table", table);
    return o.take();
  }
};

struct CreateLink {
  static constexpr std::string_view kName = "create";
  std::string name;
  std::string kind;             // "bridge", "vlan", "bond", "dummy", "veth", "ovs-bridge"
  std::string parent;           // vlan
  int64_t vlan_id = 0;          // vlan
  std::string peer;             // veth
  std::string bond_mode;        // bond; "" = the kernel's default
  bool stp = false;             // bridge
  bool vlan_filtering = false;  // bridge
  void fields(JsonObject& o) const {
    o.set("name", name).set("kind", kind);
    if (!parent.empty()) o.set("parent", parent);
    if (vlan_id) o.set("vlan_id", vlan_id);
    if (!peer.empty()) o.set("peer", peer);
    if (!bond_mode.empty()) o.set("bond_mode", bond_mode);
    if (stp) o.set("stp", stp);
    if (vlan_filtering) o.set("vlan_filtering", vlan_filtering);
  }
};

struct DeleteLink {
  static constexpr std::string_view kName = "delete";
  std::string name;
  std::string kind;  // as the host has it ("ovs-bridge" goes through OVSDB)
  void fields(JsonObject& o) const { o.set("name", name).set("kind", kind); }
};

// MTU, MAC, alias and bridge options of an existing link; unset fields are left alone.
struct SetLink {
  static constexpr std::string_view kName = "set";
  std::string name;
  std::optional<int64_t> mtu;
  std::optional<std::string> mac;
  std::optional<std::string> alias;
  std::optional<bool> stp;
  std::optional<bool> vlan_filtering;
  void fields(JsonObject& o) const {
    o.set("name", name);
    if (mtu) o.set("mtu", *mtu);
    if (mac) o.set("mac", *mac);
    if (alias) o.set("alias", *alias);
    if (stp) o.set("stp", *stp);
    if (vlan_filtering) o.set("vlan_filtering", *vlan_filtering);
  }
};

struct SetBondMode {
  static constexpr std::string_view kName = "bond-mode";
  std::string name;
  std::string mode;
  void fields(JsonObject& o) const { o.set("name", name).set("mode", mode); }
};

// Ports of a bridge (Linux or OVS) or slaves of a bond.
struct SetMembers {
  static constexpr std::string_view kName = "members";
  std::string master;
  std::string kind;  // "bridge", "ovs-bridge", "bond"
  std::vector<std::string> add;
  std::vector<std::string> remove;
  void fields(JsonObject& o) const {
    o.set("master", master).set("kind", kind).set("add", add).set("remove", remove);
  }
};

struct SetAddresses {
  static constexpr std::string_view kName = "addresses";
  std::string name;
  std::vector<std::string> add;
  std::vector<std::string> remove;
  std::vector<std::string> want;  // the complete set: what apply makes true
  void fields(JsonObject& o) const {
    o.set("name", name).set("add", add).set("remove", remove).set("want", want);
  }
};

struct SetLinkState {
  static constexpr std::string_view kName = "state";
  std::string name;
  bool up = true;
  void fields(JsonObject& o) const { o.set("name", name).set("up", up); }
};

struct SetDhcp {
  static constexpr std::string_view kName = "dhcp";
  std::string name;
  bool enable = true;
  void fields(JsonObject& o) const { o.set("name", name).set("enable", enable); }
};

// Adds (or replaces) one route and removes others to the same place.
struct SetRoutes {
  static constexpr std::string_view kName = "route";
  std::optional<RouteSpec> add;
  std::vector<RouteSpec> remove;
  void fields(JsonObject& o) const {
    if (add) o.set("add", add->json());
    JsonDoc list(rapidjson::kArrayType);
    for (const auto& r : remove) list.PushBack(JsonValue(r.json(), list.GetAllocator()), list.GetAllocator());
    o.set("remove", list);
  }
};

struct SetDns {
  static constexpr std::string_view kName = "dns";
  std::string name;
  std::vector<std::string> servers;
  void fields(JsonObject& o) const { o.set("name", name).set("servers", servers); }
};

// The files that keep the configuration for boot.
struct Persist {
  static constexpr std::string_view kName = "persist";
  std::map<std::string, std::string> write;  // in-system path -> content
  std::map<std::string, std::string> links;  // in-system symlink path -> target
  void fields(JsonObject& o) const { o.set("write", write).set("links", links); }
};

using Ops = std::variant<CreateLink, DeleteLink, SetLink, SetBondMode, SetMembers, SetAddresses, SetLinkState,
                         SetDhcp, SetRoutes, SetDns, Persist>;

}  // namespace opdbus::network
