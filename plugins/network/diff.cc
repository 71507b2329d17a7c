#include "network/diff.h"

#include <algorithm>
#include <functional>
#include <set>

#include "error.h"
#include "network/model.h"
#include "network/ops.h"
#include "network/persist.h"
#include "text.h"

namespace opdbus::network {
namespace {

using Item = std::vector<std::string>;

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string bool_text(bool b) {
  return b ? "true" : "false";
}

// Kinds the kernel (or OVS) can create; "ethernet" names hardware that must already exist.
bool creatable(const std::string& type) {
  return type == "bridge" || type == "vlan" || type == "bond" || type == "dummy" || type == "veth" ||
         type == "ovs-bridge";
}

std::string route_text(const Route& r) {
  std::string s = r.destination == "0.0.0.0/0" || r.destination == "::/0" ? "default" : r.destination;
  if (r.family == 6 && s == "default") s = "default (IPv6)";
  if (r.gateway) s += " via " + *r.gateway;
  if (r.device) s += " dev " + *r.device;
  if (r.metric) s += " metric " + std::to_string(*r.metric);
  if (r.table != kMainTable) s += " table " + std::to_string(r.table);
  return s;
}

// The route as apply() sends it.
RouteSpec route_spec(const Route& r) {
  RouteSpec s;
  s.family = r.family;
  s.destination = r.destination;
  s.gateway = r.gateway;
  s.device = r.device;
  s.metric = r.metric ? *r.metric : default_metric(r.family);
  s.table = r.table;
  return s;
}

class Differ {
 public:
  Differ(const JsonValue& desired_json, const JsonValue& current_json)
      : desired_json_(desired_json),
        d_(parse_section(desired_json)),
        c_(parse_section(current_json)),
        links_known_(member(current_json, "interfaces") != nullptr) {}

  std::vector<Action> run() {
    compute_depths();
    for (const auto& name : desired_links()) link(name);
    routes();
    persist();
    return std::move(out_);
  }

 private:
  // --- what exists
  // ---------------------------------------------------------------------------------------------

  std::set<std::string> desired_links() const {
    std::set<std::string> names;
    for (const auto& [n, i] : d_.interfaces) names.insert(n);
    for (const auto& [n, b] : d_.bonds) names.insert(n);
    return names;
  }

  const Iface* cur(const std::string& name) const {
    auto it = c_.interfaces.find(name);
    return it == c_.interfaces.end() ? nullptr : &it->second;
  }
  const Bond* cur_bond(const std::string& name) const {
    auto it = c_.bonds.find(name);
    return it == c_.bonds.end() ? nullptr : &it->second;
  }
  bool exists(const std::string& name) const { return cur(name) || cur_bond(name); }
  // Exists now or is made by this plan.
  bool will_exist(const std::string& name) const {
    if (d_.interfaces.count(name) || d_.bonds.count(name)) {
      return desired_state(d_, name) != "absent" && (exists(name) || creatable(want_type(name)));
    }
    return exists(name);
  }
  // "mode": "observe" on the section or on the item: drift is reported, nothing is applied.
  bool observed(const Item& item) const {
    if (get_string(desired_json_, "mode") == "observe") return true;
    const JsonValue* v = &desired_json_;
    for (const auto& t : item) {
      v = v->IsObject() ? member(*v, t) : nullptr;
      if (!v) return false;
      if (v->IsObject() && get_string(*v, "mode") == "observe") return true;
    }
    return false;
  }
  // What can never be carried out is an error naming the item (the engine reports it as a plan error) --
  // unless it is only reported: where the item is observed, or where `current` does not describe the host's
  // links at all (a saved document without a network section, as `plan --current` may get). Such an action
  // carries no operation: nothing applies it.
  void unreachable(const Item& item, Op op, int order, std::string summary, std::vector<Change> changes,
                   const std::string& why) {
    if (!observed(item) && links_known_) {
      throw Error(ErrorKind::InvalidArgument, "network/" + join(item, "/") + ": " + summary + ": " + why);
    }
    Action a;
    a.plugin = "network";
    a.item = item;
    a.op = op;
    a.order = order;
    a.summary = std::move(summary);
    a.changes = std::move(changes);
    out_.push_back(std::move(a));
  }
  std::string cur_type(const std::string& name) const {
    if (const Iface* i = cur(name); i && !i->type.empty()) return i->type;
    if (cur_bond(name)) return "bond";
    return "";
  }
  std::string cur_state(const std::string& name) const {
    const Iface* i = cur(name);
    return i && !i->state.empty() ? i->state : "down";
  }

