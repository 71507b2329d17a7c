#include "firewall/model.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "json_object.h"
#include "text.h"

namespace opdbus::firewall {
namespace {

const std::set<std::string> kChains = {"input", "forward", "output"};
const std::set<std::string> kActions = {"accept", "drop", "reject"};
const std::set<std::string> kProtos = {"tcp", "udp", "sctp", "icmp", "icmpv6"};
const std::set<std::string> kPortProtos = {"tcp", "udp", "sctp"};

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "22", "1000-2000" -> a range; nullopt when not one.
std::optional<PortRange> parse_port_text(std::string_view text) {
  std::string t = trim(text);
  auto dash = t.find('-');
  std::string a = dash == std::string::npos ? t : t.substr(0, dash);
  std::string b = dash == std::string::npos ? t : t.substr(dash + 1);
  if (!all_digits(a) || !all_digits(b)) return std::nullopt;
  PortRange r{std::stoi(a), std::stoi(b)};
  if (r.lo < 1 || r.hi > 65535 || r.lo > r.hi) return std::nullopt;
  return r;
}

void add_ports(const JsonValue& v, std::vector<PortRange>& out, bool* bad) {
  if (v.IsInt64()) {
    int64_t n = v.GetInt64();
    if (n < 1 || n > 65535) {
      *bad = true;
      return;
    }
    out.push_back({static_cast<int>(n), static_cast<int>(n)});
  } else if (v.IsString()) {
    for (const auto& part : split(v.GetString(), ',')) {
      auto r = parse_port_text(part);
      if (!r) {
        *bad = true;
        return;
      }
      out.push_back(*r);
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (e.IsArray()) {
        *bad = true;
        return;
      }
      add_ports(e, out, bad);
    }
  } else {
    *bad = true;
  }
}

// Sorted, overlapping and adjacent ranges merged: equal port sets give equal lists.
std::vector<PortRange> merge_ports(std::vector<PortRange> ports) {
  std::sort(ports.begin(), ports.end());
  std::vector<PortRange> out;
  for (const auto& r : ports) {
    if (!out.empty() && r.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::string port_text(const PortRange& r) {
  return r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

// A string or a list of strings; nullopt (and *bad) for anything else.
std::vector<std::string> strings_of(const JsonValue& v, bool* bad) {
  std::vector<std::string> out;
  if (v.IsString()) {
    out.emplace_back(v.GetString(), v.GetStringLength());
  } else if (v.IsArray() && !v.Empty()) {
    for (const auto& e : v.GetArray()) {
      if (!e.IsString()) {
        *bad = true;
        return {};
      }
      out.emplace_back(e.GetString(), e.GetStringLength());
    }
  } else {
    *bad = true;
  }
  return out;
}

std::optional<std::string> iface_problem(const std::string& name) {
  if (name.empty() || name.size() > 15) return "an interface name of 1-15 bytes";
  if (name == "." || name == "..") return "an interface name, not . or ..";
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':' || c == '"' || c == '\\' || c == '\'') {
      return "an interface name without spaces, control characters, quotes, '/', ':' or '\\'";
    }
  }
  return std::nullopt;
}

std::optional<std::string> comment_problem(const std::string& comment) {
  if (comment.size() > 128) return "a comment of at most 128 bytes (nftables' limit)";
  for (unsigned char c : comment) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      return "a comment without control characters (newlines, tabs), double quotes or backslashes";
    }
  }
  if (starts_with(comment, kBuiltinTag))
    return std::string("a comment not starting with \"") + kBuiltinTag + "\"";
  return std::nullopt;
}

Rule parse_rule(const JsonValue& v, const std::vector<std::string>& at, std::vector<Problem>& problems) {
  Rule r;
  auto problem = [&](const std::string& key, const std::string& message) {
    auto tokens = at;
    if (!key.empty()) tokens.push_back(key);
    problems.push_back({tokens, message});
  };
  if (!v.IsObject()) {
    problem("", "expected a rule object");
    return r;
  }
  for (const auto& m : v.GetObject()) {
    std::string key = m.name.GetString();
    const JsonValue& val = m.value;
    auto str = [&]() -> std::optional<std::string> {
      if (!val.IsString()) {
        problem(key, "expected a string");
        return std::nullopt;
      }
      return std::string(val.GetString(), val.GetStringLength());
    };
    if (key == "chain") {
      if (auto s = str()) {
        r.chain = lower(*s);
        if (!kChains.count(r.chain))
          problem(key, "expected one of input, forward, output; found " + json_quoted(*s));
      }
    } else if (key == "action") {
      if (auto s = str()) {
        r.action = lower(*s);
        if (!kActions.count(r.action))
          problem(key, "expected one of accept, drop, reject; found " + json_quoted(*s));
      }
    } else if (key == "proto") {
      if (auto s = str()) {
        r.proto = lower(*s);
        if (r.proto == "ipv6-icmp") r.proto = "icmpv6";
        if (!kProtos.count(r.proto)) {
          problem(key, "expected one of tcp, udp, sctp, icmp, icmpv6; found " + json_quoted(*s));
        }
      }
    } else if (key == "port") {
      bool bad = false;
      add_ports(val, r.ports, &bad);
      if (bad || r.ports.empty()) {
        problem(key,
                "expected a port 1-65535, a range \"1000-2000\", or a list of those; found " + to_json(val));
        r.ports.clear();
      }
      r.ports = merge_ports(r.ports);
    } else if (key == "source" || key == "destination") {
      bool bad = false;
      auto texts = strings_of(val, &bad);
      if (bad) problem(key, "expected an address or network, or a non-empty list of them");
      auto& out = key == "source" ? r.source : r.destination;
      std::set<int> families;
      for (size_t i = 0; i < texts.size(); ++i) {
        std::string why;
        auto c = canonical_address(texts[i], &why);
        if (!c) {
          problem(key, "expected an address or network (" + why + "); found " + json_quoted(texts[i]));
          continue;
        }
        families.insert(address_family(*c));
        out.push_back(*c);
      }
      if (families.size() > 1) problem(key, "IPv4 and IPv6 addresses cannot be mixed in one rule");
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
    } else if (key == "iface") {
      if (auto s = str()) {
        r.iface = *s;
        if (auto why = iface_problem(*s)) problem(key, "expected " + *why + "; found " + json_quoted(*s));
      }
    } else if (key == "comment") {
      if (auto s = str()) {
        r.comment = *s;
        if (auto why = comment_problem(*s)) problem(key, "expected " + *why + "; found " + json_quoted(*s));
      }
    } else if (key == "mode") {
      if (!val.IsString() || std::string(val.GetString()) != "apply") {
        problem(
            key,
            "not supported yet: a per-rule \"mode\" other than \"apply\" (the table is replaced as a whole; "
            "set \"mode\": \"observe\" on the section)");
      }
    } else if (key == "nft") {
      if (auto s = str()) r.nft = *s;
    } else if (key == "log" || key == "limit" || key == "rate_limit" || key == "icmp_type" ||
               key == "oiface" || key == "set") {
      problem(key, "not supported yet: \"" + key + "\" in a firewall rule");
    } else {
      problem(key, "unknown rule property " + json_quoted(key));
    }
  }
  if (r.action.empty() && r.nft.empty()) problem("", "a rule needs an \"action\" (accept, drop or reject)");
  if (!r.ports.empty() && !kPortProtos.count(r.proto)) {
    problem("port", "a \"port\" needs \"proto\" tcp, udp or sctp");
  }
  int src = r.source.empty() ? 0 : address_family(r.source.front());
  int dst = r.destination.empty() ? 0 : address_family(r.destination.front());
  if (src && dst && src != dst) problem("destination", "source and destination are of different IP families");
  int fam = src ? src : dst;
  if ((r.proto == "icmp" && fam == 6) || (r.proto == "icmpv6" && fam == 4)) {
    problem("proto", r.proto + " never matches " + (fam == 6 ? "IPv6" : "IPv4") + " addresses");
  }
  if (!r.iface.empty() && r.chain == "output") {
    problem("iface", "\"iface\" is the incoming interface; chain output has none");
  }
  return r;
}

// nft JSON for a list of addresses of one family.
std::string address_value(const std::string& a) {
  auto slash = a.find('/');
  if (slash == std::string::npos) return json_quoted(a);
  return "{\"prefix\":{\"addr\":" + json_quoted(a.substr(0, slash)) + ",\"len\":" + a.substr(slash + 1) +
         "}}";
}

std::string port_value(const PortRange& r) {
  if (r.lo == r.hi) return std::to_string(r.lo);
  return "{\"range\":[" + std::to_string(r.lo) + "," + std::to_string(r.hi) + "]}";
}

template <typename T, typename F>
std::string one_or_set(const std::vector<T>& items, F value) {
  if (items.size() == 1) return value(items.front());
  std::vector<std::string> parts;
  for (const auto& i : items) parts.push_back(value(i));
  return "{\"set\":[" + join(parts, ",") + "]}";
}

std::string match(const std::string& left, const std::string& right, const char* op = "==") {
  return std::string("{\"match\":{\"op\":\"") + op + "\",\"left\":" + left + ",\"right\":" + right + "}}";
}

std::string rule_command(const std::string& chain, const std::vector<std::string>& expr,
                         const std::string& comment) {
  std::string s = std::string("{\"add\":{\"rule\":{\"family\":\"") + kFamily + "\",\"table\":\"" + kTable +
                  "\",\"chain\":" + json_quoted(chain) + ",\"expr\":[" + join(expr, ",") + "]";
  if (!comment.empty()) s += ",\"comment\":" + json_quoted(comment);
  return s + "}}}";
}

std::string table_object() {
  return std::string("{\"table\":{\"family\":\"") + kFamily + "\",\"name\":\"" + kTable + "\"}}";
}

const char* kCtState = "{\"ct\":{\"key\":\"state\"}}";

// The builtin rules, in order, per chain: (chain, expressions, comment).
struct Builtin {
  const char* chain;
  std::vector<std::string> expr;
  std::string comment;
};
std::vector<Builtin> builtin_rules() {
  std::string tag = kBuiltinTag;
  return {
      {"input",
       {match(kCtState, "[\"established\",\"related\"]", "in"), "{\"accept\":null}"},
       tag + " established/related"},
      {"input",
       {match("{\"meta\":{\"key\":\"iifname\"}}", "\"lo\""), "{\"accept\":null}"},
       tag + " loopback"},
      {"input", {match(kCtState, "\"invalid\"", "in"), "{\"drop\":null}"}, tag + " invalid"},
      {"forward",
       {match(kCtState, "[\"established\",\"related\"]", "in"), "{\"accept\":null}"},
       tag + " established/related"},
      {"forward", {match(kCtState, "\"invalid\"", "in"), "{\"drop\":null}"}, tag + " invalid"},
  };
}

// ---- reading back

bool parse_port_right(const JsonValue& v, std::vector<PortRange>& out) {
  if (v.IsInt()) {
    out.push_back({v.GetInt(), v.GetInt()});
    return true;
  }
  if (v.IsObject()) {
    if (auto* range = member(v, "range");
        range && range->IsArray() && range->Size() == 2 && (*range)[0].IsInt() && (*range)[1].IsInt()) {
      out.push_back({(*range)[0].GetInt(), (*range)[1].GetInt()});
      return true;
    }
    if (auto* set = member(v, "set"); set && set->IsArray()) {
      for (const auto& e : set->GetArray()) {
        if (!parse_port_right(e, out)) return false;
      }
      return true;
    }
  }
  return false;
}

bool parse_address_right(const JsonValue& v, std::vector<std::string>& out) {
  if (v.IsString()) {
    std::string why;
    auto c = canonical_address(v.GetString(), &why);
    if (!c) return false;
    out.push_back(*c);
    return true;
  }
  if (v.IsObject()) {
    if (auto* p = member(v, "prefix")) {
      std::string why;
      auto c = canonical_address(get_string(*p, "addr") + "/" + std::to_string(get_int(*p, "len")), &why);
      if (!c) return false;
      out.push_back(*c);
      return true;
    }
    if (auto* set = member(v, "set"); set && set->IsArray()) {
      for (const auto& e : set->GetArray()) {
        if (!parse_address_right(e, out)) return false;
      }
      return true;
    }
  }
  return false;
}

// One rule of the table as a Rule; nullopt when an expression is not one op-dbus writes.
std::optional<Rule> parse_rule_expr(const JsonValue& rule) {
  Rule r;
  r.chain = get_string(rule, "chain");
  r.comment = get_string(rule, "comment");
  const JsonValue* expr = member(rule, "expr");
  if (!expr || !expr->IsArray()) return std::nullopt;
  for (const auto& e : expr->GetArray()) {
    if (!e.IsObject() || e.MemberCount() != 1) return std::nullopt;
    std::string kind = e.MemberBegin()->name.GetString();
    const JsonValue& body = e.MemberBegin()->value;
    if (kActions.count(kind)) {
      if (!r.action.empty()) return std::nullopt;
      r.action = kind;
      continue;
    }
    if (kind != "match" || get_string(body, "op") != "==") return std::nullopt;
    const JsonValue* left = member(body, "left");
    const JsonValue* right = member(body, "right");
    if (!left || !right || !left->IsObject()) return std::nullopt;
    if (auto* meta = member(*left, "meta")) {
      std::string key = get_string(*meta, "key");
      if (key == "iifname" && right->IsString() && r.iface.empty()) {
        r.iface = right->GetString();
      } else if (key == "l4proto" && right->IsString() && r.proto.empty()) {
        r.proto = right->GetString();
        if (r.proto == "ipv6-icmp") r.proto = "icmpv6";
        if (!kProtos.count(r.proto)) return std::nullopt;
      } else {
        return std::nullopt;
      }
    } else if (auto* payload = member(*left, "payload")) {
      std::string protocol = get_string(*payload, "protocol");
      std::string field = get_string(*payload, "field");
      if ((protocol == "ip" || protocol == "ip6") && (field == "saddr" || field == "daddr")) {
        auto& out = field == "saddr" ? r.source : r.destination;
        if (!out.empty() || !parse_address_right(*right, out)) return std::nullopt;
        for (const auto& a : out) {
          if (address_family(a) != (protocol == "ip" ? 4 : 6)) return std::nullopt;
        }
        std::sort(out.begin(), out.end());
      } else if (kPortProtos.count(protocol) && field == "dport" && r.ports.empty() &&
                 (r.proto.empty() || r.proto == protocol)) {
        r.proto = protocol;
        if (!parse_port_right(*right, r.ports)) return std::nullopt;
        r.ports = merge_ports(r.ports);
      } else {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
  }
  if (r.action.empty()) return std::nullopt;
  return r;
}

}  // namespace

std::optional<std::string> canonical_address(const std::string& text, std::string* why) {
  std::string addr = text;
  int len = -1;
  auto slash = text.find('/');
  if (slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3 ||
        !std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      *why = "a prefix length after '/'";
      return std::nullopt;
    }
    len = std::stoi(l);
  }
  unsigned char buf[16] = {};
  int family = 0;
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    family = AF_INET;
  } else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    family = AF_INET6;
  } else {
    *why = "an IPv4 or IPv6 address";
    return std::nullopt;
  }
  int bits = family == AF_INET ? 32 : 128;
  if (len > bits) {
    *why = "a prefix length of at most " + std::to_string(bits);
    return std::nullopt;
  }
  if (len >= 0) {
    for (int b = len; b < bits; ++b) {
      if (buf[b / 8] & (0x80 >> (b % 8))) {
        *why = "a network without host bits set";
        return std::nullopt;
      }
    }
  }
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, buf, out, sizeof out);
  std::string c = out;
  if (len >= 0 && len != bits) c += "/" + std::to_string(len);
  return c;
}

