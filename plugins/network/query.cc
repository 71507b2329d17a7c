#include "network/query.h"

#include <algorithm>

namespace opdbus::network {
namespace {

constexpr uint8_t kProtoRedirect = 1, kProtoKernel = 2, kProtoRa = 9, kProtoDhcp = 16;
constexpr uint8_t kUnicast = 1;
constexpr unsigned kScopeLink = 253;
constexpr unsigned kArpEther = 1;

int family_number(int af) {
  return af == 10 ? 6 : 4;
}  // AF_INET6 is 10 on Linux

bool is_default(const sys::RouteInfo& r) {
  return r.destination == "0.0.0.0/0" || r.destination == "::/0";
}

JsonValue strings(const std::vector<std::string>& v, JsonAlloc& a) {
  JsonValue arr(rapidjson::kArrayType);
  for (const auto& s : v) arr.PushBack(str_value(s, a), a);
  return arr;
}

}  // namespace

bool route_is_noise(const sys::RouteInfo& r) {
  if (r.protocol == kProtoKernel || r.protocol == kProtoRedirect || r.protocol == kProtoRa ||
      r.protocol == kProtoDhcp) {
    return true;
  }
  if (r.type != kUnicast || r.table == 255 || r.nexthops > 1) return true;
  if (r.destination.rfind("fe80:", 0) == 0 || r.destination.rfind("ff00:", 0) == 0) return true;
  return false;
}

bool address_is_config(const sys::AddressInfo& a) {
  if (!a.permanent()) return false;
  if (family_number(a.family) == 6 && a.scope == kScopeLink) return false;
  return true;
}

std::string link_type(const sys::LinkInfo& link, const std::optional<std::vector<sys::OvsBridge>>& ovs) {
  const std::string& k = link.kind;
  if (k == "bridge" || k == "veth" || k == "vlan" || k == "bond" || k == "dummy") return k;
  if (k == "openvswitch") {
    if (ovs &&
        std::any_of(ovs->begin(), ovs->end(), [&](const sys::OvsBridge& b) { return b.name == link.name; })) {
      return "ovs-bridge";
    }
    return "";
  }
  if (k.empty() && link.arptype == kArpEther) return "ethernet";
  return "";
}

namespace {

// The steps of section_from_host() below.

using LinkIndex = std::map<int, const sys::LinkInfo*>;

// Routes, VLANs and veths point at links by ifindex; the document names them.
LinkIndex index_links(const std::vector<sys::LinkInfo>& links) {
  LinkIndex by_index;
  for (const auto& l : links) by_index[l.index] = &l;
  return by_index;
}

// "" when no link here has that index.
std::string name_of(const LinkIndex& links, int index) {
  auto it = links.find(index);
  return it == links.end() ? std::string() : it->second->name;
}

struct DefaultGateways {
  std::map<std::string, std::string> by_link;  // link name -> gateway address
  std::vector<bool> consumed;                  // per HostState::routes entry: shown as a "gateway" instead
};

// Default gateways: per link, the first default route with the kernel's default metric (IPv4 before IPv6);
// the others stay in "routes". A link a DHCP client serves gets its gateway from the lease: none is listed.
DefaultGateways default_gateways(const HostState& st, const LinkIndex& links) {
  DefaultGateways out{{}, std::vector<bool>(st.routes.size(), false)};
  for (int fam : {4, 6}) {
    for (size_t i = 0; i < st.routes.size(); ++i) {
      const auto& r = st.routes[i];
      if (route_is_noise(r) || !is_default(r) || r.gateway.empty() || r.table != kMainTable || !r.oif)
        continue;
      if (family_number(r.family) != fam || r.metric != default_metric(fam)) continue;
      std::string dev = name_of(links, r.oif);
      if (dev.empty() || out.by_link.count(dev) || st.dhcp.count(dev)) continue;
      out.by_link[dev] = r.gateway;
      out.consumed[i] = true;
    }
  }
  return out;
}

// Interfaces and the ports of a bridge or bond are listed by name, whatever order the kernel dumped them in.
std::vector<const sys::LinkInfo*> sorted_by_name(const std::vector<sys::LinkInfo>& links) {
  std::vector<const sys::LinkInfo*> out;
  for (const auto& l : links) out.push_back(&l);
  std::sort(out.begin(), out.end(), [](auto* l, auto* r) { return l->name < r->name; });
  return out;
}

std::map<std::string, std::vector<std::string>> ovs_ports_by_bridge(
    const std::optional<std::vector<sys::OvsBridge>>& ovs) {
  std::map<std::string, std::vector<std::string>> ports;
  if (ovs) {
    for (const auto& b : *ovs) ports[b.name] = b.ports;
  }
  return ports;
}

// `show` leaves out the loopback and the OVS datapath: nobody configures them.
bool made_by_kernel_or_ovs(const sys::LinkInfo& l) {
  return l.name == "lo" || (l.kind == "openvswitch" && l.name == "ovs-system");
}

// The fields every link has: type, state, mtu, mac, comment.
JsonValue link_json(const sys::LinkInfo& l, const std::string& type, bool show, JsonAlloc& a) {
  JsonValue o(rapidjson::kObjectType);
  if (!type.empty()) o.AddMember("type", str_value(type, a), a);
  o.AddMember("state", rapidjson::StringRef(l.up ? "up" : "down"), a);
  o.AddMember("mtu", static_cast<int64_t>(l.mtu), a);
  // The kernel derives these links' MAC from their ports or parent: `show` does not pin it.
  bool derived_mac = type == "bridge" || type == "bond" || type == "vlan" || type == "ovs-bridge";
  if (!l.mac.empty() && !(show && derived_mac)) o.AddMember("mac", str_value(l.mac, a), a);
  if (!l.alias.empty()) o.AddMember("comment", str_value(l.alias, a), a);
  return o;
}

// The links enslaved to `master`, in `links`' order.
std::vector<std::string> members_of(const sys::LinkInfo& master,
                                    const std::vector<const sys::LinkInfo*>& links) {
  std::vector<std::string> members;
  for (const auto* m : links) {
    if (m->master == master.index) members.push_back(m->name);
  }
  return members;
}

// The fields only one kind of link has: a bridge's ports and options, a VLAN's id and parent, a veth's peer.
// (A bond's slaves and mode go under "bonds": see bond_json.)
void add_kind_fields(JsonValue& o, const sys::LinkInfo& l, const std::string& type,
                     const std::vector<const sys::LinkInfo*>& links, const LinkIndex& by_index,
                     const std::map<std::string, std::vector<std::string>>& ovs_ports, JsonAlloc& a) {
  if (type == "bridge") {
    o.AddMember("bridge_ports", strings(members_of(l, links), a), a);
    JsonValue opts(rapidjson::kObjectType);
    if (l.stp_state) opts.AddMember("stp", *l.stp_state != 0, a);
    if (l.vlan_filtering) opts.AddMember("vlan_filtering", *l.vlan_filtering != 0, a);
    if (opts.MemberCount()) o.AddMember("bridge_options", opts, a);
  } else if (type == "ovs-bridge") {
    static const std::vector<std::string> kNoPorts;
    auto ports = ovs_ports.find(l.name);
    o.AddMember("bridge_ports", strings(ports == ovs_ports.end() ? kNoPorts : ports->second, a), a);
  } else if (type == "vlan") {
    if (l.vlan_id) o.AddMember("id", static_cast<int64_t>(*l.vlan_id), a);
    // A parent in another namespace has an index that means nothing here.
    std::string parent = l.link_elsewhere ? "" : name_of(by_index, l.link);
    if (!parent.empty()) o.AddMember("parent", str_value(parent, a), a);
  } else if (type == "veth") {
    std::string peer = l.link_elsewhere ? "" : name_of(by_index, l.link);
    if (!peer.empty()) o.AddMember("peer", str_value(peer, a), a);
  }
}

// A bond's entry under "bonds": its slaves and mode.
JsonValue bond_json(const sys::LinkInfo& l, const std::vector<const sys::LinkInfo*>& links, JsonAlloc& a) {
  JsonValue b(rapidjson::kObjectType);
  b.AddMember("slaves", strings(members_of(l, links), a), a);
  if (l.bond_mode) b.AddMember("mode", str_value(sys::bond_mode_name(*l.bond_mode), a), a);
  return b;
}

// dhcp, address(es), gateway, dns. A link a DHCP client serves lists no addresses: the lease owns them.
void add_addressing(JsonValue& o, const sys::LinkInfo& l, const HostState& st,
                    const std::map<std::string, std::string>& gateways, bool show, JsonAlloc& a) {
  bool dhcp = st.dhcp.count(l.name) > 0;
  if (dhcp) o.AddMember("dhcp", true, a);
  std::vector<std::string> addrs;
  if (!dhcp) {
    for (const auto& ad : st.addresses) {
      if (ad.index != l.index || !address_is_config(ad)) continue;
      if (auto c = canonical_cidr(ad.address)) addrs.push_back(*c);
    }
  }
  if (addrs.size() == 1)
    o.AddMember("address", str_value(addrs[0], a), a);
  else if (!addrs.empty() || !show)
    o.AddMember("addresses", strings(addrs, a), a);
  if (auto g = gateways.find(l.name); g != gateways.end()) o.AddMember("gateway", str_value(g->second, a), a);
  if (auto d = st.dns.find(l.name); d != st.dns.end() && !d->second.empty()) {
    o.AddMember("dns", strings(d->second, a), a);
  }
}

// The routes "routes" lists, in a stable order: not noise, not already a link's "gateway", not a DHCP
// client's (its lease owns them), and in `show` not the loopback's.
std::vector<const sys::RouteInfo*> listed_routes(const HostState& st, const LinkIndex& links,
                                                 const std::vector<bool>& consumed, bool show) {
  std::vector<const sys::RouteInfo*> routes;
  for (size_t i = 0; i < st.routes.size(); ++i) {
    const auto& r = st.routes[i];
    if (consumed[i] || route_is_noise(r)) continue;
    std::string dev = name_of(links, r.oif);
    if (!dev.empty() && st.dhcp.count(dev)) continue;
    if (show && dev == "lo") continue;
    routes.push_back(&r);
  }
  std::sort(routes.begin(), routes.end(), [](auto* l, auto* r) {
    return std::tie(l->table, l->family, l->destination, l->metric, l->gateway, l->oif) <
           std::tie(r->table, r->family, r->destination, r->metric, r->gateway, r->oif);
  });
  return routes;
}

// One route in the document's words; the kernel's default metric and the main table go unsaid.
JsonValue route_json(const sys::RouteInfo& r, const LinkIndex& links, JsonAlloc& a) {
  int fam = family_number(r.family);
  JsonValue o(rapidjson::kObjectType);
  std::string dst = r.destination == "0.0.0.0/0" ? "default" : r.destination;
  o.AddMember("destination", str_value(dst, a), a);
  if (!r.gateway.empty()) o.AddMember("gateway", str_value(r.gateway, a), a);
  std::string dev = name_of(links, r.oif);
  if (!dev.empty()) o.AddMember("device", str_value(dev, a), a);
  if (static_cast<int64_t>(r.metric) != default_metric(fam))
    o.AddMember("metric", static_cast<int64_t>(r.metric), a);
  if (r.table != kMainTable) o.AddMember("table", static_cast<int64_t>(r.table), a);
  return o;
}

JsonValue routes_json(const std::vector<const sys::RouteInfo*>& routes, const LinkIndex& links,
                      JsonAlloc& a) {
  JsonValue list(rapidjson::kArrayType);
  for (const auto* r : routes) list.PushBack(route_json(*r, links, a), a);
  return list;
}

}  // namespace

JsonDoc section_from_host(const HostState& st, bool show) {
  JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  const LinkIndex by_index = index_links(st.links);
  const DefaultGateways gateways = default_gateways(st, by_index);
  const std::vector<const sys::LinkInfo*> links = sorted_by_name(st.links);
  const auto ovs_ports = ovs_ports_by_bridge(st.ovs);

  JsonValue interfaces(rapidjson::kObjectType);
  JsonValue bonds(rapidjson::kObjectType);
  for (const auto* l : links) {
    if (show && made_by_kernel_or_ovs(*l)) continue;
    const std::string type = link_type(*l, st.ovs);
    JsonValue o = link_json(*l, type, show, a);
    add_kind_fields(o, *l, type, links, by_index, ovs_ports, a);
    add_addressing(o, *l, st, gateways.by_link, show, a);
    interfaces.AddMember(str_value(l->name, a), o, a);
    if (type == "bond") bonds.AddMember(str_value(l->name, a), bond_json(*l, links, a), a);
  }
  doc.AddMember("interfaces", interfaces, a);
  if (bonds.MemberCount() || !show) doc.AddMember("bonds", bonds, a);

  JsonValue routes = routes_json(listed_routes(st, by_index, gateways.consumed, show), by_index, a);
  if (!routes.Empty() || !show) doc.AddMember("routes", routes, a);
  // A snapshot of everything, including links other tools made: applying it must not write it into the
  // boot configuration unless the operator says so.
  if (show) doc.AddMember("persist", false, a);
  return doc;
}

JsonDoc section_as_applied(const JsonValue& desired) {
  JsonDoc out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  Section s = parse_section(desired);
  for (const char* key : {"interfaces", "bonds"}) {
    JsonValue obj(rapidjson::kObjectType);
    if (const JsonValue* in = member(desired, key); in && in->IsObject()) {
      for (const auto& m : in->GetObject()) {
        std::string name(m.name.GetString(), m.name.GetStringLength());
        std::string state = desired_state(s, name);
        if (state == "absent") continue;
        JsonValue copy(m.value, a);
        if (std::string_view(key) == "interfaces") {
          copy.RemoveMember("mode");
          copy.RemoveMember("state");
          copy.AddMember("state", str_value(state, a), a);
        }
        obj.AddMember(str_value(name, a), copy, a);
      }
    }
    out.AddMember(rapidjson::StringRef(key), obj, a);
  }
  // Bonds named only under "bonds" have their state under "interfaces" in the host's shape.
  for (const auto& [name, b] : s.bonds) {
    if (desired_state(s, name) == "absent" || out["interfaces"].HasMember(name.c_str())) continue;
    JsonValue o(rapidjson::kObjectType);
    o.AddMember("type", "bond", a);
    o.AddMember("state", str_value(desired_state(s, name), a), a);
    out["interfaces"].AddMember(str_value(name, a), o, a);
  }
  JsonValue routes(rapidjson::kArrayType);
  if (const JsonValue* in = member(desired, "routes"); in && in->IsArray()) {
    for (const auto& r : in->GetArray()) {
      if (get_string(r, "state") == "absent") continue;
      JsonValue copy(r, a);
      copy.RemoveMember("mode");
      copy.RemoveMember("state");
      routes.PushBack(copy, a);
    }
  }
  out.AddMember("routes", routes, a);
  return out;
}

void defer_links(JsonDoc& current, const JsonValue& desired, const std::set<std::string>& names) {
  auto& a = current.GetAllocator();
  JsonDoc applied = section_as_applied(desired);
  if (!current.HasMember("interfaces")) current.AddMember("interfaces", JsonValue(rapidjson::kObjectType), a);
  if (!current.HasMember("routes")) current.AddMember("routes", JsonValue(rapidjson::kArrayType), a);
  for (const auto& name : names) {
    const JsonValue* want = member(applied["interfaces"], name);
    if (!want) continue;
    current["interfaces"].RemoveMember(name.c_str());
    current["interfaces"].AddMember(str_value(name, a), JsonValue(*want, a), a);
  }
  for (const auto& r : applied["routes"].GetArray()) {
    if (names.count(get_string(r, "device"))) current["routes"].PushBack(JsonValue(r, a), a);
  }
}

JsonValue persisted_json(const Persisted& p, JsonAlloc& a) {
  JsonValue o(rapidjson::kObjectType);
  if (p.document) o.AddMember("document", str_value(*p.document, a), a);
  if (p.interfaces) o.AddMember("interfaces", str_value(*p.interfaces, a), a);
  o.AddMember("ifupdown", p.ifupdown, a);
  JsonValue units(rapidjson::kObjectType);
  for (const auto& [name, f] : p.units) {
    JsonValue u(rapidjson::kObjectType);
    if (f.file) u.AddMember("file", str_value(*f.file, a), a);
    if (f.shipped) u.AddMember("shipped", str_value(*f.shipped, a), a);
    if (f.link) u.AddMember("link", str_value(*f.link, a), a);
    units.AddMember(str_value(name, a), u, a);
  }
  o.AddMember("units", units, a);
  return o;
}

}  // namespace opdbus::network
