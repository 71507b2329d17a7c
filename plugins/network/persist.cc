#include "network/persist.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "text.h"

namespace opdbus::network {
namespace {

constexpr const char* kBegin =
    "# BEGIN op-dbus network: generated from /etc/op-dbus/network.json; change that";
constexpr const char* kEnd = "# END op-dbus network";

// The key a persisted route is replaced by: the same destination, table and metric.
std::string route_key(const JsonValue& r) {
  std::string dst = get_string(r, "destination", "default");
  std::string gw = get_string(r, "gateway");
  int family = ip_family(dst);
  if (family == 0) family = ip_family(gw) == 6 ? 6 : 4;
  std::string table = "254";
  if (const JsonValue* t = member(r, "table")) {
    auto id = table_id(*t);
    table = id ? std::to_string(*id) : to_json(*t);
  }
  const JsonValue* m = member(r, "metric");
  return canonical_destination(dst, family) + " " + table + " " + (m ? to_json(*m) : std::string("-"));
}

bool absent(const JsonValue& v) {
  return get_string(v, "state") == "absent";
}

// Merges one name-keyed object ("interfaces", "bonds").
void merge_named(JsonValue& out, const JsonValue* previous, const JsonValue* desired, JsonAlloc& a) {
  std::map<std::string, const JsonValue*> items;
  if (previous && previous->IsObject()) {
    for (const auto& m : previous->GetObject())
      items[std::string(m.name.GetString(), m.name.GetStringLength())] = &m.value;
  }
  if (desired && desired->IsObject()) {
    for (const auto& m : desired->GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      if (absent(m.value))
        items.erase(name);
      else
        items[name] = &m.value;
    }
  }
  for (const auto& [name, v] : items) out.AddMember(str_value(name, a), JsonValue(*v, a), a);
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool starts_stanza(const std::string& first) {
  return first == "iface" || first == "mapping" || first == "auto" || first.rfind("allow-", 0) == 0 ||
         first == "source" || first == "source-directory" || first == "rename" || first == "no-auto-down" ||
         first == "no-scripts" || first == "template";
}

std::string table_text(int64_t t) {
  return t == kMainTable ? "" : " table " + std::to_string(t);
}

// One interface's stanzas in ifupdown(2)'s words.
void render_iface(std::ostringstream& out, const Section& s, const std::string& name) {
  const Iface* i = nullptr;
  if (auto it = s.interfaces.find(name); it != s.interfaces.end()) i = &it->second;
  const Bond* b = nullptr;
  if (auto it = s.bonds.find(name); it != s.bonds.end()) b = &it->second;
  const std::string state = desired_state(s, name);
  std::string type = i ? i->type : "";
  if (type.empty() && b) type = "bond";

  std::vector<std::string> v4, v6;
  if (i && i->addresses) {
    for (const auto& a : *i->addresses) (ip_family(a) == 6 ? v6 : v4).push_back(a);
  }
  std::optional<std::string> gw4, gw6;
  if (i && i->gateway) (ip_family(*i->gateway) == 6 ? gw6 : gw4) = *i->gateway;
  bool dhcp = i && i->dhcp.value_or(false);

  if (i && i->comment) {
    std::istringstream lines(*i->comment);
    std::string line;
    while (std::getline(lines, line)) out << "# " << line << "\n";
  }
  if (state != "down") out << "auto " << name << "\n";
  std::string method = dhcp ? "dhcp" : (name == "lo" ? "loopback" : (v4.empty() ? "manual" : "static"));
  out << "iface " << name << " inet " << method << "\n";
  for (const auto& a : v4) out << "\taddress " << a << "\n";
  if (gw4 && !dhcp) out << "\tgateway " << *gw4 << "\n";
  if (i && i->mtu) out << "\tmtu " << *i->mtu << "\n";
  if (i && i->mac) out << "\thwaddress " << *i->mac << "\n";
  if (type == "bridge") {
    std::vector<std::string> ports = i && i->ports ? *i->ports : std::vector<std::string>{};
    out << "\tbridge-ports " << (ports.empty() ? "none" : join(ports, " ")) << "\n";
    out << "\tbridge-stp " << (i && i->stp.value_or(false) ? "on" : "off") << "\n";
    out << "\tbridge-fd 0\n";
    if (i && i->vlan_filtering.value_or(false)) out << "\tbridge-vlan-aware yes\n";
  } else if (type == "ovs-bridge") {
    out << "\tovs_type OVSBridge\n";
    if (i && i->ports && !i->ports->empty()) out << "\tovs_ports " << join(*i->ports, " ") << "\n";
  } else if (type == "bond") {
    std::vector<std::string> slaves = b && b->slaves ? *b->slaves : std::vector<std::string>{};
    out << "\tbond-slaves " << (slaves.empty() ? "none" : join(slaves, " ")) << "\n";
    if (b && b->mode) out << "\tbond-mode " << *b->mode << "\n";
    out << "\tbond-miimon 100\n";
  } else if (type == "vlan" && i) {
    if (i->parent) out << "\tvlan-raw-device " << *i->parent << "\n";
    if (i->vlan_id) out << "\tvlan-id " << *i->vlan_id << "\n";
  } else if (type == "dummy") {
    out << "\tlink-type dummy\n";
  } else if (type == "veth" && i && i->peer) {
    out << "\tlink-type veth\n\tveth-peer-name " << *i->peer << "\n";
  }
  if (i && i->dns && !i->dns->empty()) out << "\tdns-nameservers " << join(*i->dns, " ") << "\n";
  for (const auto& r : s.routes) {
    if (r.state == "absent" || r.device != name || r.family != 4) continue;
    out << "\tpost-up ip route replace " << r.destination << (r.gateway ? " via " + *r.gateway : "")
        << " dev " << name << (r.metric ? " metric " + std::to_string(*r.metric) : "") << table_text(r.table)
        << "\n";
  }
  if (!v6.empty() || gw6) {
    out << "iface " << name << " inet6 " << (v6.empty() ? "manual" : "static") << "\n";
    for (const auto& a : v6) out << "\taddress " << a << "\n";
    if (gw6) out << "\tgateway " << *gw6 << "\n";
    for (const auto& r : s.routes) {
      if (r.state == "absent" || r.device != name || r.family != 6) continue;
      out << "\tpost-up ip -6 route replace " << r.destination << (r.gateway ? " via " + *r.gateway : "")
          << " dev " << name << (r.metric ? " metric " + std::to_string(*r.metric) : "")
          << table_text(r.table) << "\n";
    }
  }
}

}  // namespace

std::string unit_path(const std::string& name) {
  return "/etc/systemd/system/" + name;
}

std::string wants_link(const std::string& name) {
  return "/etc/systemd/system/multi-user.target.wants/" + name;
}

std::vector<std::string> shipped_unit_paths(const std::string& name) {
  return {"/usr/lib/systemd/system/" + name, "/lib/systemd/system/" + name,
          "/usr/local/lib/systemd/system/" + name};
}

std::string unit_text(const std::string& name) {
  if (name == kOvsUnitName) {
    return "# Applies the Open vSwitch bridges of /etc/op-dbus/network.json once ovs-vswitchd runs (the rest "
           "was\n"
           "# applied before network-pre.target by op-dbus-network.service). Skipped where OVS is not "
           "installed.\n"
           "[Unit]\n"
           "Description=Apply the op-dbus network configuration of Open vSwitch bridges\n"
           "After=op-dbus-network.service ovs-vswitchd.service\n"
           "Before=network.target\n"
           "ConditionPathExists=/etc/op-dbus/network.json\n"
           "ConditionPathExists=/run/openvswitch/db.sock\n"
           "\n"
           "[Service]\n"
           "Type=oneshot\n"
           "RemainAfterExit=yes\n"
           "ExecStart=op-dbus apply --plugin network /etc/op-dbus/network.json\n"
           "\n"
           "[Install]\n"
           "WantedBy=multi-user.target\n";
  }
  return "# Applies the network configuration op-dbus keeps in /etc/op-dbus/network.json, before the "
         "network\n"
         "# is brought up (network-pre.target). Installed and enabled by the op-dbus network plugin.\n"
         "[Unit]\n"
         "Description=Apply the op-dbus network configuration\n"
         "DefaultDependencies=no\n"
         "After=sysinit.target dbus.socket systemd-udev-settle.service systemd-udev-trigger.service\n"
         "Wants=network-pre.target systemd-udev-settle.service\n"
         "Before=network-pre.target shutdown.target\n"
         "Conflicts=shutdown.target\n"
         "ConditionPathExists=/etc/op-dbus/network.json\n"
         "\n"
         "[Service]\n"
         "Type=oneshot\n"
         "RemainAfterExit=yes\n"
         "Environment=OPDBUS_NETWORK_DEFER_OVS=1\n"
         "ExecStart=op-dbus apply --plugin network /etc/op-dbus/network.json\n"
         "\n"
         "[Install]\n"
         "WantedBy=multi-user.target\n";
}

JsonDoc merge_persisted(const JsonValue* previous, const JsonValue& desired) {
  JsonDoc out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  // Top-level scalars other than the collections: the desired value wins ("mode").
  if (previous && previous->IsObject()) {
    if (const JsonValue* m = member(*previous, "mode")) out.AddMember("mode", JsonValue(*m, a), a);
  }
  if (const JsonValue* m = member(desired, "mode")) {
    if (out.HasMember("mode"))
      out["mode"].CopyFrom(*m, a);
    else
      out.AddMember("mode", JsonValue(*m, a), a);
  }
  for (const char* key : {"interfaces", "bonds"}) {
    JsonValue obj(rapidjson::kObjectType);
    merge_named(obj, previous ? member(*previous, key) : nullptr, member(desired, key), a);
    if (obj.MemberCount() > 0) out.AddMember(rapidjson::StringRef(key), obj, a);
  }
  std::vector<std::pair<std::string, const JsonValue*>> routes;
  auto take = [&](const JsonValue* list) {
    if (!list || !list->IsArray()) return;
    for (const auto& r : list->GetArray()) {
      std::string key = route_key(r);
      routes.erase(
          std::remove_if(routes.begin(), routes.end(), [&](const auto& p) { return p.first == key; }),
          routes.end());
      if (!absent(r)) routes.emplace_back(key, &r);
    }
  };
  take(previous ? member(*previous, "routes") : nullptr);
  take(member(desired, "routes"));
  if (!routes.empty()) {
    JsonValue list(rapidjson::kArrayType);
    for (const auto& [key, r] : routes) list.PushBack(JsonValue(*r, a), a);
    out.AddMember("routes", list, a);
  }
  return out;
}

std::string render_document(const JsonValue& section) {
  JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("version", 1, a);
  JsonValue meta(rapidjson::kObjectType);
  meta.AddMember("description",
                 "Network configuration applied at boot by op-dbus-network.service; op-dbus apply "
                 "keeps it up to date.",
                 a);
  doc.AddMember("metadata", meta, a);
  JsonValue plugins(rapidjson::kObjectType);
  JsonValue net(section, a);
  // The boot run applies the runtime part only: it must not rewrite the files it was started from.
  net.RemoveMember("persist");
  net.AddMember("persist", false, a);
  plugins.AddMember("network", net, a);
  doc.AddMember("plugins", plugins, a);
  return to_pretty_json(doc) + "\n";
}

std::optional<JsonDoc> persisted_section(const std::string& document_text) {
  JsonDoc doc;
  doc.Parse(document_text.c_str(), document_text.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  const JsonValue* plugins = member(doc, "plugins");
  const JsonValue* net = plugins ? member(*plugins, "network") : nullptr;
  if (!net || !net->IsObject()) return std::nullopt;
  JsonDoc out;
  out.CopyFrom(*net, out.GetAllocator());
  out.RemoveMember("persist");
  return out;
}

std::string render_interfaces(const Section& section, const std::optional<std::string>& existing,
                              const std::set<std::string>& removed) {
  std::set<std::string> ours = removed;
  for (const auto& [n, i] : section.interfaces) ours.insert(n);
  for (const auto& [n, b] : section.bonds) ours.insert(n);

  std::string base =
      existing ? *existing : "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n";
  std::istringstream in(base);
  std::vector<std::string> kept;
  std::string line;
  bool in_block = false;  // inside our generated block
  bool skipping = false;  // inside an iface stanza of an interface we manage
  while (std::getline(in, line)) {
    std::string t = trim(line);
    if (t == kBegin || t.rfind("# BEGIN op-dbus network", 0) == 0) {
      in_block = true;
      continue;
    }
    if (in_block) {
      if (t == kEnd) in_block = false;
      continue;
    }
    auto w = words(t);
    if (!w.empty() && starts_stanza(w[0])) {
      skipping = false;
      if (w[0] == "iface" && w.size() > 1 && ours.count(w[1])) {
        skipping = true;
        continue;
      }
      if ((w[0] == "auto" || w[0].rfind("allow-", 0) == 0) && w.size() > 1) {
        std::vector<std::string> rest;
        for (size_t k = 1; k < w.size(); ++k) {
          if (!ours.count(w[k])) rest.push_back(w[k]);
        }
        if (rest.empty()) continue;
        if (rest.size() != w.size() - 1) line = w[0] + " " + join(rest, " ");
      }
    } else if (skipping && (line.empty() || line[0] == ' ' || line[0] == '\t')) {
      if (!t.empty()) continue;
      skipping = false;
    }
    kept.push_back(line);
  }
  while (!kept.empty() && trim(kept.back()).empty()) kept.pop_back();

  std::ostringstream out;
  for (const auto& k : kept) out << k << "\n";
  std::set<std::string> names;
  for (const auto& [n, i] : section.interfaces) names.insert(n);
  for (const auto& [n, b] : section.bonds) names.insert(n);
  if (names.empty()) return out.str();
  if (!kept.empty()) out << "\n";
  out << kBegin << "\n";
  bool first = true;
  for (const auto& n : names) {
    if (desired_state(section, n) == "absent") continue;
    if (!first) out << "\n";
    first = false;
    render_iface(out, section, n);
  }
  out << kEnd << "\n";
  return out.str();
}

PersistPlan plan_persist(const JsonValue& desired_section, const Persisted& current) {
  PersistPlan plan;
  std::optional<JsonDoc> previous;
  if (current.document) previous = persisted_section(*current.document);
  JsonDoc merged = merge_persisted(previous ? &*previous : nullptr, desired_section);
  std::string doc = render_document(merged);
  if (current.document != doc) plan.write[kDocumentPath] = doc;

  if (current.ifupdown) {
    std::set<std::string> removed;
    for (const char* key : {"interfaces", "bonds"}) {
      const JsonValue* obj = member(desired_section, key);
      if (!obj || !obj->IsObject()) continue;
      for (const auto& m : obj->GetObject()) {
        if (absent(m.value)) removed.insert(std::string(m.name.GetString(), m.name.GetStringLength()));
      }
    }
    std::string text = render_interfaces(parse_section(merged), current.interfaces, removed);
    if (current.interfaces != text) plan.write[kInterfacesPath] = text;
  }

  for (const auto& name : kUnitNames) {
    UnitFiles have;
    if (auto it = current.units.find(name); it != current.units.end()) have = it->second;
    std::string target = unit_path(name);
    if (have.shipped) {
      target = *have.shipped;
    } else if (have.file != unit_text(name)) {
      plan.write[target] = unit_text(name);
    }
    if (have.link != target) plan.links[wants_link(name)] = target;
  }
  return plan;
}

}  // namespace opdbus::network
