#include "lxc/model.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>

#include "text.h"

namespace opdbus::lxc {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

bool plain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

State parse_state(const std::string& s) {
  if (s == "stopped") return State::Stopped;
  if (s == "absent") return State::Absent;
  return State::Started;
}

const char* state_text(State s) {
  switch (s) {
    case State::Stopped:
      return "stopped";
    case State::Absent:
      return "absent";
    default:
      return "started";
  }
}

bool is_observe(const JsonValue& v) {
  return get_string(v, "mode") == "observe";
}

Container parse_container(const std::string& name, const JsonValue& v, std::vector<Problem>* problems) {
  auto problem = [&](std::vector<std::string> tokens, std::string message, std::string expected = "",
                     std::string found = "") {
    if (!problems) return;
    tokens.insert(tokens.begin(), {"containers", name});
    problems->push_back({std::move(tokens), std::move(message), std::move(expected), std::move(found)});
  };
  Container c;
  if (!v.IsObject()) return c;
  c.observe = is_observe(v);
  c.template_name = opt_string(v, "template");
  if (c.template_name && !debian_release(*c.template_name) && !is_pve_volume(*c.template_name)) {
    problem({"template"}, "", "\"debian-10\" .. \"debian-13\", or a Proxmox volume \"STORAGE:vztmpl/FILE\"",
            json_quoted(*c.template_name));
  }
  c.storage = opt_string(v, "storage");
  if (c.storage && !valid_container_name(*c.storage)) {
    problem({"storage"}, "", "a storage name of letters, digits, '_', '-', '.' (1-64 bytes)",
            json_quoted(*c.storage));
  }
  c.clone_from = opt_string(v, "clone_from");
  if (c.clone_from) {
    if (!valid_container_name(*c.clone_from)) {
      problem({"clone_from"}, "", "a container name", json_quoted(*c.clone_from));
    } else if (*c.clone_from == name) {
      problem({"clone_from"}, "a container cannot be cloned from itself");
    }
  }
  c.autostart = opt_bool(v, "autostart");
  if (auto s = opt_string(v, "state")) c.state = parse_state(*s);
  c.restart_allowed = get_string(v, "restart") == "allowed";

  if (const JsonValue* cfg = member(v, "config"); cfg && cfg->IsObject()) {
    if (const JsonValue* m = member(*cfg, "memory")) {
      c.memory = parse_size(*m);
      if (!c.memory)
        problem({"config", "memory"}, "", "a size like \"2G\" or \"512M\", or a number of MiB", to_json(*m));
    }
    if (const JsonValue* r = member(*cfg, "rootfs")) {
      c.rootfs = parse_size(*r);
      if (!c.rootfs) problem({"config", "rootfs"}, "", "a size like \"8G\", or a number of MiB", to_json(*r));
    }
    c.cpus = opt_int(*cfg, "cpus");
    if (c.cpus && (*c.cpus < 1 || *c.cpus > 4096)) {
      problem({"config", "cpus"}, "", "a number of CPUs from 1 to 4096", std::to_string(*c.cpus));
    }
    if (const JsonValue* n = member(*cfg, "network"); n && n->IsObject()) {
      Network net;
      net.bridge = get_string(*n, "bridge");
      if (member(*n, "bridge") && !valid_bridge_name(net.bridge)) {
        problem({"config", "network", "bridge"}, "",
                "an interface name of 1-15 letters, digits, '_', '-', '.' (not starting with '-' or '.')",
                json_quoted(net.bridge));
      }
      std::string ip = get_string(*n, "ip");
      if (!ip.empty() && ip != "dhcp") {
        if (auto canon = canonical_cidr(ip)) {
          net.ip = *canon;
        } else {
          problem({"config", "network", "ip"}, "",
                  "\"dhcp\" or an address with its prefix length, like \"192.168.1.101/24\"",
                  json_quoted(ip));
        }
      }
      std::string gw = get_string(*n, "gateway");
      if (!gw.empty()) {
        if (auto canon = canonical_address(gw)) {
          net.gateway = *canon;
        } else {
          problem({"config", "network", "gateway"}, "", "an IPv4 or IPv6 address", json_quoted(gw));
        }
      }
      if (!net.ip.empty() && !net.gateway.empty() &&
          (net.ip.find(':') == std::string::npos) != (net.gateway.find(':') == std::string::npos)) {
        problem({"config", "network", "gateway"}, "the gateway and the address are of different families");
      }
      c.network = net;
    }
    if (const JsonValue* ms = member(*cfg, "mounts"); ms && ms->IsArray()) {
      std::vector<Mount> mounts;
      for (rapidjson::SizeType i = 0; i < ms->Size(); ++i) {
        const JsonValue& m = (*ms)[i];
        Mount mt;
        mt.source = get_string(m, "source");
        mt.target = get_string(m, "target");
        mt.read_only = get_bool(m, "read_only");
        const std::string idx = std::to_string(i);
        if (!valid_host_path(mt.source) || mt.source == "/") {
          problem({"config", "mounts", idx, "source"}, "",
                  "an absolute host path of letters, digits, '_', '-', '.', '+', '@', '/' without \".\" or "
                  "\"..\" "
                  "parts (not \"/\")",
                  json_quoted(mt.source));
        } else {
          for (const char* forbidden : {"/proc", "/sys", "/dev", "/run", "/boot", "/etc", "/var/lib/lxc"}) {
            std::string f = forbidden;
            if (mt.source == f || starts_with(mt.source, f + "/")) {
              problem({"config", "mounts", idx, "source"},
                      "a host system directory cannot be bind-mounted: " + json_quoted(mt.source) +
                          " is under " + f);
            }
          }
        }
        if (!valid_host_path(mt.target) || mt.target == "/") {
          problem({"config", "mounts", idx, "target"}, "",
                  "an absolute path inside the container without \".\" or \"..\" parts (not \"/\")",
                  json_quoted(mt.target));
        }
        mounts.push_back(std::move(mt));
      }
      std::sort(mounts.begin(), mounts.end(), [](const Mount& a, const Mount& b) {
        return a.target < b.target || (a.target == b.target && a < b);
      });
      for (size_t i = 1; i < mounts.size(); ++i) {
        if (mounts[i].target == mounts[i - 1].target) {
          problem({"config", "mounts"}, "two mounts on " + json_quoted(mounts[i].target));
        }
      }
      c.mounts = std::move(mounts);
    }
    if (const JsonValue* im = member(*cfg, "idmap"); im && im->IsArray()) {
      std::vector<IdMap> maps;
      for (rapidjson::SizeType i = 0; i < im->Size(); ++i) {
        const JsonValue& m = (*im)[i];
        IdMap x;
        x.type = get_string(m, "type");
        x.container = static_cast<uint32_t>(get_int(m, "container"));
        x.host = static_cast<uint32_t>(get_int(m, "host"));
        x.count = static_cast<uint32_t>(get_int(m, "count"));
        if (x.type != "u" && x.type != "g") {
          problem({"config", "idmap", std::to_string(i), "type"}, "", "\"u\" or \"g\"", json_quoted(x.type));
        }
        if (x.count == 0 || uint64_t(x.container) + x.count > (1ull << 32) ||
            uint64_t(x.host) + x.count > (1ull << 32)) {
          problem({"config", "idmap", std::to_string(i)},
                  "an id range must hold at least one id and stay below 2^32");
        } else if (uint64_t(x.host) < uint64_t(x.container) + x.count &&
                   uint64_t(x.container) < uint64_t(x.host) + x.count) {
          problem({"config", "idmap", std::to_string(i)}, "the host ids overlap the container ids they map");
        }
        maps.push_back(x);
      }
      std::sort(maps.begin(), maps.end());
      c.idmap = std::move(maps);
    }
    if (const JsonValue* raw = member(*cfg, "raw"); raw && raw->IsObject()) {
      for (auto it = raw->MemberBegin(); it != raw->MemberEnd(); ++it) {
        std::string key(it->name.GetString(), it->name.GetStringLength());
        std::string value =
            it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength()) : "";
        if (auto why = raw_key_problem(key)) {
          problem({"config", "raw", key}, *why);
        } else if (!it->value.IsString() || !valid_raw_value(value)) {
          problem({"config", "raw", key}, "",
                  "a value of 1-1024 printable characters without a newline or leading/trailing spaces",
                  it->value.IsString() ? json_quoted(value) : to_json(it->value));
        }
        c.raw[key] = value;
      }
    }
  }
  return c;
}

}  // namespace