int address_family(const std::string& canonical) {
  return canonical.find(':') == std::string::npos ? 4 : 6;
}

Section parse_section(const JsonValue& section, std::vector<Problem>* problems) {
  std::vector<Problem> local;
  auto& out = problems ? *problems : local;
  Section s;
  if (!section.IsObject()) {
    out.push_back({{}, "expected an object"});
    return s;
  }
  for (const auto& m : section.GetObject()) {
    std::string key = m.name.GetString();
    const JsonValue& val = m.value;
    if (key == "mode") {
      std::string mode = val.IsString() ? val.GetString() : "";
      if (mode != "apply" && mode != "observe") out.push_back({{key}, "expected \"apply\" or \"observe\""});
      s.observe = mode == "observe";
    } else if (key == "builtin_rules") {
      if (!val.IsBool()) {
        out.push_back({{key}, "expected true or false"});
      } else {
        s.builtin_rules = val.GetBool();
      }
    } else if (key == "default_policy") {
      if (!val.IsObject()) {
        out.push_back({{key}, "expected an object"});
        continue;
      }
      for (const auto& p : val.GetObject()) {
        std::string chain = p.name.GetString();
        std::string policy = p.value.IsString() ? lower(p.value.GetString()) : "";
        if (!kChains.count(chain)) {
          out.push_back(
              {{key, chain}, "unknown chain " + json_quoted(chain) + "; expected input, forward or output"});
        } else if (policy != "accept" && policy != "drop") {
          out.push_back({{key, chain}, "expected \"accept\" or \"drop\"; found " + to_json(p.value)});
        } else {
          s.policy[chain] = policy;
        }
      }
    } else if (key == "rules") {
      if (!val.IsArray()) {
        out.push_back({{key}, "expected a list of rules"});
        continue;
      }
      for (rapidjson::SizeType i = 0; i < val.Size(); ++i) {
        s.rules.push_back(parse_rule(val[i], {"rules", std::to_string(i)}, out));
      }
      // nftables keeps rules per chain: the order that matters is the order within each chain.
      auto rank = [](const Rule& r) { return r.chain == "input" ? 0 : r.chain == "forward" ? 1 : 2; };
      std::stable_sort(s.rules.begin(), s.rules.end(),
                       [&](const Rule& a, const Rule& b) { return rank(a) < rank(b); });
    } else if (key == "nat") {
      out.push_back({{key}, "not supported yet: NAT (masquerade, port forwards)"});
    } else if (key == "persist") {
      out.push_back({{key}, "not supported yet: loading the table at boot"});
    } else if (key == "confirm_timeout" || key == "lockout_protection") {
      out.push_back({{key}, "not supported yet: lockout protection / confirm timeout for the firewall"});
    } else {
      out.push_back({{key}, "unknown property " + json_quoted(key)});
    }
  }
  return s;
}

