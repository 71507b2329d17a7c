#include <algorithm>
#include <set>

#include "error.h"
#include "network/apply.h"
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

// The route an operation describes, with its device resolved to an index.
sys::RouteInfo route_from(const RouteSpec& r, const std::vector<sys::LinkInfo>& links) {
  sys::RouteInfo out;
  out.family = r.family == 6 ? kAfInet6 : kAfInet;
  out.destination = r.destination;
  out.gateway = r.gateway.value_or("");
  if (r.device) out.oif = need_link(links, *r.device, "route device").index;
  out.metric = static_cast<uint32_t>(r.metric);
  out.table = static_cast<uint32_t>(r.table);
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

void run(Backend& b, const CreateLink& op) {
  const auto& links = b.links();
  if (const sys::LinkInfo* l = find_link(links, op.name)) {
    // Made a moment ago as the other end of a veth pair, or by an earlier run that stopped half-way.
    if (op.kind == "ovs-bridge" || l->kind == op.kind) return;
    throw Error(ErrorKind::BackendError,
                op.name + " exists already as " + (l->kind.empty() ? "hardware" : l->kind));
  }
  if (op.kind == "ovs-bridge") {
    b.ovs_add_bridge(op.name);
    return;
  }
  sys::LinkSpec spec;
  spec.name = op.name;
  spec.kind = op.kind;
  if (op.kind == "vlan") {
    spec.parent = need_link(links, op.parent, "VLAN parent").index;
    spec.vlan_id = static_cast<uint16_t>(op.vlan_id);
  } else if (op.kind == "veth") {
    spec.peer = op.peer;
  } else if (op.kind == "bond") {
    if (!op.bond_mode.empty()) spec.bond_mode = sys::bond_mode_number(op.bond_mode);
  } else if (op.kind == "bridge") {
    // Only what differs from a new bridge's defaults (both off) is sent: a kernel built without VLAN
    // filtering refuses the option even when it asks for "off".
    if (op.stp) spec.stp_state = 1;
    if (op.vlan_filtering) spec.vlan_filtering = 1;
  }
  b.create_link(spec);
}

void run(Backend& b, const DeleteLink& op) {
  if (op.kind == "ovs-bridge") {
    b.ovs_delete_bridge(op.name);
    return;
  }
  if (const sys::LinkInfo* l = find_link(b.links(), op.name)) b.delete_link(l->index);
}

void run(Backend& b, const SetLink& op) {
  const sys::LinkInfo& l = need_link(b.links(), op.name);
  sys::LinkChange c;
  if (op.mtu) c.mtu = static_cast<uint32_t>(*op.mtu);
  if (op.mac) c.mac = *op.mac;
  if (op.alias) c.alias = *op.alias;
  if (op.stp) c.stp_state = *op.stp ? 1 : 0;
  if (op.vlan_filtering) c.vlan_filtering = *op.vlan_filtering ? 1 : 0;
  b.change_link(l.index, c);
}

void run(Backend& b, const SetBondMode& op) {
  set_bond_mode(b, op.name, op.mode);
}
void run(Backend& b, const SetMembers& op) {
  set_members(b, op.master, op.kind, op.add, op.remove);
}
void run(Backend& b, const SetAddresses& op) {
  set_addresses(b, op.name, op.want);
}

void run(Backend& b, const SetLinkState& op) {
  const sys::LinkInfo& l = need_link(b.links(), op.name);
  if (l.up != op.up) b.change_link(l.index, set_up(op.up));
}

void run(Backend& b, const SetDhcp& op) {
  b.set_dhcp(op.name, op.enable);
}

void run(Backend& b, const SetRoutes& op) {
  std::optional<sys::RouteInfo> added;
  if (op.add) {
    added = route_from(*op.add, b.links());
    b.add_route(*added, true);
  }
  const HostState& st = b.host(false);
  std::vector<sys::RouteInfo> gone;
  for (const auto& r : op.remove) {
    sys::RouteInfo want;
    try {
      want = route_from(r, st.links);
    } catch (const Error&) {
      continue;  // its device is gone, and the route with it
    }
    if (added && same_route(*added, want)) continue;
    if (auto have = installed(st.routes, want)) gone.push_back(*have);
  }
  for (const auto& r : gone) b.delete_route(r);
}

void run(Backend& b, const SetDns& op) {
  b.set_dns(op.name, need_link(b.links(), op.name).index, op.servers);
}

void run(Backend& b, const Persist& op) {
  for (const auto& [path, content] : op.write) b.write_file(path, content);
  for (const auto& [path, target] : op.links) b.make_link(path, target);
}

}  // namespace

// The kernel changes a bond's mode only while it is down and has no slaves: take them out, change it, put
// them back, and restore the state it had.
void set_bond_mode(Backend& b, const std::string& name, const std::string& mode) {
  auto number = sys::bond_mode_number(mode);
  if (!number) throw Error(ErrorKind::InvalidArgument, "unknown bonding mode " + mode);
  auto links = b.links();
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
void set_members(Backend& b, const std::string& master, const std::string& kind,
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
    auto links = b.links();
    for (const auto& a : to_add) {
      if (const sys::LinkInfo* l = find_link(links, a); l && !l->up) b.change_link(l->index, set_up(true));
    }
    return;
  }
  auto links = b.links();
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
void set_addresses(Backend& b, const std::string& name, const std::vector<std::string>& want) {
  auto have_now = [&](const std::vector<sys::AddressInfo>& addresses, int index) {
    std::vector<std::string> out;
    for (const auto& a : addresses) {
      if (a.index != index || !address_is_config(a)) continue;
      if (auto c = canonical_cidr(a.address)) out.push_back(*c);
    }
    return out;
  };
  const int index = need_link(b.links(), name).index;
  auto have = have_now(b.addresses(), index);
  bool removed = false;
  for (const auto& a : want) {
    if (std::find(have.begin(), have.end(), a) == have.end()) b.add_address(index, a);
  }
  for (const auto& a : have) {
    if (std::find(want.begin(), want.end(), a) == want.end()) b.delete_address(index, a), removed = true;
  }
  if (!removed) return;
  have = have_now(b.addresses(), index);
  for (const auto& a : want) {
    if (std::find(have.begin(), have.end(), a) == have.end()) b.add_address(index, a);
  }
}

void apply_op(Backend& b, const Ops& op) {
  std::visit([&](const auto& o) { run(b, o); }, op);
}

void apply_action(Backend& b, const Action& action) {
  apply_op(b, operation_of<Ops>(action.operation, action.resource()));
}

}  // namespace opdbus::network
