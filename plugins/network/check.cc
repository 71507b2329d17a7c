// Semantic checks of the network section: combinations the schema cannot express.
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "network/model.h"
#include "text.h"

namespace opdbus::network {
namespace {

constexpr const char* kIfnameExpected =
    "an interface name: 1 to 15 bytes of printable ASCII without '/', ':' or spaces, not \".\" or \"..\"";

class Checker {
 public:
  Checker(const JsonValue& section, const std::string& file, const std::string& pointer, Diagnostics& out)
      : json_(section), s_(parse_section(section)), report_(file, pointer, out) {
    if (const JsonValue* ifs = member(json_, "interfaces"); ifs && ifs->IsObject()) {
      for (const auto& m : ifs->GetObject())
        iface_json_.emplace(std::string(m.name.GetString(), m.name.GetStringLength()), &m.value);
    }
  }

  void run() {
    names();
    for (const auto& [name, i] : s_.interfaces) iface(i);
    for (const auto& [name, b] : s_.bonds) bond(b);
    members();
    cycles();
    routes();
    addresses_unique();
    veth_pairs();
    routes_contradict();
  }

 private:
  void report(const std::vector<std::string>& tokens, std::string expected, std::string found,
              std::string msg = "") {
    report_.expected(tokens, std::move(expected), std::move(found), std::move(msg));
  }

  // The document's value at `tokens`. Interfaces are found through an index: a linear member lookup per
  // interface would make checking N interfaces O(N^2).
  const JsonValue* raw(const std::vector<std::string>& tokens) const {
    const JsonValue* v = &json_;
    size_t k = 0;
    if (tokens.size() >= 2 && tokens[0] == "interfaces") {
      auto it = iface_json_.find(tokens[1]);
      if (it == iface_json_.end()) return nullptr;
      v = it->second;
      k = 2;
    }
    for (; k < tokens.size(); ++k) {
      if (!v) return nullptr;
      v = member(*v, tokens[k]);
    }
    return v;
  }