JsonDoc rule_to_json(const Rule& r) {
  JsonObject o;
  if (!r.nft.empty()) {
    o.set("nft", r.nft);
    if (!r.comment.empty()) o.set("comment", r.comment);
    return o.take();
  }
  if (r.chain != "input") o.set("chain", r.chain);
  if (!r.iface.empty()) o.set("iface", r.iface);
  auto list = [&](const char* key, const std::vector<std::string>& items) {
    if (items.size() == 1) o.set(key, items.front());
    if (items.size() > 1) o.set(key, items);
  };
  list("source", r.source);
  list("destination", r.destination);
  if (!r.proto.empty()) o.set("proto", r.proto);
  if (r.ports.size() == 1 && r.ports[0].lo == r.ports[0].hi) {
    o.set("port", r.ports[0].lo);
  } else if (r.ports.size() == 1) {
    o.set("port", port_text(r.ports[0]));
  } else if (!r.ports.empty()) {
    std::vector<std::string> parts;
    for (const auto& p : r.ports) parts.push_back(port_text(p));
    o.set("port", join(parts, ","));
  }
  o.set("action", r.action);
  if (!r.comment.empty()) o.set("comment", r.comment);
  return o.take();
}

JsonDoc section_to_json(const Section& s) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  if (s.observe) d.AddMember("mode", "observe", a);
  d.AddMember("builtin_rules", s.builtin_rules, a);
  JsonValue policy(rapidjson::kObjectType);
  for (const auto& [chain, p] : s.policy) policy.AddMember(str_value(chain, a), str_value(p, a), a);
  d.AddMember("default_policy", policy, a);
  JsonValue rules(rapidjson::kArrayType);
  for (const auto& r : s.rules) rules.PushBack(JsonValue(rule_to_json(r), a), a);
  d.AddMember("rules", rules, a);
  return d;
}