  std::string want_type(const std::string& name) const {
    auto it = d_.interfaces.find(name);
    if (it != d_.interfaces.end() && !it->second.type.empty()) return it->second.type;
    if (d_.bonds.count(name)) return "bond";
    return "";
  }
  Item item_of(const std::string& name) const {
    if (d_.bonds.count(name) && !d_.interfaces.count(name)) return {"bonds", name};
    return {"interfaces", name};
  }

  // --- ordering
  // ------------------------------------------------------------------------------------------------

  // What a link is built on: its VLAN parent, its bridge ports or bond slaves. Desired facts win over
  // current.
  std::vector<std::string> lower_links(const std::string& name) const {
    std::vector<std::string> out;
    const Iface* di = nullptr;
    if (auto it = d_.interfaces.find(name); it != d_.interfaces.end()) di = &it->second;
    const Iface* ci = cur(name);
    if (di && di->parent)
      out.push_back(*di->parent);
    else if (ci && ci->parent)
      out.push_back(*ci->parent);
    if (di && di->ports)
      out.insert(out.end(), di->ports->begin(), di->ports->end());
    else if (ci && ci->ports)
      out.insert(out.end(), ci->ports->begin(), ci->ports->end());
    auto db = d_.bonds.find(name);
    const Bond* cb = cur_bond(name);
    if (db != d_.bonds.end() && db->second.slaves) {
      out.insert(out.end(), db->second.slaves->begin(), db->second.slaves->end());
    } else if (cb && cb->slaves) {
      out.insert(out.end(), cb->slaves->begin(), cb->slaves->end());
    }
    return out;
  }

  void compute_depths() {
    std::set<std::string> names = desired_links();
    for (const auto& [n, i] : c_.interfaces) names.insert(n);
    std::set<std::string> visiting;
    std::function<int(const std::string&)> visit = [&](const std::string& n) -> int {
      if (auto it = depth_.find(n); it != depth_.end()) return it->second;
      if (!visiting.insert(n).second) return 0;  // a cycle; check() reports it
      int d = 0;
      for (const auto& low : lower_links(n)) d = std::max(d, visit(low) + 1);
      visiting.erase(n);
      d = std::min(d, kMaxDepth);
      depth_[n] = d;
      return d;
    };
    for (const auto& n : names) visit(n);
  }
  int depth(const std::string& name) const {
    auto it = depth_.find(name);
    return it == depth_.end() ? 0 : it->second;
  }

  // --- actions
  // -------------------------------------------------------------------------------------------------

  void add(Item item, Op op, int order, std::string summary, std::vector<Change> changes, Ops operation,
           bool destructive = false) {
    Action a;
    a.plugin = "network";
    a.item = std::move(item);
    a.op = op;
    a.order = order;
    a.summary = std::move(summary);
    a.changes = std::move(changes);
    a.operation = std::visit([](auto o) { return make_operation<Ops>(std::move(o)); }, std::move(operation));
    a.destructive = destructive;
    out_.push_back(std::move(a));
  }

  // Why the existing link must be deleted and made again (its kind or identity differs), as a change.
  std::optional<Change> replace_reason(const std::string& name, const std::string& type) const {
    if (!exists(name) || !creatable(type)) return std::nullopt;
    std::string have = cur_type(name);
    if (have != type)
      return Change{"type", have.empty() ? std::nullopt : std::optional(json_quoted(have)),
                    json_quoted(type)};
    const Iface* ci = cur(name);
    auto di = d_.interfaces.find(name);
    if (!ci || di == d_.interfaces.end()) return std::nullopt;
    const Iface& w = di->second;
    if (type == "vlan") {
      if (w.vlan_id && ci->vlan_id && *w.vlan_id != *ci->vlan_id) {
        return Change{"id", std::to_string(*ci->vlan_id), std::to_string(*w.vlan_id)};
      }
      if (w.parent && ci->parent && *w.parent != *ci->parent) {
        return Change{"parent", json_quoted(*ci->parent), json_quoted(*w.parent)};
      }
    }
    if (type == "veth" && w.peer && ci->peer && *w.peer != *ci->peer) {
      return Change{"peer", json_quoted(*ci->peer), json_quoted(*w.peer)};
    }
    return std::nullopt;
  }