std::optional<uint64_t> parse_size(const JsonValue& v) {
  if (v.IsInt64() || v.IsUint64()) {
    int64_t n = v.IsInt64() ? v.GetInt64() : -1;
    if (n < 1 || n > (int64_t(1) << 40)) return std::nullopt;
    return uint64_t(n) * kMiB;
  }
  if (!v.IsString()) return std::nullopt;
  std::string s(v.GetString(), v.GetStringLength());
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  std::string number = s.substr(0, i), unit = lower(s.substr(i));
  if (number.empty() || number.front() == '.' || number.back() == '.' ||
      std::count(number.begin(), number.end(), '.') > 1 || number.size() > 20) {
    return std::nullopt;
  }
  uint64_t mult;
  if (unit.empty()) {
    mult = kMiB;  // a bare number is MiB, as a JSON number is
  } else if (unit == "b") {
    mult = 1;
  } else {
    static const std::string units = "kmgt";
    auto p = units.find(unit[0]);
    std::string rest = unit.substr(1);
    if (p == std::string::npos || !(rest.empty() || rest == "b" || rest == "ib")) return std::nullopt;
    mult = 1ull << (10 * (p + 1));
  }
  long double value = std::stold(number) * static_cast<long double>(mult);
  if (value < 1 || value > static_cast<long double>(1ull << 62)) return std::nullopt;
  uint64_t bytes = static_cast<uint64_t>(std::llround(value));
  return bytes;
}