std::string render_batch(const Section& s, const std::vector<std::string>& stale_chains) {
  std::vector<std::string> cmds;
  cmds.push_back("{\"add\":" + table_object() + "}");
  cmds.push_back("{\"flush\":" + table_object() + "}");
  for (const auto& c : stale_chains) {
    cmds.push_back(std::string("{\"delete\":{\"chain\":{\"family\":\"") + kFamily + "\",\"table\":\"" +
                   kTable + "\",\"name\":" + json_quoted(c) + "}}}");
  }
  for (const char* chain : {"input", "forward", "output"}) {
    cmds.push_back(std::string("{\"add\":{\"chain\":{\"family\":\"") + kFamily + "\",\"table\":\"" + kTable +
                   "\",\"name\":\"" + chain + "\",\"type\":\"filter\",\"hook\":\"" + chain +
                   "\",\"prio\":0,\"policy\":" + json_quoted(s.policy.at(chain)) + "}}}");
  }
  if (s.builtin_rules) {
    for (const auto& b : builtin_rules()) cmds.push_back(rule_command(b.chain, b.expr, b.comment));
  }
  for (const auto& r : s.rules) {
    std::vector<std::string> expr;
    if (!r.iface.empty()) expr.push_back(match("{\"meta\":{\"key\":\"iifname\"}}", json_quoted(r.iface)));
    auto addresses = [&](const std::vector<std::string>& list, const char* field) {
      if (list.empty()) return;
      std::string protocol = address_family(list.front()) == 4 ? "ip" : "ip6";
      expr.push_back(match("{\"payload\":{\"protocol\":\"" + protocol + "\",\"field\":\"" + field + "\"}}",
                           one_or_set(list, address_value)));
    };
    addresses(r.source, "saddr");
    addresses(r.destination, "daddr");
    if (!r.ports.empty()) {
      expr.push_back(match("{\"payload\":{\"protocol\":" + json_quoted(r.proto) + ",\"field\":\"dport\"}}",
                           one_or_set(r.ports, port_value)));
    } else if (!r.proto.empty()) {
      expr.push_back(match("{\"meta\":{\"key\":\"l4proto\"}}",
                           json_quoted(r.proto == "icmpv6" ? "ipv6-icmp" : r.proto)));
    }
    expr.push_back("{\"" + r.action + "\":null}");
    cmds.push_back(rule_command(r.chain, expr, r.comment));
  }
  return "{\"nftables\":[" + join(cmds, ",") + "]}";
}