  void link(const std::string& name) {
    const Iface* want = nullptr;
    if (auto it = d_.interfaces.find(name); it != d_.interfaces.end()) want = &it->second;
    const Bond* want_bond = nullptr;
    if (auto it = d_.bonds.find(name); it != d_.bonds.end()) want_bond = &it->second;
    const std::string type = want_type(name);
    const std::string state = desired_state(d_, name);
    const Item item = item_of(name);
    const int dep = depth(name);

    if (state == "absent") {
      if (exists(name)) {
        std::string have = cur_type(name);
        add(item, Op::Delete, kOrderDelete + kMaxDepth - dep,
            "delete " + (have.empty() ? std::string("interface") : have) + " " + name,
            {{"state", json_quoted(cur_state(name)), json_quoted("absent")}}, DeleteLink{name, have});
      }
      return;
    }

    bool creating = !exists(name);
    if (auto why = replace_reason(name, type)) {
      std::string what = why->path + " " + why->before.value_or("unknown") + " -> " + why->after.value_or("");
      what.erase(std::remove(what.begin(), what.end(), '"'), what.end());
      add(item, Op::Delete, kOrderDelete + kMaxDepth - dep,
          "replace " + name + " (" + what + "): delete it first", {*why}, DeleteLink{name, cur_type(name)},
          true);
      creating = true;
    }
    if (creating) create(name, type, want, want_bond, item, dep);

    const Iface* have = creating ? nullptr : cur(name);
    const Bond* have_bond = creating ? nullptr : cur_bond(name);
    if (want) settings(name, type, *want, have, creating, dep);
    if (want_bond && want_bond->mode && !creating) {
      std::string now = have_bond && have_bond->mode ? *have_bond->mode : "";
      if (now != *want_bond->mode) {
        add({"bonds", name}, Op::Update, kOrderSettings + dep,
            "set bonding mode of " + name + " to " + *want_bond->mode,
            {{"mode", now.empty() ? std::optional<std::string>() : json_quoted(now),
              json_quoted(*want_bond->mode)}},
            SetBondMode{name, *want_bond->mode});
      }
    }
    if (want && want->ports) {
      std::vector<std::string> now = have && have->ports ? *have->ports : std::vector<std::string>{};
      members({"interfaces", name}, "bridge_ports", type == "ovs-bridge" ? "ovs-bridge" : "bridge", name,
              *want->ports, now, dep);
    }
    if (want_bond && want_bond->slaves) {
      std::vector<std::string> now =
          have_bond && have_bond->slaves ? *have_bond->slaves : std::vector<std::string>{};
      members({"bonds", name}, "slaves", "bond", name, *want_bond->slaves, now, dep);
    }
    bool dhcp = want && want->dhcp.value_or(false);
    if (want && want->addresses && !dhcp) addresses(name, *want->addresses, have);
    link_state(name, item, state, creating, dep);
    if (want && want->dhcp) {
      bool now = have && have->dhcp.value_or(false);
      if (now != *want->dhcp) {
        add({"interfaces", name}, Op::Update, kOrderDhcp,
            std::string(*want->dhcp ? "start" : "stop") + " the DHCP client on " + name,
            {{"dhcp", bool_text(now), bool_text(*want->dhcp)}}, SetDhcp{name, *want->dhcp});
      }
    }
    if (want && want->gateway) gateway(name, *want->gateway);
    if (want && want->dns) {
      std::vector<std::string> now = have && have->dns ? *have->dns : std::vector<std::string>{};
      if (now != *want->dns) {
        add({"interfaces", name}, Op::Update, kOrderDns,
            "set DNS servers of " + name + ": " + join(*want->dns),
            {{"dns", json_list(now), json_list(*want->dns)}}, SetDns{name, *want->dns});
      }
    }
  }