std::string size_text(uint64_t bytes) {
  static const char* units[] = {"T", "G", "M", "K"};
  for (int i = 0; i < 4; ++i) {
    uint64_t m = 1ull << (10 * (4 - i));
    if (bytes >= m && bytes % m == 0) return std::to_string(bytes / m) + units[i];
  }
  return std::to_string(bytes) + "B";
}

bool valid_container_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  if (name.front() == '-' || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), plain_char);
}

bool valid_bridge_name(const std::string& name) {
  return name.size() <= 15 && valid_container_name(name);
}

bool valid_host_path(const std::string& path) {
  if (path.empty() || path.front() != '/' || path.size() > 1024) return false;
  for (char c : path) {
    if (!(plain_char(c) || c == '/' || c == '+' || c == '@')) return false;
  }
  for (const auto& part : split(path.substr(1), '/')) {
    if (part == "." || part == "..") return false;
    if (part.empty() && path != "/") return false;  // "//" or a trailing "/"
  }
  return true;
}

std::optional<std::string> raw_key_problem(const std::string& key) {
  if (key.size() > 128 || !starts_with(key, "lxc.") ||
      !std::all_of(key.begin(), key.end(), [](char c) { return plain_char(c) && c != '-'; })) {
    return "expected an lxc configuration key like \"lxc.apparmor.profile\" (letters, digits, '_', '.'); "
           "found " +
           json_quoted(key);
  }
  // Keys this plugin owns through the document's own fields.
  static const std::vector<std::pair<std::string, std::string>> owned = {
      {"lxc.net.", "config.network"},          {"lxc.mount.entry", "config.mounts"},
      {"lxc.idmap", "config.idmap"},           {"lxc.start.auto", "autostart"},
      {"lxc.cgroup.memory.", "config.memory"}, {"lxc.cgroup2.memory.", "config.memory"},
      {"lxc.cgroup.cpuset.", "config.cpus"},   {"lxc.cgroup2.cpuset.", "config.cpus"},
  };
  for (const auto& [prefix, field] : owned) {
    if (starts_with(key, prefix)) return json_quoted(key) + " is set through \"" + field + "\", not \"raw\"";
  }
  static const std::vector<std::string> single = {
      "lxc.apparmor.profile",
      "lxc.apparmor.allow_nesting",
      "lxc.apparmor.allow_incomplete",
      "lxc.tty.max",
      "lxc.pty.max",
      "lxc.signal.halt",
      "lxc.signal.reboot",
      "lxc.signal.stop",
      "lxc.start.delay",
      "lxc.start.order",
      "lxc.no_new_privs",
      "lxc.autodev",
      "lxc.uts.name",
      "lxc.mount.auto",
      "lxc.arch",
  };
  if (std::find(single.begin(), single.end(), key) != single.end()) return std::nullopt;
  for (const char* prefix : {"lxc.sysctl.", "lxc.prlimit.", "lxc.cgroup.", "lxc.cgroup2."}) {
    if (starts_with(key, prefix) && key.size() > std::string(prefix).size()) {
      if (key.find(".devices.") != std::string::npos) {
        return json_quoted(key) + ": device access rules are not allowed in \"raw\"";
      }
      return std::nullopt;
    }
  }
  return json_quoted(key) +
         " is not an allowed raw key (allowed: lxc.apparmor.*, lxc.tty.max, lxc.pty.max, lxc.signal.*, "
         "lxc.start.delay, lxc.start.order, lxc.no_new_privs, lxc.autodev, lxc.uts.name, lxc.mount.auto, "
         "lxc.arch, "
         "lxc.sysctl.*, lxc.prlimit.*, lxc.cgroup.*, lxc.cgroup2.*; see docs/plugins/lxc.md)";
}