std::string render_delete() {
  return "{\"nftables\":[{\"add\":" + table_object() + "},{\"delete\":" + table_object() + "}]}";
}

bool declares_nothing(const JsonValue& section) {
  if (!section.IsObject()) return false;
  for (const auto& m : section.GetObject()) {
    if (std::string_view(m.name.GetString()) != "mode") return false;
  }
  return true;
}

CurrentTable parse_table(const std::optional<std::string>& listing) {
  CurrentTable t;
  if (!listing) return t;
  t.present = true;
  JsonDoc doc = parse_json(*listing);
  const JsonValue* items = member(doc, "nftables");
  if (!items || !items->IsArray()) return t;
  std::map<std::string, std::vector<const JsonValue*>> by_chain;
  std::set<std::string> base;
  for (const auto& item : items->GetArray()) {
    if (auto* chain = member(item, "chain")) {
      std::string name = get_string(*chain, "name");
      if (kChains.count(name) && get_string(*chain, "hook") == name &&
          get_string(*chain, "type") == "filter" && get_int(*chain, "prio", -1) == 0) {
        base.insert(name);
        std::string policy = get_string(*chain, "policy", "accept");
        t.section.policy[name] = policy;
      } else {
        t.other_chains.push_back(name);
      }
    } else if (auto* rule = member(item, "rule")) {
      by_chain[get_string(*rule, "chain")].push_back(rule);
    }
  }
  // A missing base chain accepts everything: report the policy as "none" so it differs from any document.
  for (const auto& c : kChains) {
    if (!base.count(c)) t.section.policy[c] = "missing";
  }
  // The builtin rules count as present when every chain starts with exactly them.
  auto builtins = builtin_rules();
  std::map<std::string, size_t> skip;
  bool all = true;
  for (const auto& b : builtins) {
    auto& rules = by_chain[b.chain];
    size_t& n = skip[b.chain];
    if (n < rules.size() && get_string(*rules[n], "comment") == b.comment) {
      ++n;
    } else {
      all = false;
    }
  }
  t.section.builtin_rules = all;
  if (!all) skip.clear();
  for (const char* chain : {"input", "forward", "output"}) {
    const auto& rules = by_chain[chain];
    for (size_t i = skip[chain]; i < rules.size(); ++i) {
      if (auto r = parse_rule_expr(*rules[i])) {
        t.section.rules.push_back(*r);
      } else {
        Rule raw;
        raw.chain = chain;
        raw.comment = get_string(*rules[i], "comment");
        const JsonValue* expr = member(*rules[i], "expr");
        raw.nft = expr ? to_json(*expr) : "[]";
        t.section.rules.push_back(raw);
      }
    }
  }
  // A chain op-dbus does not define is drift too (apply deletes it).
  for (const auto& name : t.other_chains) {
    Rule raw;
    raw.nft = "chain " + name;
    t.section.rules.push_back(raw);
  }
  return t;
}

}  // namespace opdbus::firewall