  void create(const std::string& name, const std::string& type, const Iface* want, const Bond* want_bond,
              const Item& item, int dep) {
    const int order = kOrderCreate + dep;
    if (type == "ethernet" || type.empty()) {
      // Nothing can make it: a plan that says so would only fail at apply.
      std::string why = type.empty() ? "it does not exist and the document gives no \"type\" to create it as"
                                     : "ethernet interfaces are hardware and cannot be created";
      unreachable(item, Op::Create, order, "interface " + name + " is missing",
                  {{"state", std::nullopt, json_quoted("present")}}, why);
      return;
    }
    // A veth pair is made by one of its two ends: the one whose name sorts first when both are new.
    if (type == "veth" && want && want->peer) {
      auto peer = d_.interfaces.find(*want->peer);
      if (peer != d_.interfaces.end() && peer->second.type == "veth" && peer->second.peer == name &&
          !exists(*want->peer) && *want->peer < name) {
        return;
      }
    }
    CreateLink op;
    op.name = name;
    op.kind = type;
    std::vector<Change> changes = {{"type", std::nullopt, json_quoted(type)}};
    std::string detail;
    if (type == "vlan" && want) {
      if (!want->parent || !will_exist(*want->parent)) {
        unreachable(item, Op::Create, order,
                    "create vlan " + name + " (id " +
                        (want->vlan_id ? std::to_string(*want->vlan_id) : std::string("?")) + " on " +
                        want->parent.value_or("?") + ")",
                    std::move(changes),
                    want->parent ? "its parent " + *want->parent + " neither exists nor is created here"
                                 : "it needs a \"parent\" interface");
        return;
      }
      op.vlan_id = want->vlan_id.value_or(0);
      op.parent = *want->parent;
      detail = " (id " + (want->vlan_id ? std::to_string(*want->vlan_id) : std::string("?")) + " on " +
               want->parent.value_or("?") + ")";
    }
    if (type == "veth") {
      if (!want || !want->peer) {
        unreachable(item, Op::Create, order, "create veth " + name, std::move(changes),
                    "a new veth needs a \"peer\" name");
        return;
      }
      op.peer = *want->peer;
      detail = " (peer " + *want->peer + ")";
    }
    if (type == "bond" && want_bond && want_bond->mode) {
      op.bond_mode = *want_bond->mode;
      detail = " (mode " + *want_bond->mode + ")";
    }
    if (type == "bridge" && want) {
      op.stp = want->stp.value_or(false);
      op.vlan_filtering = want->vlan_filtering.value_or(false);
    }
    add(item, Op::Create, order, "create " + type + " " + name + detail, std::move(changes), std::move(op));
  }

  void settings(const std::string& name, const std::string& type, const Iface& want, const Iface* have,
                bool creating, int dep) {
    SetLink p;
    p.name = name;
    std::vector<Change> changes;
    std::vector<std::string> what;
    if (want.mtu && (!have || have->mtu != want.mtu)) {
      changes.push_back({"mtu", have && have->mtu ? std::optional(std::to_string(*have->mtu)) : std::nullopt,
                         std::to_string(*want.mtu)});
      p.mtu = *want.mtu;
      what.push_back("mtu " + std::to_string(*want.mtu));
    }
    if (want.mac && (!have || have->mac != want.mac)) {
      changes.push_back({"mac", have && have->mac ? std::optional(json_quoted(*have->mac)) : std::nullopt,
                         json_quoted(*want.mac)});
      p.mac = *want.mac;
      what.push_back("mac " + *want.mac);
    }
    if (want.comment) {
      std::string now = have && have->comment ? *have->comment : "";
      if (now != *want.comment) {
        changes.push_back({"comment", now.empty() ? std::nullopt : std::optional(json_quoted(now)),
                           json_quoted(*want.comment)});
        p.alias = *want.comment;
        what.push_back("comment");
      }
    }
    if (type == "bridge" && !creating) {
      if (want.stp && (!have || have->stp != want.stp)) {
        changes.push_back({"bridge_options/stp",
                           have && have->stp ? std::optional(bool_text(*have->stp)) : std::nullopt,
                           bool_text(*want.stp)});
        p.stp = *want.stp;
        what.push_back(std::string("STP ") + (*want.stp ? "on" : "off"));
      }
      if (want.vlan_filtering && (!have || have->vlan_filtering != want.vlan_filtering)) {
        changes.push_back(
            {"bridge_options/vlan_filtering",
             have && have->vlan_filtering ? std::optional(bool_text(*have->vlan_filtering)) : std::nullopt,
             bool_text(*want.vlan_filtering)});
        p.vlan_filtering = *want.vlan_filtering;
        what.push_back(std::string("VLAN filtering ") + (*want.vlan_filtering ? "on" : "off"));
      }
    }
    if (changes.empty()) return;
    add({"interfaces", name}, Op::Update, kOrderSettings + dep, "set " + join(what) + " on " + name,
        std::move(changes), p);
  }