bool valid_raw_value(const std::string& value) {
  if (value.empty() || value.size() > 1024) return false;
  if (value.front() == ' ' || value.back() == ' ') return false;
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

std::optional<std::string> canonical_address(const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (text.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, text.c_str(), buf) != 1) return std::nullopt;
    return std::string(inet_ntop(AF_INET, buf, out, sizeof out));
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) != 1) return std::nullopt;
  return std::string(inet_ntop(AF_INET6, buf, out, sizeof out));
}

std::optional<std::string> canonical_cidr(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto addr = canonical_address(text.substr(0, slash));
  std::string len = text.substr(slash + 1);
  if (!addr || len.empty() || len.size() > 3 || !std::all_of(len.begin(), len.end(), ::isdigit))
    return std::nullopt;
  int n = std::stoi(len);
  if (n > (addr->find(':') == std::string::npos ? 32 : 128)) return std::nullopt;
  return *addr + "/" + std::to_string(n);
}

std::optional<std::string> debian_release(const std::string& t) {
  static const std::map<std::string, std::string> releases = {
      {"debian-10", "buster"}, {"debian-11", "bullseye"}, {"debian-12", "bookworm"}, {"debian-13", "trixie"}};
  auto it = releases.find(t);
  if (it == releases.end()) return std::nullopt;
  return it->second;
}

bool is_pve_volume(const std::string& t) {
  auto colon = t.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string storage = t.substr(0, colon), rest = t.substr(colon + 1);
  if (!valid_container_name(storage) || !starts_with(rest, "vztmpl/")) return false;
  std::string file = rest.substr(7);
  return !file.empty() && file.front() != '-' && file.front() != '.' && file.size() <= 200 &&
         std::all_of(file.begin(), file.end(), [](char c) { return plain_char(c) || c == '+'; });
}

