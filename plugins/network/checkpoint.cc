#include <algorithm>
#include <csignal>
#include <set>

#include "context.h"
#include "error.h"
#include "network/apply.h"
#include "network/checkpoint.h"
#include "network/model.h"
#include "network/ops.h"
#include "network/persist.h"

namespace opdbus::network {
namespace {

constexpr const char* kResolvConf = "/etc/resolv.conf";

const sys::LinkInfo* find_link(const std::vector<sys::LinkInfo>& links, const std::string& name) {
  for (const auto& l : links) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::string name_of(const std::vector<sys::LinkInfo>& links, int index) {
  for (const auto& l : links) {
    if (l.index == index) return l.name;
  }
  return "";
}

std::vector<std::string> config_addresses(const HostState& st, int index) {
  std::vector<std::string> out;
  for (const auto& a : st.addresses) {
    if (a.index != index || !address_is_config(a)) continue;
    if (auto c = canonical_cidr(a.address)) out.push_back(*c);
  }
  return out;
}

// Routes compared across a rollback by device name: links made again get new indexes.
std::string route_key(const sys::RouteInfo& r, const std::vector<sys::LinkInfo>& links) {
  return std::to_string(r.family) + "|" + r.destination + "|" + r.gateway + "|" + name_of(links, r.oif) +
         "|" + std::to_string(r.metric) + "|" + std::to_string(r.table);
}

// What a checkpoint must record for the operations of a plan: the links they name, and whether they touch
// Open vSwitch, DNS or the boot files.
struct Touched {
  std::set<std::string> links;
  bool ovs = false;
  bool dns = false;
  bool files = false;

  void route(const RouteSpec& r) {
    if (r.device) links.insert(*r.device);
  }
  void operator()(const CreateLink& o) {
    links.insert(o.name);
    if (!o.parent.empty()) links.insert(o.parent);
    if (!o.peer.empty()) links.insert(o.peer);
    ovs = ovs || o.kind == "ovs-bridge";
  }
  void operator()(const DeleteLink& o) {
    links.insert(o.name);
    ovs = ovs || o.kind == "ovs-bridge";
  }
  void operator()(const SetLink& o) { links.insert(o.name); }
  void operator()(const SetBondMode& o) { links.insert(o.name); }
  void operator()(const SetMembers& o) {
    links.insert(o.master);
    links.insert(o.add.begin(), o.add.end());
    links.insert(o.remove.begin(), o.remove.end());
    ovs = ovs || o.kind == "ovs-bridge";
  }
  void operator()(const SetAddresses& o) { links.insert(o.name); }
  void operator()(const SetLinkState& o) { links.insert(o.name); }
  void operator()(const SetDhcp& o) { links.insert(o.name); }
  void operator()(const SetRoutes& o) {
    if (o.add) route(*o.add);
    for (const auto& r : o.remove) route(r);
  }
  void operator()(const SetDns& o) {
    links.insert(o.name);
    dns = true;
  }
  void operator()(const Persist&) { files = true; }
};

class NetworkCheckpoint : public Checkpoint {
 public:
  NetworkCheckpoint(BackendFactory factory, std::set<std::string> touched, bool with_ovs, bool dns,
                    bool files)
      : factory_(std::move(factory)),
        touched_(std::move(touched)),
        with_ovs_(with_ovs),
        dns_(dns),
        files_(files) {}

  void record(Backend& b) {
    before_ = b.host(with_ovs_);
    // Deleting a link takes its VLANs along and frees its ports: those are part of what is restored too.
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& l : before_.links) {
        if (touched_.count(l.name)) continue;
        std::string master = name_of(before_.links, l.master);
        std::string parent = l.kind == "vlan" && !l.link_elsewhere ? name_of(before_.links, l.link) : "";
        if ((!master.empty() && touched_.count(master)) || (!parent.empty() && touched_.count(parent))) {
          touched_.insert(l.name);
          grew = true;
        }
      }
    }
    if (dns_) {
      dns_mode_ = b.dns_mode();
      if (dns_mode_ == "file") resolv_conf_ = b.read_file(kResolvConf);
    }
    if (files_) persisted_ = read_persisted(b);
  }