  void members(const Item& item, const char* field, const char* kind, const std::string& master,
               const std::vector<std::string>& want, const std::vector<std::string>& have, int dep) {
    std::vector<std::string> w = sorted(want), h = sorted(have);
    w.erase(std::unique(w.begin(), w.end()), w.end());
    if (w == h) return;
    std::vector<std::string> add_list, remove_list;
    std::set_difference(w.begin(), w.end(), h.begin(), h.end(), std::back_inserter(add_list));
    std::set_difference(h.begin(), h.end(), w.begin(), w.end(), std::back_inserter(remove_list));
    std::vector<std::string> what;
    if (!add_list.empty()) what.push_back("add " + join(add_list));
    if (!remove_list.empty()) what.push_back("release " + join(remove_list));
    std::string noun = std::string(kind) == "bond" ? "slaves" : "ports";
    for (const auto& m : add_list) {
      if (!will_exist(m)) {
        unreachable(item, Op::Update, kOrderPorts + dep,
                    std::string(kind) + " " + master + " " + noun + ": " + join(what, "; "),
                    {{field, json_list(h), json_list(w)}}, m + " neither exists nor is created here");
        return;
      }
    }
    add(item, Op::Update, kOrderPorts + dep,
        std::string(kind) + " " + master + " " + noun + ": " + join(what, "; "),
        {{field, json_list(h), json_list(w)}}, SetMembers{master, kind, add_list, remove_list});
  }

  void addresses(const std::string& name, const std::vector<std::string>& want, const Iface* have) {
    std::vector<std::string> now = have && have->addresses ? *have->addresses : std::vector<std::string>{};
    std::vector<std::string> w = sorted(want), h = sorted(now);
    if (w == h) return;
    std::vector<std::string> add_list, remove_list;
    for (const auto& a : want) {
      if (!std::binary_search(h.begin(), h.end(), a)) add_list.push_back(a);
    }
    std::set_difference(h.begin(), h.end(), w.begin(), w.end(), std::back_inserter(remove_list));
    std::vector<std::string> what;
    if (!add_list.empty()) what.push_back("add " + join(add_list));
    if (!remove_list.empty()) what.push_back("remove " + join(remove_list));
    add({"interfaces", name}, Op::Update, kOrderAddresses, "addresses of " + name + ": " + join(what, "; "),
        {{"addresses", json_list(h), json_list(w)}}, SetAddresses{name, add_list, remove_list, want});
  }

  void link_state(const std::string& name, const Item& item, const std::string& state, bool creating,
                  int dep) {
    std::string now = creating ? "down" : cur_state(name);
    if (now == state) return;
    add(item, Op::Update, kOrderLinkState + dep, "bring " + name + " " + state,
        {{"state", creating ? std::nullopt : std::optional(json_quoted(now)), json_quoted(state)}},
        SetLinkState{name, state == "up"});
  }

  // --- routes
  // --------------------------------------------------------------------------------------------------

  // Every route the host reports, including default routes shown as an interface's "gateway".
  std::vector<Route> current_routes() const {
    std::vector<Route> out;
    for (const auto& r : c_.routes) {
      if (r.state == "absent") continue;
      Route copy = r;
      if (!copy.metric) copy.metric = default_metric(copy.family);
      out.push_back(copy);
    }
    for (const auto& [name, i] : c_.interfaces) {
      if (!i.gateway) continue;
      Route r;
      r.family = ip_family(*i.gateway) == 6 ? 6 : 4;
      r.destination = canonical_destination("default", r.family);
      r.gateway = i.gateway;
      r.device = name;
      r.metric = default_metric(r.family);
      bool dup = std::any_of(out.begin(), out.end(), [&](const Route& o) {
        return o.family == r.family && o.destination == r.destination && o.gateway == r.gateway &&
               o.device == r.device && o.metric == r.metric && o.table == r.table;
      });
      if (!dup) out.push_back(r);
    }
    return out;
  }

  // Current routes to the same place: same family, destination, table, and metric when `want` gives one.
  std::vector<Route> candidates(const Route& want) const {
    std::vector<Route> out;
    for (const auto& r : current_routes()) {
      if (r.family != want.family || r.destination != want.destination || r.table != want.table) continue;
      if (want.metric && r.metric != want.metric) continue;
      out.push_back(r);
    }
    return out;
  }

  static bool satisfies(const Route& have, const Route& want) {
    if (want.gateway && have.gateway != want.gateway) return false;
    if (want.device && have.device != want.device) return false;
    return true;
  }

