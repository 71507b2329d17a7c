#include <algorithm>
#include <set>

#include "error.h"
#include "network/model.h"
#include "network/ops.h"
#include "network/persist.h"

namespace opdbus::network {
namespace {

constexpr int kAfInet = 2, kAfInet6 = 10;
constexpr uint8_t kProtoStatic = 4, kScopeUniverse = 0, kScopeLink = 253, kUnicast = 1;

const sys::LinkInfo* find_link(const std::vector<sys::LinkInfo>& links, const std::string& name) {
  for (const auto& l : links) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

const sys::LinkInfo& need_link(const std::vector<sys::LinkInfo>& links, const std::string& name,
                               const std::string& role = "") {
  const sys::LinkInfo* l = find_link(links, name);
  if (!l)
    throw Error(ErrorKind::BackendError, (role.empty() ? "" : role + " ") + name + ": no such interface");
  return *l;
}

// The route a payload describes, with its device resolved to an index.
sys::RouteInfo route_from(const JsonValue& r, const std::vector<sys::LinkInfo>& links) {
  sys::RouteInfo out;
  out.family = get_int(r, "family", 4) == 6 ? kAfInet6 : kAfInet;
  out.destination = get_string(r, "destination");
  out.gateway = get_string(r, "gateway");
  std::string dev = get_string(r, "device");
  if (!dev.empty()) out.oif = need_link(links, dev, "route device").index;
  out.metric = static_cast<uint32_t>(get_int(r, "metric"));
  out.table = static_cast<uint32_t>(get_int(r, "table", kMainTable));
  out.protocol = kProtoStatic;
  out.type = kUnicast;
  out.scope = out.gateway.empty() && out.family == kAfInet ? kScopeLink : kScopeUniverse;
  return out;
}

bool same_route(const sys::RouteInfo& a, const sys::RouteInfo& b) {
  return a.family == b.family && a.destination == b.destination && a.table == b.table &&
         a.metric == b.metric && a.gateway == b.gateway && (b.oif == 0 || a.oif == b.oif);
}

// The route as the kernel has it (so a delete names exactly that one), if it is there.
std::optional<sys::RouteInfo> installed(const std::vector<sys::RouteInfo>& routes,
                                        const sys::RouteInfo& want) {
  for (const auto& r : routes) {
    if (same_route(r, want)) return r;
  }
  return std::nullopt;
}

void create(NetworkBackend& b, const JsonValue& p) {
  const std::string name = get_string(p, "name");
  const std::string kind = get_string(p, "kind");
  auto links = b.host(false).links;
  if (const sys::LinkInfo* l = find_link(links, name)) {
    // Made a moment ago as the other end of a veth pair, or by an earlier run that stopped half-way.
    if (kind == "ovs-bridge" || l->kind == kind) return;
    throw Error(ErrorKind::BackendError,
                name + " exists already as " + (l->kind.empty() ? "hardware" : l->kind));
  }
  if (kind == "ovs-bridge") {
    b.ovs_add_bridge(name);
    return;
  }
  sys::LinkSpec spec;
  spec.name = name;
  spec.kind = kind;
  if (kind == "vlan") {
    std::string parent = get_string(p, "parent");
    spec.parent = need_link(links, parent, "VLAN parent").index;
    spec.vlan_id = static_cast<uint16_t>(get_int(p, "vlan_id"));
  } else if (kind == "veth") {
    spec.peer = get_string(p, "peer");
    if (spec.peer.empty()) throw Error(ErrorKind::InvalidArgument, "veth " + name + " needs a \"peer\" name");
  } else if (kind == "bond") {
    std::string mode = get_string(p, "bond_mode");
    if (!mode.empty()) {
      spec.bond_mode = sys::bond_mode_number(mode);
      if (!spec.bond_mode) throw Error(ErrorKind::InvalidArgument, "unknown bonding mode " + mode);
    }
  } else if (kind == "bridge") {
    // Only what differs from a new bridge's defaults (both off) is sent: a kernel built without VLAN
    // filtering refuses the option even when it asks for "off".
    if (get_bool(p, "stp")) spec.stp_state = 1;
    if (get_bool(p, "vlan_filtering")) spec.vlan_filtering = 1;
  }
  b.create_link(spec);
}

void remove_link(NetworkBackend& b, const JsonValue& p) {
  const std::string name = get_string(p, "name");
  bool ovs_bridge = get_string(p, "kind") == "ovs-bridge";
  HostState st = b.host(ovs_bridge);
  if (ovs_bridge) {
    b.ovs_delete_bridge(name);
    return;
  }
  if (const sys::LinkInfo* l = find_link(st.links, name)) b.delete_link(l->index);
}

void settings(NetworkBackend& b, const JsonValue& p) {
  const std::string name = get_string(p, "name");
  auto links = b.host(false).links;
  const sys::LinkInfo& l = need_link(links, name);
  sys::LinkChange c;
  if (const JsonValue* v = member(p, "mtu")) c.mtu = static_cast<uint32_t>(v->GetInt64());
  if (const JsonValue* v = member(p, "mac")) c.mac = v->GetString();
  if (const JsonValue* v = member(p, "alias")) c.alias = v->GetString();
  if (const JsonValue* v = member(p, "stp")) c.stp_state = v->GetBool() ? 1 : 0;
  if (const JsonValue* v = member(p, "vlan_filtering")) c.vlan_filtering = v->GetBool() ? 1 : 0;
  b.change_link(l.index, c);
}

}  // namespace

// The kernel changes a bond's mode only while it is down and has no slaves: take them out, change it, put
// them back, and restore the state it had.
void set_bond_mode(NetworkBackend& b, const std::string& name, const std::string& mode) {
  auto number = sys::bond_mode_number(mode);
  if (!number) throw Error(ErrorKind::InvalidArgument, "unknown bonding mode " + mode);
  auto links = b.host(false).links;
  const sys::LinkInfo bond = need_link(links, name);
  if (bond.bond_mode == number) return;
  std::vector<int> slaves;
  for (const auto& l : links) {
    if (l.master == bond.index) slaves.push_back(l.index);
  }
  if (bond.up) b.change_link(bond.index, set_up(false));
  for (int s : slaves) b.change_link(s, set_master(0));
  sys::LinkChange c;
  c.bond_mode = *number;
  b.change_link(bond.index, c);
  for (int s : slaves) {
    b.change_link(s, set_up(false));
    b.change_link(s, set_master(bond.index));
  }
  if (bond.up) b.change_link(bond.index, set_up(true));
}

// Enslaves `add` to `master` and releases `remove` from it.
void set_members(NetworkBackend& b, const std::string& master, const std::string& kind,
                 const std::vector<std::string>& add, const std::vector<std::string>& remove) {
  if (kind == "ovs-bridge") {
    auto st = b.host(true);
    std::vector<std::string> have;
    if (st.ovs) {
      for (const auto& br : *st.ovs) {
        if (br.name == master) have = br.ports;
      }
    }
    std::vector<std::string> to_add, to_remove;
    for (const auto& a : add) {
      need_link(st.links, a, "port");
      if (std::find(have.begin(), have.end(), a) == have.end()) to_add.push_back(a);
    }
    for (const auto& r : remove) {
      if (std::find(have.begin(), have.end(), r) != have.end()) to_remove.push_back(r);
    }
    b.ovs_set_ports(master, to_add, to_remove);
    auto links = b.host(false).links;
    for (const auto& a : to_add) {
      if (const sys::LinkInfo* l = find_link(links, a); l && !l->up) b.change_link(l->index, set_up(true));
    }
    return;
  }
  auto links = b.host(false).links;
  const sys::LinkInfo& m = need_link(links, master, kind);
  for (const auto& r : remove) {
    const sys::LinkInfo* l = find_link(links, r);
    if (l && l->master == m.index) b.change_link(l->index, set_master(0));
  }
  for (const auto& a : add) {
    const sys::LinkInfo& l = need_link(links, a, kind == "bond" ? "slave" : "port");
    if (l.master == m.index) continue;
    // The bonding driver refuses slaves that are up.
    if (kind == "bond" && l.up) b.change_link(l.index, set_up(false));
    b.change_link(l.index, set_master(m.index));
    // A port that is down forwards nothing: members named by the document are brought up with it. A VLAN
    // whose parent is still down cannot come up yet; the up/down step that follows takes care of it then.
    try {
      b.change_link(l.index, set_up(true));
    } catch (const Error&) {
    }
  }
}

// Makes the link's configured addresses exactly `want`: new ones first (no moment without an address), then
// the old ones go; removing a primary IPv4 address can take its secondaries with it, so missing ones are
// re-added.
void set_addresses(NetworkBackend& b, const std::string& name, const std::vector<std::string>& want) {
  auto have_now = [&](const HostState& st, int index) {
    std::vector<std::string> out;
    for (const auto& a : st.addresses) {
      if (a.index != index || !address_is_config(a)) continue;
      if (auto c = canonical_cidr(a.address)) out.push_back(*c);
    }
    return out;
  };
  HostState st = b.host(false);
  const sys::LinkInfo l = need_link(st.links, name);
  auto have = have_now(st, l.index);
  for (const auto& a : want) {
    if (std::find(have.begin(), have.end(), a) == have.end()) b.add_address(l.index, a);
  }
  for (const auto& a : have) {
    if (std::find(want.begin(), want.end(), a) == want.end()) b.delete_address(l.index, a);
  }
  st = b.host(false);
  have = have_now(st, l.index);
  for (const auto& a : want) {
    if (std::find(have.begin(), have.end(), a) == have.end()) b.add_address(l.index, a);
  }
}

void apply_action(NetworkBackend& b, const Action& action) {
  JsonDoc p = parse_json(action.payload);
  const std::string op = get_string(p, "op");
  if (op == "missing") {
    throw Error(ErrorKind::BackendError,
                "interface " + get_string(p, "name") + " not found: " + get_string(p, "reason"));
  } else if (op == "create") {
    create(b, p);
  } else if (op == "delete") {
    remove_link(b, p);
  } else if (op == "set") {
    settings(b, p);
  } else if (op == "bond-mode") {
    set_bond_mode(b, get_string(p, "name"), get_string(p, "mode"));
  } else if (op == "members") {
    set_members(b, get_string(p, "master"), get_string(p, "kind"), get_strings(p, "add"),
                get_strings(p, "remove"));
  } else if (op == "addresses") {
    set_addresses(b, get_string(p, "name"), get_strings(p, "want"));
  } else if (op == "state") {
    auto links = b.host(false).links;
    const sys::LinkInfo& l = need_link(links, get_string(p, "name"));
    bool up = get_bool(p, "up");
    if (l.up != up) b.change_link(l.index, set_up(up));
  } else if (op == "dhcp") {
    b.set_dhcp(get_string(p, "name"), get_bool(p, "enable"));
  } else if (op == "route") {
    HostState st = b.host(false);
    std::optional<sys::RouteInfo> added;
    if (const JsonValue* add = member(p, "add")) {
      added = route_from(*add, st.links);
      b.add_route(*added, true);
      st = b.host(false);
    }
    if (const JsonValue* rm = member(p, "remove"); rm && rm->IsArray()) {
      for (const auto& r : rm->GetArray()) {
        sys::RouteInfo want;
        try {
          want = route_from(r, st.links);
        } catch (const Error&) {
          continue;  // its device is gone, and the route with it
        }
        if (added && same_route(*added, want)) continue;
        if (auto have = installed(st.routes, want)) b.delete_route(*have);
      }
    }
  } else if (op == "dns") {
    const std::string name = get_string(p, "name");
    auto links = b.host(false).links;
    b.set_dns(name, need_link(links, name).index, get_strings(p, "servers"));
  } else if (op == "persist") {
    if (const JsonValue* w = member(p, "write")) {
      for (const auto& f : w->GetObject()) b.write_file(f.name.GetString(), f.value.GetString());
    }
    if (const JsonValue* l = member(p, "links")) {
      for (const auto& f : l->GetObject()) b.make_link(f.name.GetString(), f.value.GetString());
    }
  } else {
    throw Error(ErrorKind::Bug, "unknown network action payload op '" + op + "'");
  }
}

}  // namespace opdbus::network
