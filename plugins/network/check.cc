// Semantic checks of the network section: combinations the schema cannot express.
#include <functional>
#include <map>
#include <set>

#include "network/model.h"
#include "network/ops.h"

namespace opdbus::network {
namespace {

class Checker {
 public:
  Checker(const JsonValue& section, const std::string& file, const std::string& pointer, Diagnostics& out)
      : json_(section), s_(parse_section(section)), file_(file), pointer_(pointer), out_(out) {}

  void run() {
    for (const auto& [name, i] : s_.interfaces) iface(i);
    for (const auto& [name, b] : s_.bonds) bond(b);
    members();
    cycles();
    routes();
  }

 private:
  void report(const std::vector<std::string>& tokens, std::string expected, std::string found,
              std::string msg = "") {
    Diagnostic d;
    d.file = file_;
    d.pointer = pointer_ + json_pointer(tokens);
    d.expected = std::move(expected);
    d.found = std::move(found);
    d.message = std::move(msg);
    out_.push_back(std::move(d));
  }

  const JsonValue* raw(const std::vector<std::string>& tokens) const {
    const JsonValue* v = &json_;
    for (const auto& t : tokens) {
      if (!v) return nullptr;
      v = member(*v, t);
    }
    return v;
  }

  void iface(const Iface& i) {
    const std::vector<std::string> at = {"interfaces", i.name};
    auto field = [&](const char* f) { return std::vector<std::string>{"interfaces", i.name, f}; };
    const std::string& t = i.type;
    if (i.state == "absent") return;
    if (i.ports && !t.empty() && t != "bridge" && t != "ovs-bridge") {
      report(field("bridge_ports"), "\"bridge_ports\" only on a \"bridge\" or \"ovs-bridge\"", json_quote(t));
    }
    if (raw(field("bridge_options")) && !t.empty() && t != "bridge") {
      report(field("bridge_options"), "\"bridge_options\" only on a Linux \"bridge\"", json_quote(t));
    }
    if (t == "vlan") {
      if (!i.vlan_id) {
        report(at, "a VLAN id: \"id\", or a name like \"eth0.10\" or \"vlan10\"", json_quote(i.name));
      }
      if (!i.parent) report(at, "the VLAN's \"parent\" interface (or a name like \"eth0.10\")", "nothing");
      if (i.vlan_id && (*i.vlan_id < 1 || *i.vlan_id > 4094)) {
        report(at, "a VLAN id from 1 to 4094", std::to_string(*i.vlan_id));
      }
    } else {
      if (raw(field("id")))
        report(field("id"), "\"id\" only on a \"vlan\"", json_quote(t.empty() ? "no type" : t));
      if (raw(field("parent")) || raw(field("link"))) {
        report(at, "\"parent\" only on a \"vlan\"", json_quote(t.empty() ? "no type" : t));
      }
    }
    if (t != "veth" && i.peer)
      report(field("peer"), "\"peer\" only on a \"veth\"", json_quote(t.empty() ? "no type" : t));
    if (i.peer && *i.peer == i.name) report(field("peer"), "another interface's name", json_quote(*i.peer));
    if (i.dhcp.value_or(false) && i.addresses) {
      report(at, "", "", "\"dhcp\": true and static addresses exclude each other; drop one");
    }
    if (i.addresses) {
      for (const auto& a : *i.addresses) {
        if (!canonical_cidr(a))
          report(at, "addresses like \"192.168.1.100/24\" or \"2001:db8::1/64\"", json_quote(a));
      }
    }
    if (i.gateway && !canonical_ip(*i.gateway))
      report(field("gateway"), "an IP address", json_quote(*i.gateway));
    if (i.dns) {
      for (const auto& d : *i.dns) {
        if (!canonical_ip(d)) report(field("dns"), "IP addresses", json_quote(d));
      }
    }
    if (s_.bonds.count(i.name) && !t.empty() && t != "bond") {
      report(field("type"), "\"bond\" (bonds/" + i.name + " describes it as a bond)", json_quote(t));
    }
    if (auto b = s_.bonds.find(i.name);
        b != s_.bonds.end() && !b->second.state.empty() && !i.state.empty() && b->second.state != i.state) {
      report(field("state"), "the same state as bonds/" + i.name + " (" + json_quote(b->second.state) + ")",
             json_quote(i.state));
    }
  }

  void bond(const Bond& b) {
    if (b.state == "absent") return;
    if (b.slaves) {
      for (const auto& sl : *b.slaves) {
        if (sl == b.name) report({"bonds", b.name, "slaves"}, "other interfaces", json_quote(sl));
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
          report(at, "other interfaces", json_quote(m), "an interface cannot be its own port");
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
    std::map<std::string, std::vector<std::string>> lower;
    for (const auto& [name, i] : s_.interfaces) {
      if (i.parent) lower[name].push_back(*i.parent);
      if (i.ports) lower[name].insert(lower[name].end(), i.ports->begin(), i.ports->end());
    }
    for (const auto& [name, b] : s_.bonds) {
      if (b.slaves) lower[name].insert(lower[name].end(), b.slaves->begin(), b.slaves->end());
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
      for (const auto& l : lower[n]) visit(l);
      stack.erase(n);
      done.insert(n);
    };
    for (const auto& [n, l] : lower) visit(n);
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
                 json_quote(dst));
        } else if (*net != *canonical_cidr(dst)) {
          report({"routes", std::to_string(r.index), "destination"},
                 "the network address " + json_quote(*net), json_quote(dst), "host bits are set");
        }
      }
      if (r.gateway) {
        if (!canonical_ip(*r.gateway)) {
          report({"routes", std::to_string(r.index), "gateway"}, "an IP address", json_quote(*r.gateway));
        } else if (dst != "default" && ip_family(dst) != ip_family(*r.gateway)) {
          report({"routes", std::to_string(r.index), "gateway"},
                 "a gateway of the destination's address family", json_quote(*r.gateway));
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
  Section s_;
  const std::string& file_;
  const std::string& pointer_;
  Diagnostics& out_;
};

}  // namespace

void check_section(const JsonValue& section, const std::string& file, const std::string& pointer,
                   Diagnostics& out) {
  Checker(section, file, pointer, out).run();
}

}  // namespace opdbus::network
