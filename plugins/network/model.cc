#include "network/model.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "text.h"

namespace opdbus::network {
namespace {

std::string cidr_or_text(const std::string& s) {
  auto c = canonical_cidr(s);
  return c ? *c : s;
}

std::string ip_or_text(const std::string& s) {
  auto c = canonical_ip(s);
  return c ? *c : s;
}

void add_unique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

Iface parse_iface(const std::string& name, const JsonValue& v) {
  Iface i;
  i.name = name;
  i.type = get_string(v, "type");
  i.state = get_string(v, "state");
  i.mtu = opt_int(v, "mtu");
  if (auto mac = opt_string(v, "mac")) i.mac = lower(*mac);
  i.ports = opt_strings(v, "bridge_ports");
  auto single = opt_string(v, "address");
  auto list = opt_strings(v, "addresses");
  if (single || list) {
    std::vector<std::string> all;
    if (single) add_unique(all, cidr_or_text(*single));
    if (list) {
      for (const auto& a : *list) add_unique(all, cidr_or_text(a));
    }
    i.addresses = all;
  }
  if (auto gw = opt_string(v, "gateway")) i.gateway = ip_or_text(*gw);
  if (auto dns = opt_strings(v, "dns")) {
    std::vector<std::string> servers;
    for (const auto& d : *dns) add_unique(servers, ip_or_text(d));
    i.dns = servers;
  }
  i.dhcp = opt_bool(v, "dhcp");
  if (const JsonValue* bo = member(v, "bridge_options")) {
    i.stp = opt_bool(*bo, "stp");
    i.vlan_filtering = opt_bool(*bo, "vlan_filtering");
  }
  i.vlan_id = opt_int(v, "id");
  i.parent = opt_string(v, "parent");
  if (!i.parent) i.parent = opt_string(v, "link");
  i.peer = opt_string(v, "peer");
  i.comment = opt_string(v, "comment");
  if (i.type == "vlan") {
    // ifupdown's naming conventions: "eth0.10" is VLAN 10 on eth0; "vlan10" is VLAN 10 (on "parent").
    auto digits = [](const std::string& s) {
      return !s.empty() && s.size() <= 4 && std::all_of(s.begin(), s.end(), ::isdigit);
    };
    size_t dot = name.rfind('.');
    if (dot != std::string::npos && dot > 0 && digits(name.substr(dot + 1))) {
      if (!i.parent) i.parent = name.substr(0, dot);
      if (!i.vlan_id) i.vlan_id = std::stoi(name.substr(dot + 1));
    } else if (name.rfind("vlan", 0) == 0 && digits(name.substr(4)) && !i.vlan_id) {
      i.vlan_id = std::stoi(name.substr(4));
    }
  }
  return i;
}

Route parse_route(size_t index, const JsonValue& v) {
  Route r;
  r.index = index;
  std::string dst = get_string(v, "destination", "default");
  if (auto gw = opt_string(v, "gateway")) r.gateway = ip_or_text(*gw);
  int fam = ip_family(dst);
  if (fam == 0 && r.gateway) fam = ip_family(*r.gateway);
  r.family = fam == 6 ? 6 : 4;
  r.destination = canonical_destination(dst, r.family);
  r.device = opt_string(v, "device");
  r.metric = opt_int(v, "metric");
  if (const JsonValue* t = member(v, "table")) {
    if (auto id = table_id(*t))
      r.table = *id;
    else
      r.table = -1;  // an unknown name never matches anything; check() reports it
  }
  r.state = get_string(v, "state", "present");
  return r;
}

}  // namespace

int ip_family(std::string_view text) {
  std::string s(text.substr(0, text.find('/')));
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return 4;
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return 6;
  return 0;
}

std::optional<std::string> canonical_ip(std::string_view text) {
  std::string s(text);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  for (int af : {AF_INET, AF_INET6}) {
    if (inet_pton(af, s.c_str(), buf) == 1 && inet_ntop(af, buf, out, sizeof out)) return std::string(out);
  }
  return std::nullopt;
}

std::optional<std::string> canonical_cidr(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = canonical_ip(text.substr(0, slash));
  if (!ip) return std::nullopt;
  std::string len(text.substr(slash + 1));
  if (len.empty() || len.size() > 3 || !std::all_of(len.begin(), len.end(), ::isdigit)) return std::nullopt;
  int n = std::stoi(len);
  if (n > (ip_family(*ip) == 6 ? 128 : 32)) return std::nullopt;
  return *ip + "/" + std::to_string(n);
}

std::optional<std::string> network_of(std::string_view cidr) {
  auto c = canonical_cidr(cidr);
  if (!c) return std::nullopt;
  size_t slash = c->find('/');
  int len = std::stoi(c->substr(slash + 1));
  int af = ip_family(*c) == 6 ? AF_INET6 : AF_INET;
  unsigned char buf[16] = {};
  inet_pton(af, c->substr(0, slash).c_str(), buf);
  int bytes = af == AF_INET6 ? 16 : 4;
  for (int i = 0; i < bytes; ++i) {
    int keep = std::clamp(len - i * 8, 0, 8);
    buf[i] &= static_cast<unsigned char>(keep == 8 ? 0xff : (0xff << (8 - keep)) & 0xff);
  }
  char out[INET6_ADDRSTRLEN];
  inet_ntop(af, buf, out, sizeof out);
  return std::string(out) + "/" + std::to_string(len);
}

std::string canonical_destination(std::string_view destination, int family) {
  if (destination == "default") return family == 6 ? "::/0" : "0.0.0.0/0";
  auto c = canonical_cidr(destination);
  return c ? *c : std::string(destination);
}

std::optional<int64_t> table_id(const JsonValue& v) {
  if (v.IsNumber()) return v.IsInt64() ? v.GetInt64() : static_cast<int64_t>(v.GetDouble());
  if (!v.IsString()) return std::nullopt;
  std::string_view s(v.GetString(), v.GetStringLength());
  if (s == "main") return 254;
  if (s == "default") return 253;
  if (s == "local") return 255;
  if (!s.empty() && std::all_of(s.begin(), s.end(), ::isdigit) && s.size() < 11)
    return std::stoll(std::string(s));
  return std::nullopt;
}

Section parse_section(const JsonValue& section) {
  Section s;
  if (const JsonValue* ifs = member(section, "interfaces"); ifs && ifs->IsObject()) {
    for (const auto& m : ifs->GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      s.interfaces[name] = parse_iface(name, m.value);
    }
  }
  if (const JsonValue* bonds = member(section, "bonds"); bonds && bonds->IsObject()) {
    for (const auto& m : bonds->GetObject()) {
      Bond b;
      b.name.assign(m.name.GetString(), m.name.GetStringLength());
      b.slaves = opt_strings(m.value, "slaves");
      b.mode = opt_string(m.value, "mode");
      b.state = get_string(m.value, "state");
      s.bonds[b.name] = b;
    }
  }
  if (const JsonValue* routes = member(section, "routes"); routes && routes->IsArray()) {
    for (rapidjson::SizeType i = 0; i < routes->Size(); ++i) s.routes.push_back(parse_route(i, (*routes)[i]));
  }
  s.persist = get_bool(section, "persist", true);
  if (const JsonValue* p = member(section, "persisted"); p && p->IsObject()) {
    Persisted ps;
    ps.document = opt_string(*p, "document");
    ps.interfaces = opt_string(*p, "interfaces");
    ps.ifupdown = get_bool(*p, "ifupdown");
    if (const JsonValue* units = member(*p, "units"); units && units->IsObject()) {
      for (const auto& u : units->GetObject()) {
        UnitFiles f;
        f.file = opt_string(u.value, "file");
        f.shipped = opt_string(u.value, "shipped");
        f.link = opt_string(u.value, "link");
        ps.units[std::string(u.name.GetString(), u.name.GetStringLength())] = f;
      }
    }
    s.persisted = ps;
  }
  return s;
}

std::string desired_state(const Section& s, const std::string& name) {
  auto b = s.bonds.find(name);
  if (b != s.bonds.end() && !b->second.state.empty()) return b->second.state;
  auto i = s.interfaces.find(name);
  if (i != s.interfaces.end() && !i->second.state.empty()) return i->second.state;
  return "up";
}

std::string json_list(const std::vector<std::string>& items) {
  JsonDoc d(rapidjson::kArrayType);
  for (const auto& i : items) d.PushBack(str_value(i, d.GetAllocator()), d.GetAllocator());
  return to_json(d);
}

}  // namespace opdbus::network