  // Every interface name that reaches the kernel, a file line or an argv element.
  void names() {
    auto name = [&](const std::vector<std::string>& at, const std::string& n) {
      if (!valid_ifname(n)) report(at, kIfnameExpected, json_quoted(n));
    };
    for (const auto& [n, i] : s_.interfaces) {
      name({"interfaces", n}, n);
      if (i.ports) {
        for (size_t k = 0; k < i.ports->size(); ++k)
          name({"interfaces", n, "bridge_ports", std::to_string(k)}, (*i.ports)[k]);
      }
      if (const JsonValue* v = raw({"interfaces", n, "parent"}); v && v->IsString())
        name({"interfaces", n, "parent"}, v->GetString());
      if (const JsonValue* v = raw({"interfaces", n, "link"}); v && v->IsString())
        name({"interfaces", n, "link"}, v->GetString());
      if (i.peer) name({"interfaces", n, "peer"}, *i.peer);
      if (i.comment) {
        bool control = std::any_of(i.comment->begin(), i.comment->end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
        if (control)
          report({"interfaces", n, "comment"}, "one line of text without control characters",
                 json_quoted(*i.comment));
      }
    }
    for (const auto& [n, b] : s_.bonds) {
      name({"bonds", n}, n);
      if (b.slaves) {
        for (size_t k = 0; k < b.slaves->size(); ++k)
          name({"bonds", n, "slaves", std::to_string(k)}, (*b.slaves)[k]);
      }
    }
    for (const auto& r : s_.routes) {
      if (r.device) name({"routes", std::to_string(r.index), "device"}, *r.device);
    }
  }

  // One address belongs to one interface; the same address on two can never converge (each apply would
  // move it). An all-zero or /0 "address" is a route, not an address.
  void addresses_unique() {
    std::map<std::string, std::string> owner;  // IP -> interface
    for (const auto& [n, i] : s_.interfaces) {
      if (!i.addresses || i.state == "absent") continue;
      for (const auto& a : *i.addresses) {
        auto c = canonical_cidr(a);
        if (!c) continue;
        std::string ip = c->substr(0, c->find('/'));
        std::string len = c->substr(c->find('/') + 1);
        if (ip == "0.0.0.0" || ip == "::" || len == "0") {
          report({"interfaces", n}, "a host address with a prefix length, like \"192.0.2.10/24\"",
                 json_quoted(a), "an interface address cannot be a default route or the unspecified address");
          continue;
        }
        auto [it, fresh] = owner.emplace(ip, n);
        if (!fresh && it->second != n) {
          report({"interfaces", n}, "", "",
                 "address " + ip + " is declared on both " + it->second + " and " + n +
                     "; an address has one interface");
        }
      }
    }
  }

  // Both ends of a veth pair, when both are declared, must name each other.
  void veth_pairs() {
    for (const auto& [n, i] : s_.interfaces) {
      if (i.type != "veth" || !i.peer || i.state == "absent" || *i.peer == n) continue;
      auto other = s_.interfaces.find(*i.peer);
      if (other == s_.interfaces.end()) continue;
      const Iface& o = other->second;
      std::vector<std::string> at = {"interfaces", n, "peer"};
      if (desired_state(s_, *i.peer) == "absent") {
        report(at, "", "", *i.peer + " is declared \"absent\", but it is the other end of veth " + n);
      } else if (!o.type.empty() && o.type != "veth") {
        report(at, "", "",
               n + "'s peer " + *i.peer + " is declared as " + json_quoted(o.type) + ", not a veth");
      } else if (o.peer && *o.peer != n) {
        report(at, "", "",
               "veth " + n + " names " + *i.peer + " as its peer, but " + *i.peer + " names " + *o.peer);
      }
    }
  }

  // The same route declared present and absent.
  void routes_contradict() {
    for (const auto& gone : s_.routes) {
      if (gone.state != "absent") continue;
      for (const auto& kept : s_.routes) {
        if (kept.state == "absent" || kept.family != gone.family || kept.destination != gone.destination ||
            kept.table != gone.table)
          continue;
        if (gone.metric && kept.metric && *gone.metric != *kept.metric) continue;
        if (gone.gateway && kept.gateway != gone.gateway) continue;
        if (gone.device && kept.device != gone.device) continue;
        report({"routes", std::to_string(gone.index)}, "", "",
               "this route is declared \"absent\", but routes/" + std::to_string(kept.index) +
                   " declares it present");
        break;
      }
    }
  }

  void iface(const Iface& i) {
    const std::vector<std::string> at = {"interfaces", i.name};
    auto field = [&](const char* f) { return std::vector<std::string>{"interfaces", i.name, f}; };
    const std::string& t = i.type;
    if (i.state == "absent") return;
    if (i.ports && !t.empty() && t != "bridge" && t != "ovs-bridge") {
      report(field("bridge_ports"), "\"bridge_ports\" only on a \"bridge\" or \"ovs-bridge\"",
             json_quoted(t));
    }
    if (raw(field("bridge_options")) && !t.empty() && t != "bridge") {
      report(field("bridge_options"), "\"bridge_options\" only on a Linux \"bridge\"", json_quoted(t));
    }
    if (t == "vlan") {
      if (!i.vlan_id) {
        report(at, "a VLAN id: \"id\", or a name like \"eth0.10\" or \"vlan10\"", json_quoted(i.name));
      }
      if (!i.parent) report(at, "the VLAN's \"parent\" interface (or a name like \"eth0.10\")", "nothing");
      if (i.vlan_id && (*i.vlan_id < 1 || *i.vlan_id > 4094)) {
        report(at, "a VLAN id from 1 to 4094", std::to_string(*i.vlan_id));
      }
    } else {
      if (raw(field("id")))
        report(field("id"), "\"id\" only on a \"vlan\"", json_quoted(t.empty() ? "no type" : t));
      if (raw(field("parent")) || raw(field("link"))) {
        report(at, "\"parent\" only on a \"vlan\"", json_quoted(t.empty() ? "no type" : t));
      }
    }
    if (t != "veth" && i.peer)
      report(field("peer"), "\"peer\" only on a \"veth\"", json_quoted(t.empty() ? "no type" : t));
    if (i.peer && *i.peer == i.name) report(field("peer"), "another interface's name", json_quoted(*i.peer));
    if (i.dhcp.value_or(false) && i.addresses) {
      report(at, "", "", "\"dhcp\": true and static addresses exclude each other; drop one");
    }
    if (i.addresses) {
      for (const auto& a : *i.addresses) {
        if (!canonical_cidr(a))
          report(at, "addresses like \"192.168.1.100/24\" or \"2001:db8::1/64\"", json_quoted(a));
      }
    }
    if (i.gateway && !canonical_ip(*i.gateway))
      report(field("gateway"), "an IP address", json_quoted(*i.gateway));
    if (i.dns) {
      for (const auto& d : *i.dns) {
        if (!canonical_ip(d)) report(field("dns"), "IP addresses", json_quoted(d));
      }
    }
    if (s_.bonds.count(i.name) && !t.empty() && t != "bond") {
      report(field("type"), "\"bond\" (bonds/" + i.name + " describes it as a bond)", json_quoted(t));
    }
    if (auto b = s_.bonds.find(i.name);
        b != s_.bonds.end() && !b->second.state.empty() && !i.state.empty() && b->second.state != i.state) {
      report(field("state"), "the same state as bonds/" + i.name + " (" + json_quoted(b->second.state) + ")",
             json_quoted(i.state));
    }
  }

  void bond(const Bond& b) {
    if (b.state == "absent") return;
    if (b.slaves) {
      for (const auto& sl : *b.slaves) {
        if (sl == b.name) report({"bonds", b.name, "slaves"}, "other interfaces", json_quoted(sl));
        auto it = s_.interfaces.find(sl);
        if (it != s_.interfaces.end() && (it->second.type == "bridge" || it->second.type == "ovs-bridge")) {
          report({"bonds", b.name, "slaves"}, "", "",
                 sl + " is a " + it->second.type + "; a bridge cannot be a bond's slave");
        }
      }
    }
  }

  // A link belongs to one master; a member cannot also be declared absent.
  void members() {
    std::map<std::string, std::string> owner;
    auto claim = [&](const std::string& master, const std::vector<std::string>& list,
                     const std::vector<std::string>& at) {
      for (const auto& m : list) {
        if (m == master) {
          report(at, "other interfaces", json_quoted(m), "an interface cannot be its own port");
          continue;
        }
        auto [it, fresh] = owner.emplace(m, master);
        if (!fresh && it->second != master) {
          report(at, "", "", m + " is already a member of " + it->second + "; a link has one master");
        }
        if (desired_state(s_, m) == "absent" && (s_.interfaces.count(m) || s_.bonds.count(m))) {
          report(at, "", "", m + " is declared \"absent\" but listed as a member of " + master);
        }
      }
    };
    for (const auto& [name, i] : s_.interfaces) {
      if (i.ports && i.state != "absent") claim(name, *i.ports, {"interfaces", name, "bridge_ports"});
    }
    for (const auto& [name, b] : s_.bonds) {
      if (b.slaves && b.state != "absent") claim(name, *b.slaves, {"bonds", name, "slaves"});
    }
  }

  // Parents and members must not loop back (a bridge that is a port of its own VLAN, ...).
  void cycles() {
    std::map<std::string, std::vector<std::string>> below;
    for (const auto& [name, i] : s_.interfaces) {
      if (i.parent) below[name].push_back(*i.parent);
      if (i.ports) below[name].insert(below[name].end(), i.ports->begin(), i.ports->end());
    }
    for (const auto& [name, b] : s_.bonds) {
      if (b.slaves) below[name].insert(below[name].end(), b.slaves->begin(), b.slaves->end());
    }
    std::set<std::string> done, stack;
    std::set<std::string> reported;
    std::function<void(const std::string&)> visit = [&](const std::string& n) {
      if (done.count(n)) return;
      if (stack.count(n)) {
        if (reported.insert(n).second) {
          report({"interfaces", n}, "", "", "interfaces are built on each other in a loop through " + n);
        }
        return;
      }
      stack.insert(n);
      for (const auto& l : below[n]) visit(l);
      stack.erase(n);
      done.insert(n);
    };
    for (const auto& [n, l] : below) visit(n);
  }

  void routes() {
    const JsonValue* list = member(json_, "routes");
    if (!list || !list->IsArray()) return;
    for (const auto& r : s_.routes) {
      const JsonValue& v = (*list)[static_cast<rapidjson::SizeType>(r.index)];
      std::vector<std::string> at = {"routes", std::to_string(r.index)};
      std::string dst = get_string(v, "destination");
      if (dst != "default") {
        auto net = network_of(dst);
        if (!net) {
          report({"routes", std::to_string(r.index), "destination"}, "a network like \"10.1.0.0/16\"",
                 json_quoted(dst));
        } else if (*net != *canonical_cidr(dst)) {
          report({"routes", std::to_string(r.index), "destination"},
                 "the network address " + json_quoted(*net), json_quoted(dst), "host bits are set");
        }
      }
      if (r.gateway) {
        if (!canonical_ip(*r.gateway)) {
          report({"routes", std::to_string(r.index), "gateway"}, "an IP address", json_quoted(*r.gateway));
        } else if (dst != "default" && ip_family(dst) != ip_family(*r.gateway)) {
          report({"routes", std::to_string(r.index), "gateway"},
                 "a gateway of the destination's address family", json_quoted(*r.gateway));
        }
      }
      if (r.state != "absent" && !r.gateway && !r.device) {
        report(at, "a \"gateway\" or a \"device\" (or both)", "neither");
      }
      if (const JsonValue* t = member(v, "table"); t && !table_id(*t)) {
        report({"routes", std::to_string(r.index), "table"},
               "a table number or \"main\", \"default\", \"local\"", to_json(*t));
      }
      if (r.device && desired_state(s_, *r.device) == "absent" &&
          (s_.interfaces.count(*r.device) || s_.bonds.count(*r.device)) && r.state != "absent") {
        report({"routes", std::to_string(r.index), "device"}, "", "",
               *r.device + " is declared \"absent\"; its routes go with it");
      }
    }
  }

  const JsonValue& json_;
  std::map<std::string, const JsonValue*> iface_json_;
  Section s_;
  SectionReport report_;
};

}  // namespace

bool valid_ifname(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c > 0x20 && c < 0x7f && c != '/' && c != ':'; });
}

void check_section(const JsonValue& section, const std::string& file, const std::string& pointer,
                   Diagnostics& out) {
  Checker(section, file, pointer, out).run();
}

}  // namespace opdbus::network