  void rollback(Context& ctx) override {
    auto backend = factory_(ctx);
    Backend& b = *backend;
    failures_.clear();
    attempt("remove links made by this apply", [&] { remove_new_links(b); });
    attempt("make deleted links again", [&] { recreate_links(b); });
    attempt("restore Open vSwitch bridges", [&] { restore_ovs(b); });
    restore_links(b);
    attempt("restore routes", [&] { restore_routes(b); });
    if (dns_) attempt("restore DNS servers", [&] { restore_dns(b); });
    attempt("restore DHCP clients", [&] { restore_dhcp(b); });
    if (files_) attempt("restore the boot files", [&] { restore_files(b); });
    if (!failures_.empty()) {
      std::string msg = "rollback incomplete:";
      for (const auto& f : failures_) msg += "\n  " + f;
      throw Error(ErrorKind::BackendError, msg);
    }
  }

 private:
  template <typename Fn>
  void attempt(const std::string& what, Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      failures_.push_back(what + ": " + e.what());
    }
  }

  bool was_ovs_bridge(const std::string& name) const {
    if (!before_.ovs) return false;
    for (const auto& br : *before_.ovs) {
      if (br.name == name) return true;
    }
    return false;
  }

  void remove_new_links(Backend& b) {
    // VLANs first: deleting a parent takes its VLANs along. Read again before each deletion: a veth goes with
    // its peer.
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& name : touched_) {
        if (find_link(before_.links, name)) continue;
        const HostState& now = b.host(with_ovs_);
        const sys::LinkInfo* l = find_link(now.links, name);
        if (!l || (pass == 0) != (l->kind == "vlan")) continue;
        bool ovs_bridge = now.ovs && std::any_of(now.ovs->begin(), now.ovs->end(),
                                                 [&](const sys::OvsBridge& br) { return br.name == name; });
        attempt("delete " + name, [&] {
          if (ovs_bridge)
            b.ovs_delete_bridge(name);
          else
            b.delete_link(l->index);
        });
      }
    }
  }

  void recreate_links(Backend& b) {
    // Parents before the VLANs on them.
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& name : touched_) {
        const HostState& now = b.host(false);
        const sys::LinkInfo* was = find_link(before_.links, name);
        if (!was || find_link(now.links, name) || was_ovs_bridge(name)) continue;
        if ((pass == 1) != (was->kind == "vlan")) continue;
        if (was->kind != "bridge" && was->kind != "bond" && was->kind != "dummy" && was->kind != "vlan" &&
            was->kind != "veth") {
          failures_.push_back(name + " was deleted and cannot be made again (kind '" + was->kind + "')");
          continue;
        }
        sys::LinkSpec spec;
        spec.name = name;
        spec.kind = was->kind;
        spec.bond_mode = was->bond_mode;
        // Defaults (off) are not sent: a kernel without VLAN filtering refuses even "off".
        if (was->stp_state.value_or(0) != 0) spec.stp_state = was->stp_state;
        if (was->vlan_filtering.value_or(0) != 0) spec.vlan_filtering = was->vlan_filtering;
        if (was->vlan_id) spec.vlan_id = *was->vlan_id;
        if (was->kind == "vlan") {
          const sys::LinkInfo* parent = find_link(now.links, name_of(before_.links, was->link));
          if (!parent) {
            failures_.push_back("VLAN " + name + ": its parent is gone");
            continue;
          }
          spec.parent = parent->index;
        }
        if (was->kind == "veth") {
          spec.peer = name_of(before_.links, was->link);
          if (spec.peer.empty() || find_link(now.links, spec.peer)) continue;  // the other end is elsewhere
        }
        attempt("create " + name, [&] { b.create_link(spec); });
      }
    }
  }

  void restore_ovs(Backend& b) {
    if (!with_ovs_ || !before_.ovs) return;
    HostState now = b.host(true);
    for (const auto& br : *before_.ovs) {
      if (!touched_.count(br.name)) continue;
      std::vector<std::string> have;
      bool exists = false;
      if (now.ovs) {
        for (const auto& n : *now.ovs) {
          if (n.name == br.name) exists = true, have = n.ports;
        }
      }
      if (!exists) b.ovs_add_bridge(br.name);
      std::vector<std::string> add, remove;
      for (const auto& p : br.ports) {
        if (std::find(have.begin(), have.end(), p) == have.end()) add.push_back(p);
      }
      for (const auto& p : have) {
        if (std::find(br.ports.begin(), br.ports.end(), p) == br.ports.end()) remove.push_back(p);
      }
      set_members(b, br.name, "ovs-bridge", add, remove);
    }
  }

  void restore_links(Backend& b) {
    // Masters first: a port that moved must leave its new master before anything else.
    HostState now = b.host(false);
    for (const auto& name : touched_) {
      const sys::LinkInfo* was = find_link(before_.links, name);
      const sys::LinkInfo* l = find_link(now.links, name);
      if (!was || !l || was_ovs_bridge(name)) continue;
      std::string want_master = name_of(before_.links, was->master);
      std::string have_master = name_of(now.links, l->master);
      if (want_master == have_master || was->slave_kind == "openvswitch") continue;
      attempt("restore the master of " + name, [&] {
        if (want_master.empty()) {
          b.change_link(l->index, set_master(0));
        } else if (const sys::LinkInfo* m = find_link(now.links, want_master)) {
          if (m->kind == "bond") b.change_link(l->index, set_up(false));
          b.change_link(l->index, set_master(m->index));
        }
      });
    }
    now = b.host(false);
    for (const auto& name : touched_) {
      const sys::LinkInfo* was = find_link(before_.links, name);
      const sys::LinkInfo* l = find_link(now.links, name);
      if (!was || !l) continue;
      attempt("restore the settings of " + name, [&] {
        if (was->bond_mode && l->bond_mode != was->bond_mode) {
          set_bond_mode(b, name, sys::bond_mode_name(*was->bond_mode));
        }
        sys::LinkChange c;
        if (l->mtu != was->mtu) c.mtu = was->mtu;
        if (l->mac != was->mac && !was->mac.empty()) c.mac = was->mac;
        if (l->alias != was->alias) c.alias = was->alias;
        if (was->stp_state && l->stp_state != was->stp_state) c.stp_state = was->stp_state;
        if (was->vlan_filtering && l->vlan_filtering != was->vlan_filtering)
          c.vlan_filtering = was->vlan_filtering;
        b.change_link(l->index, c);
      });
      attempt("restore the addresses of " + name,
              [&] { set_addresses(b, name, config_addresses(before_, was->index)); });
    }
    // Twice: a VLAN comes up only after its parent, whatever order the names sort in.
    for (int pass = 0; pass < 2; ++pass) {
      now = b.host(false);
      for (const auto& name : touched_) {
        const sys::LinkInfo* was = find_link(before_.links, name);
        const sys::LinkInfo* l = find_link(now.links, name);
        if (!was || !l || l->up == was->up) continue;
        if (pass == 0) {
          try {
            b.change_link(l->index, set_up(was->up));
          } catch (const Error&) {
          }
        } else {
          attempt("bring " + name + (was->up ? " up" : " down"),
                  [&] { b.change_link(l->index, set_up(was->up)); });
        }
      }
    }
  }

  void restore_routes(Backend& b) {
    HostState now = b.host(false);
    std::map<std::string, const sys::RouteInfo*> want, have;
    for (const auto& r : before_.routes) {
      if (!route_is_noise(r)) want[route_key(r, before_.links)] = &r;
    }
    for (const auto& r : now.routes) {
      if (!route_is_noise(r)) have[route_key(r, now.links)] = &r;
    }
    for (const auto& [key, r] : have) {
      if (!want.count(key)) attempt("delete route " + r->destination, [&] { b.delete_route(*r); });
    }
    for (const auto& [key, r] : want) {
      if (have.count(key)) continue;
      sys::RouteInfo copy = *r;
      if (r->oif) {
        const sys::LinkInfo* dev = find_link(now.links, name_of(before_.links, r->oif));
        if (!dev) continue;
        copy.oif = dev->index;
      }
      attempt("add route " + r->destination, [&] { b.add_route(copy, true); });
    }
  }

  void restore_dns(Backend& b) {
    if (dns_mode_ == "file") {
      if (resolv_conf_)
        b.write_file(kResolvConf, *resolv_conf_);
      else
        b.remove_file(kResolvConf);
      return;
    }
    HostState now = b.host(false);
    for (const auto& name : touched_) {
      const sys::LinkInfo* l = find_link(now.links, name);
      if (!l) continue;
      std::vector<std::string> was;
      if (auto it = before_.dns.find(name); it != before_.dns.end()) was = it->second;
      auto it = now.dns.find(name);
      std::vector<std::string> is = it == now.dns.end() ? std::vector<std::string>{} : it->second;
      if (was != is) b.set_dns(name, l->index, was);
    }
  }

  void restore_dhcp(Backend& b) {
    HostState now = b.host(false);
    for (const auto& name : touched_) {
      bool was = before_.dhcp.count(name) > 0, is = now.dhcp.count(name) > 0;
      if (was != is && find_link(now.links, name)) b.set_dhcp(name, was);
    }
  }

  void restore_files(Backend& b) {
    auto put = [&](const char* path, const std::optional<std::string>& content) {
      if (b.read_file(path) == content) return;
      if (content)
        b.write_file(path, *content);
      else
        b.remove_file(path);
    };
    put(kDocumentPath, persisted_.document);
    if (persisted_.ifupdown) put(kInterfacesPath, persisted_.interfaces);
    for (const auto& name : kUnitNames) {
      UnitFiles was;
      if (auto it = persisted_.units.find(name); it != persisted_.units.end()) was = it->second;
      put(unit_path(name).c_str(), was.file);
      if (b.read_link(wants_link(name)) != was.link) {
        if (was.link)
          b.make_link(wants_link(name), *was.link);
        else
          b.remove_file(wants_link(name));
      }
    }
  }

  BackendFactory factory_;
  std::set<std::string> touched_;
  bool with_ovs_;
  bool dns_;
  bool files_;
  HostState before_;
  std::string dns_mode_;
  std::optional<std::string> resolv_conf_;
  Persisted persisted_;
  std::vector<std::string> failures_;
};

}  // namespace

std::unique_ptr<Checkpoint> take_checkpoint(Context& ctx, const BackendFactory& factory,
                                            const std::vector<Action>& actions) {
  if (ctx.offline() || actions.empty()) return nullptr;
  Touched t;
  for (const auto& a : actions) {
    if (a.item.size() == 2 && (a.item[0] == "interfaces" || a.item[0] == "bonds")) t.links.insert(a.item[1]);
    if (a.operation) std::visit(t, operation_of<Ops>(a.operation, a.resource()));
  }
  auto backend = factory(ctx);
  auto cp = std::make_unique<NetworkCheckpoint>(factory, t.links, t.ovs, t.dns, t.files);
  cp->record(*backend);
  if (ctx.options().confirm_timeout > 0) {
    // While the changes wait for `op-dbus confirm`, the terminal that started apply may die with the
    // connection the changes broke; the rollback must still run.
    std::signal(SIGHUP, SIG_IGN);
  }
  return cp;
}

}  // namespace opdbus::network