  void gateway(const std::string& name, const std::string& gw) {
    Route want;
    want.family = ip_family(gw) == 6 ? 6 : 4;
    want.destination = canonical_destination("default", want.family);
    want.gateway = gw;
    want.device = name;
    auto cands = candidates(want);
    if (std::any_of(cands.begin(), cands.end(), [&](const Route& r) { return satisfies(r, want); })) return;
    std::optional<std::string> before;
    SetRoutes p;
    p.add = route_spec(want);
    for (const auto& r : cands) {
      if (r.device == want.device && !before) before = json_quoted(r.gateway.value_or(""));
      if (r.device == want.device || r.metric == default_metric(want.family))
        p.remove.push_back(route_spec(r));
    }
    add({"interfaces", name}, Op::Update, kOrderRoutes, "set the default gateway of " + name + " to " + gw,
        {{"gateway", before, json_quoted(gw)}}, p);
  }

  void routes() {
    for (const auto& want : d_.routes) {
      const Item item = {"routes", std::to_string(want.index)};
      auto cands = candidates(want);
      if (want.state == "absent") {
        SetRoutes p;
        for (const auto& r : cands) {
          if (satisfies(r, want)) p.remove.push_back(route_spec(r));
        }
        if (p.remove.empty()) continue;
        add(item, Op::Delete, kOrderRouteRemove, "remove route " + route_text(want),
            {{"state", json_quoted("present"), json_quoted("absent")}}, p);
        continue;
      }
      if (std::any_of(cands.begin(), cands.end(), [&](const Route& r) { return satisfies(r, want); }))
        continue;
      if (want.device && !will_exist(*want.device)) {
        unreachable(item, cands.empty() ? Op::Create : Op::Update, kOrderRoutes,
                    (cands.empty() ? "add route " : "change route ") + route_text(want),
                    {{"destination", std::nullopt, json_quoted(route_text(want))}},
                    "its device " + *want.device + " neither exists nor is created here");
        continue;
      }
      SetRoutes p;
      p.add = route_spec(want);
      for (const auto& r : cands) p.remove.push_back(route_spec(r));
      std::vector<Change> changes;
      if (cands.empty()) {
        changes.push_back({"destination", std::nullopt, json_quoted(route_text(want))});
      } else {
        const Route& was = cands.front();
        if (want.gateway && was.gateway != want.gateway) {
          changes.push_back({"gateway", was.gateway ? std::optional(json_quoted(*was.gateway)) : std::nullopt,
                             json_quoted(*want.gateway)});
        }
        if (want.device && was.device != want.device) {
          changes.push_back({"device", was.device ? std::optional(json_quoted(*was.device)) : std::nullopt,
                             json_quoted(*want.device)});
        }
      }
      add(item, cands.empty() ? Op::Create : Op::Update, kOrderRoutes,
          (cands.empty() ? "add route " : "change route ") + route_text(want), std::move(changes), p);
    }
  }

  // --- persistence
  // ---------------------------------------------------------------------------------------------

  void persist() {
    if (!d_.persist || !c_.persisted) return;
    PersistPlan plan = plan_persist(desired_json_, *c_.persisted);
    if (plan.empty()) return;
    auto size_text = [](const std::optional<std::string>& s) -> std::optional<std::string> {
      if (!s) return std::nullopt;
      return json_quoted(std::to_string(s->size()) + " bytes");
    };
    std::vector<Change> changes;
    std::vector<std::string> what;
    Persist p;
    const Persisted& have = *c_.persisted;
    auto unit_of = [&](const std::string& path) -> const UnitFiles* {
      for (const auto& [name, f] : have.units) {
        if (path == unit_path(name) || path == wants_link(name)) return &f;
      }
      return nullptr;
    };
    for (const auto& [path, content] : plan.write) {
      std::optional<std::string> before;
      if (path == kDocumentPath)
        before = have.document;
      else if (path == kInterfacesPath)
        before = have.interfaces;
      else if (const UnitFiles* u = unit_of(path))
        before = u->file;
      changes.push_back({path, size_text(before), size_text(content)});
      what.push_back("write " + path);
    }
    for (const auto& [path, target] : plan.links) {
      const UnitFiles* u = unit_of(path);
      changes.push_back(
          {path, u && u->link ? std::optional(json_quoted(*u->link)) : std::nullopt, json_quoted(target)});
      what.push_back("enable " + path.substr(path.rfind('/') + 1));
    }
    p.write = plan.write;
    p.links = plan.links;
    add({"persist"}, Op::Update, kOrderPersist, "keep for boot: " + join(what), std::move(changes), p);
  }

  const JsonValue& desired_json_;
  Section d_;
  Section c_;
  bool links_known_;  // `current` lists the host's links (query() always does; an empty saved document not)
  std::map<std::string, int> depth_;
  std::vector<Action> out_;
};

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current) {
  return Differ(desired, current).run();
}

}  // namespace opdbus::network