Section parse_section(const JsonValue& section, std::vector<Problem>* problems) {
  Section s;
  if (!section.IsObject()) return s;
  s.observe = is_observe(section);
  s.lxcpath = get_string(section, "lxcpath");
  if (member(section, "lxcpath") && (!valid_host_path(s.lxcpath) || s.lxcpath == "/") && problems) {
    problems->push_back({{"lxcpath"},
                         "",
                         "an absolute directory path without \".\" or \"..\" parts",
                         json_quoted(s.lxcpath)});
  }
  if (const JsonValue* cs = member(section, "containers"); cs && cs->IsObject()) {
    for (auto it = cs->MemberBegin(); it != cs->MemberEnd(); ++it) {
      std::string name(it->name.GetString(), it->name.GetStringLength());
      if (!valid_container_name(name) && problems) {
        problems->push_back(
            {{"containers", name},
             "",
             "a container name of 1-64 letters, digits, '_', '-', '.' (not starting with '-' or '.')",
             json_quoted(name)});
      }
      s.containers[name] = parse_container(name, it->value, problems);
    }
  }
  return s;
}

JsonDoc section_to_json(const Section& s) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  if (!s.lxcpath.empty()) d.AddMember("lxcpath", str_value(s.lxcpath, a), a);
  JsonValue cs(rapidjson::kObjectType);
  for (const auto& [name, c] : s.containers) {
    JsonValue o(rapidjson::kObjectType);
    JsonValue cfg(rapidjson::kObjectType);
    if (c.memory) cfg.AddMember("memory", str_value(size_text(*c.memory), a), a);
    if (c.cpus) cfg.AddMember("cpus", JsonValue(*c.cpus), a);
    if (c.network) {
      JsonValue n(rapidjson::kObjectType);
      if (!c.network->bridge.empty()) n.AddMember("bridge", str_value(c.network->bridge, a), a);
      if (!c.network->ip.empty()) n.AddMember("ip", str_value(c.network->ip, a), a);
      if (!c.network->gateway.empty()) n.AddMember("gateway", str_value(c.network->gateway, a), a);
      cfg.AddMember("network", n, a);
    }
    if (c.mounts) {
      JsonValue ms(rapidjson::kArrayType);
      for (const auto& m : *c.mounts) {
        JsonValue mo(rapidjson::kObjectType);
        mo.AddMember("source", str_value(m.source, a), a);
        mo.AddMember("target", str_value(m.target, a), a);
        if (m.read_only) mo.AddMember("read_only", true, a);
        ms.PushBack(mo, a);
      }
      cfg.AddMember("mounts", ms, a);
    }
    if (c.idmap) {
      JsonValue ms(rapidjson::kArrayType);
      for (const auto& m : *c.idmap) {
        JsonValue mo(rapidjson::kObjectType);
        mo.AddMember("type", str_value(m.type, a), a);
        mo.AddMember("container", JsonValue(uint64_t(m.container)), a);
        mo.AddMember("host", JsonValue(uint64_t(m.host)), a);
        mo.AddMember("count", JsonValue(uint64_t(m.count)), a);
        ms.PushBack(mo, a);
      }
      cfg.AddMember("idmap", ms, a);
    }
    if (!c.raw.empty()) {
      JsonValue r(rapidjson::kObjectType);
      for (const auto& [k, v] : c.raw) r.AddMember(str_value(k, a), str_value(v, a), a);
      cfg.AddMember("raw", r, a);
    }
    if (cfg.MemberCount() > 0) o.AddMember("config", cfg, a);
    if (c.autostart) o.AddMember("autostart", *c.autostart, a);
    o.AddMember("state", str_value(state_text(c.state), a), a);
    cs.AddMember(str_value(name, a), o, a);
  }
  d.AddMember("containers", cs, a);
  return d;
}

}  // namespace opdbus::lxc
