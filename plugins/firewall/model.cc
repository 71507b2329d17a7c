#include "firewall/model.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>

#include "json_object.h"
#include "text.h"

namespace opdbus::firewall {
namespace {

const std::set<std::string> kChains = {"input", "forward", "output"};
const std::set<std::string> kActions = {"accept", "drop", "reject"};
const std::set<std::string> kProtos = {"tcp", "udp", "sctp", "icmp", "icmpv6"};
const std::set<std::string> kPortProtos = {"tcp", "udp", "sctp"};
const std::set<std::string> kSetTypes = {"ipv4_addr", "ipv6_addr", "inet_service"};
const std::set<std::string> kLimitUnits = {"second", "minute", "hour", "day", "week"};
// The type names nft knows (nft describe icmp type / icmpv6 type).
const std::set<std::string> kIcmpTypes = {
    "echo-reply",        "destination-unreachable", "source-quench",       "redirect",
    "echo-request",      "router-advertisement",    "router-solicitation", "time-exceeded",
    "parameter-problem", "timestamp-request",       "timestamp-reply",     "info-request",
    "info-reply",        "address-mask-request",    "address-mask-reply"};
const std::set<std::string> kIcmpv6Types = {
    "destination-unreachable", "packet-too-big",      "time-exceeded",
    "parameter-problem",       "echo-request",        "echo-reply",
    "mld-listener-query",      "mld-listener-report", "mld-listener-done",
    "nd-router-solicit",       "nd-router-advert",    "nd-neighbor-solicit",
    "nd-neighbor-advert",      "nd-redirect",         "router-renumbering",
    "ind-neighbor-solicit",    "ind-neighbor-advert", "mld2-listener-report"};

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

// Set names become nft identifiers: a letter, then letters, digits and '_', at most 32 bytes.
std::optional<std::string> set_name_problem(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 32 && std::isalpha(static_cast<unsigned char>(name[0]));
  for (unsigned char c : name) ok = ok && (std::isalnum(c) || c == '_');
  if (!ok) return "a set name (a letter, then letters, digits or '_', at most 32 bytes)";
  return std::nullopt;
}

// The kernel keeps at most 127 bytes of a log prefix (NF_LOG_PREFIXLEN); it reaches syslog as is.
std::optional<std::string> log_prefix_problem(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > 127) return "a log prefix of 1-127 bytes";
  for (unsigned char c : prefix) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      return "a log prefix of printable ASCII without double quotes or backslashes";
    }
  }
  return std::nullopt;
}

bool digits_only(std::string_view s) {
  return !s.empty() && s.size() <= 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "10/second", or {"rate": 10, "per": "second", "burst": 20}.
std::optional<Limit> parse_limit(const JsonValue& v, std::string* why) {
  *why =
      "a rate like \"10/second\" (second, minute, hour, day, week) or {\"rate\": 10, \"per\": "
      "\"second\", \"burst\": 5}, rate and burst 1-4294967295";
  Limit l;
  if (v.IsString()) {
    auto parts = split(v.GetString(), '/');
    if (parts.size() != 2 || !digits_only(trim(parts[0]))) return std::nullopt;
    l.rate = std::stoll(trim(parts[0]));
    l.per = lower(trim(parts[1]));
  } else if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      std::string k = m.name.GetString();
      if (k == "rate" && m.value.IsInt64()) {
        l.rate = m.value.GetInt64();
      } else if (k == "burst" && m.value.IsInt64()) {
        l.burst = m.value.GetInt64();
      } else if (k == "per" && m.value.IsString()) {
        l.per = lower(m.value.GetString());
      } else {
        return std::nullopt;
      }
    }
  } else {
    return std::nullopt;
  }
  if (l.rate < 1 || l.rate > 4294967295LL || l.burst < 1 || l.burst > 4294967295LL ||
      !kLimitUnits.count(l.per))
    return std::nullopt;
  // The kernel (nft_limit_init) keeps (nanoseconds per unit / rate) x burst in 64 bits and refuses the rule
  // with EOVERFLOW when it does not fit: found here, not at apply.
  static const std::map<std::string, uint64_t> kUnitSeconds = {
      {"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}, {"week", 604800}};
  unsigned __int128 tokens =
      static_cast<unsigned __int128>(kUnitSeconds.at(l.per) * 1000000000ULL / static_cast<uint64_t>(l.rate)) *
      static_cast<uint64_t>(l.burst);
  if (tokens > std::numeric_limits<uint64_t>::max()) {
    *why = "a burst the kernel can hold: (nanoseconds per " + l.per + " / rate) x burst must fit in 64 bits";
    return std::nullopt;
  }
  return l;
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
    } else if (key == "port" && val.IsString() && starts_with(val.GetString(), "@")) {
      r.port_set = val.GetString();
      if (auto why = set_name_problem(r.port_set.substr(1))) {
        problem(key, "expected \"@\" and " + *why + "; found " + json_quoted(r.port_set));
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
      if (texts.size() == 1 && starts_with(texts[0], "@")) {
        if (auto why = set_name_problem(texts[0].substr(1))) {
          problem(key, "expected \"@\" and " + *why + "; found " + json_quoted(texts[0]));
        }
        out.push_back(texts[0]);
        continue;
      }
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
      // nft merges overlapping and adjacent networks of a rule's list: compare what it will hold.
      if (families.size() == 1 && out.size() > 1) out = address_cover(out);
    } else if (key == "iface" || key == "iif" || key == "oif") {
      if (auto s = str()) {
        auto& field = key == "oif" ? r.oiface : r.iface;
        if (!field.empty()) problem(key, "\"iface\" and \"iif\" are the same property; give one");
        field = *s;
        if (auto why = iface_problem(*s)) problem(key, "expected " + *why + "; found " + json_quoted(*s));
      }
    } else if (key == "icmp_type") {
      bool bad = false;
      r.icmp_types = strings_of(val, &bad);
      if (bad) problem(key, "expected an ICMP type name, or a non-empty list of them");
      for (auto& t : r.icmp_types) t = lower(t);
      std::sort(r.icmp_types.begin(), r.icmp_types.end());
      r.icmp_types.erase(std::unique(r.icmp_types.begin(), r.icmp_types.end()), r.icmp_types.end());
    } else if (key == "limit") {
      std::string why;
      r.limit = parse_limit(val, &why);
      if (!r.limit) problem(key, "expected " + why + "; found " + to_json(val));
    } else if (key == "counter") {
      if (!val.IsBool()) {
        problem(key, "expected true or false");
      } else {
        r.counter = val.GetBool();
      }
    } else if (key == "log") {
      if (val.IsBool()) {
        r.log = val.GetBool();
      } else if (val.IsString() || (val.IsObject() && member(val, "prefix") && val.MemberCount() == 1 &&
                                    member(val, "prefix")->IsString())) {
        const JsonValue& p = val.IsString() ? val : *member(val, "prefix");
        r.log = true;
        r.log_prefix.assign(p.GetString(), p.GetStringLength());
        if (auto why = log_prefix_problem(r.log_prefix)) {
          problem(key, "expected " + *why + "; found " + json_quoted(r.log_prefix));
        }
      } else {
        problem(key, "expected true, a log prefix, or {\"prefix\": \"...\"}; found " + to_json(val));
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
    } else {
      problem(key, "unknown rule property " + json_quoted(key));
    }
  }
  if (r.action.empty() && r.nft.empty()) problem("", "a rule needs an \"action\" (accept, drop or reject)");
  if ((!r.ports.empty() || !r.port_set.empty()) && !kPortProtos.count(r.proto)) {
    problem("port", "a \"port\" needs \"proto\" tcp, udp or sctp");
  }
  if (!r.icmp_types.empty()) {
    if (r.proto != "icmp" && r.proto != "icmpv6") {
      problem("icmp_type", "an \"icmp_type\" needs \"proto\" icmp or icmpv6");
    } else {
      const auto& known = r.proto == "icmp" ? kIcmpTypes : kIcmpv6Types;
      for (const auto& t : r.icmp_types) {
        if (!known.count(t)) {
          problem("icmp_type", "expected an " + r.proto + " type name (" +
                                   join(std::vector<std::string>(known.begin(), known.end())) + "); found " +
                                   json_quoted(t));
        }
      }
    }
  }
  if (!r.oiface.empty() && r.chain == "input") {
    problem("oif", "\"oif\" is the outgoing interface; chain input has none");
  }
  auto fam_of = [](const std::vector<std::string>& v) {
    return v.empty() || starts_with(v.front(), "@") ? 0 : address_family(v.front());
  };
  int src = fam_of(r.source);
  int dst = fam_of(r.destination);
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

// `ranges`: also {"range": [FROM, TO]} (as the networks covering it), which nft lists for a run of merged
// networks in a rule's anonymous set (never in a named set op-dbus writes).
bool parse_address_right(const JsonValue& v, std::vector<std::string>& out, bool ranges = false) {
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
    if (auto* range = member(v, "range"); ranges && range && range->IsArray() && range->Size() == 2 &&
                                          (*range)[0].IsString() && (*range)[1].IsString()) {
      auto nets = range_networks((*range)[0].GetString(), (*range)[1].GetString());
      if (nets.empty()) return false;
      out.insert(out.end(), nets.begin(), nets.end());
      return true;
    }
    if (auto* set = member(v, "set"); set && set->IsArray()) {
      for (const auto& e : set->GetArray()) {
        if (!parse_address_right(e, out, ranges)) return false;
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
    if (kind == "counter" && !r.counter) {
      r.counter = true;
      continue;
    }
    if (kind == "log" && !r.log) {
      r.log = true;
      if (body.IsObject()) {
        for (const auto& m : body.GetObject()) {
          if (std::string_view(m.name.GetString()) != "prefix" || !m.value.IsString()) return std::nullopt;
          r.log_prefix = m.value.GetString();
        }
      } else if (!body.IsNull()) {
        return std::nullopt;
      }
      continue;
    }
    if (kind == "limit" && !r.limit && body.IsObject()) {
      Limit l;
      for (const auto& m : body.GetObject()) {
        std::string k = m.name.GetString();
        if (k == "rate" && m.value.IsInt64()) {
          l.rate = m.value.GetInt64();
        } else if (k == "burst" && m.value.IsInt64()) {
          l.burst = m.value.GetInt64();
        } else if (k == "per" && m.value.IsString()) {
          l.per = m.value.GetString();
        } else {
          return std::nullopt;  // "inv" (over), byte rates: not what op-dbus writes
        }
      }
      if (!kLimitUnits.count(l.per)) return std::nullopt;
      r.limit = l;
      continue;
    }
    if (kind != "match" || get_string(body, "op") != "==") return std::nullopt;
    const JsonValue* left = member(body, "left");
    const JsonValue* right = member(body, "right");
    if (!left || !right || !left->IsObject()) return std::nullopt;
    auto set_ref = [&]() { return right->IsString() && starts_with(right->GetString(), "@"); };
    if (auto* meta = member(*left, "meta")) {
      std::string key = get_string(*meta, "key");
      if (key == "iifname" && right->IsString() && r.iface.empty()) {
        r.iface = right->GetString();
      } else if (key == "oifname" && right->IsString() && r.oiface.empty()) {
        r.oiface = right->GetString();
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
        if (!out.empty()) return std::nullopt;
        if (set_ref()) {
          out.push_back(right->GetString());
          continue;
        }
        if (!parse_address_right(*right, out, true)) return std::nullopt;
        for (const auto& a : out) {
          if (address_family(a) != (protocol == "ip" ? 4 : 6)) return std::nullopt;
        }
        out = address_cover(out);
      } else if (kPortProtos.count(protocol) && field == "dport" && r.ports.empty() && r.port_set.empty() &&
                 (r.proto.empty() || r.proto == protocol)) {
        r.proto = protocol;
        if (set_ref()) {
          r.port_set = right->GetString();
          continue;
        }
        if (!parse_port_right(*right, r.ports)) return std::nullopt;
        r.ports = merge_ports(r.ports);
      } else if ((protocol == "icmp" || protocol == "icmpv6") && field == "type" && r.icmp_types.empty() &&
                 (r.proto.empty() || r.proto == protocol)) {
        r.proto = protocol;
        const JsonValue* list = right;
        if (right->IsObject()) list = member(*right, "set");
        if (list && list->IsString()) {
          r.icmp_types.push_back(list->GetString());
        } else if (list && list->IsArray()) {
          for (const auto& t : list->GetArray()) {
            if (!t.IsString()) return std::nullopt;
            r.icmp_types.push_back(t.GetString());
          }
        } else {
          return std::nullopt;
        }
        std::sort(r.icmp_types.begin(), r.icmp_types.end());
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

// A nat rule of the table (chain prerouting or postrouting) as a forward or a masquerade; false when it is
// not one op-dbus writes.
bool parse_nat_rule(const JsonValue& rule, Section& s) {
  std::string chain = get_string(rule, "chain");
  const JsonValue* expr = member(rule, "expr");
  if (!expr || !expr->IsArray()) return false;
  Forward f;
  Masquerade m;
  bool done = false;
  for (const auto& e : expr->GetArray()) {
    if (!e.IsObject() || e.MemberCount() != 1 || done) return false;
    std::string kind = e.MemberBegin()->name.GetString();
    const JsonValue& body = e.MemberBegin()->value;
    if (chain == "prerouting" && kind == "dnat") {
      if (get_string(body, "family") != "ip" || !member(body, "addr") || !member(body, "addr")->IsString())
        return false;
      f.to_addr = get_string(body, "addr");
      f.to_port = static_cast<int>(get_int(body, "port", 0));
      done = true;
      continue;
    }
    if (chain == "postrouting" && kind == "masquerade") {
      if (!body.IsNull()) return false;
      done = true;
      continue;
    }
    if (kind != "match" || get_string(body, "op") != "==") return false;
    const JsonValue* left = member(body, "left");
    const JsonValue* right = member(body, "right");
    if (!left || !right || !left->IsObject()) return false;
    if (auto* meta = member(*left, "meta")) {
      std::string key = get_string(*meta, "key");
      if (chain == "prerouting" && key == "iifname" && right->IsString()) {
        f.in_interface = right->GetString();
      } else if (chain == "postrouting" && key == "oifname" && right->IsString()) {
        m.out_interface = right->GetString();
      } else {
        return false;
      }
    } else if (auto* payload = member(*left, "payload")) {
      std::string protocol = get_string(*payload, "protocol");
      std::string field = get_string(*payload, "field");
      if (chain == "prerouting" && (protocol == "tcp" || protocol == "udp") && field == "dport" &&
          right->IsInt()) {
        f.proto = protocol;
        f.port = right->GetInt();
      } else if (chain == "postrouting" && (protocol == "ip" || protocol == "ip6") && field == "saddr") {
        std::vector<std::string> a;
        if (!parse_address_right(*right, a) || a.size() != 1) return false;
        m.source = a[0];
      } else {
        return false;
      }
    } else {
      return false;
    }
  }
  if (!done) return false;
  if (chain == "prerouting") {
    if (f.proto.empty() || !f.port || !f.to_port) return false;
    s.forwards.push_back(f);
  } else {
    s.masquerade.push_back(m);
  }
  return true;
}

// A canonical address or network as (family, bytes, prefix length), for any_nested().
struct Net {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
  int len = 0;
};
std::optional<Net> net_of(const std::string& text) {
  Net n;
  auto slash = text.find('/');
  std::string a = text.substr(0, slash);
  n.family = a.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(n.family, a.c_str(), n.bytes.data()) != 1) return std::nullopt;
  int full = n.family == AF_INET ? 32 : 128;
  n.len = slash == std::string::npos ? full : std::stoi(text.substr(slash + 1));
  return n;
}

// True when one of `networks` (canonical) holds another, as network_contains() says.
bool any_nested(const std::vector<std::string>& networks) {
  std::vector<Net> nets;
  for (const auto& text : networks) {
    auto n = net_of(text);
    if (!n) return true;  // unexpected: let the pairwise search decide
    nets.push_back(*n);
  }
  auto key = [](const Net& n) { return std::tie(n.family, n.bytes, n.len); };
  std::sort(nets.begin(), nets.end(), [&](const Net& a, const Net& b) { return key(a) < key(b); });
  for (size_t k = 1; k < nets.size(); ++k) {
    const Net& a = nets[k - 1];
    const Net& b = nets[k];
    if (a.family != b.family || b.len < a.len) continue;
    bool inside = true;
    for (int bit = 0; bit < a.len && inside; ++bit) {
      inside = !((a.bytes[bit / 8] ^ b.bytes[bit / 8]) & (0x80 >> (bit % 8)));
    }
    if (inside) return true;
  }
  return false;
}

NamedSet parse_set(const JsonValue& v, const std::vector<std::string>& at, std::vector<Problem>& out) {
  NamedSet set;
  auto problem = [&](const std::string& key, const std::string& message) {
    auto tokens = at;
    if (!key.empty()) tokens.push_back(key);
    out.push_back({tokens, message});
  };
  if (!v.IsObject()) {
    problem("", "expected a set: {\"type\": \"ipv4_addr\", \"elements\": [...]}");
    return set;
  }
  for (const auto& m : v.GetObject()) {
    std::string key = m.name.GetString();
    if (key != "type" && key != "elements") problem(key, "unknown set property " + json_quoted(key));
  }
  set.type = get_string(v, "type");
  if (!kSetTypes.count(set.type)) {
    problem("type", "expected one of ipv4_addr, ipv6_addr, inet_service; found " +
                        (member(v, "type") ? to_json(*member(v, "type")) : std::string("nothing")));
    return set;
  }
  const JsonValue* elements = member(v, "elements");
  if (!elements) return set;
  if (!elements->IsArray()) {
    problem("elements", "expected a list of elements");
    return set;
  }
  if (set.type == "inet_service") {
    bool bad = false;
    add_ports(*elements, set.ports, &bad);
    if (bad)
      problem("elements", "expected ports 1-65535 or ranges \"1000-2000\"; found " + to_json(*elements));
    set.ports = merge_ports(set.ports);
    return set;
  }
  int want = set.type == "ipv4_addr" ? 4 : 6;
  for (rapidjson::SizeType i = 0; i < elements->Size(); ++i) {
    const JsonValue& e = (*elements)[i];
    std::string why;
    std::optional<std::string> c;
    if (e.IsString()) c = canonical_address(e.GetString(), &why);
    if (!c) {
      problem("elements", "expected an address or network (" + (why.empty() ? "a string" : why) +
                              "); found " + to_json(e));
      continue;
    }
    if (address_family(*c) != want) {
      problem("elements", "expected an IPv" + std::to_string(want) + " address (the set's type is " +
                              set.type + "); found " + json_quoted(*c));
      continue;
    }
    set.addresses.push_back(*c);
  }
  std::sort(set.addresses.begin(), set.addresses.end());
  set.addresses.erase(std::unique(set.addresses.begin(), set.addresses.end()), set.addresses.end());
  // An interval set refuses overlapping elements: say which, instead of the kernel's "conflicting intervals".
  // Networks are either disjoint or nested, so in the order of (address, prefix length) one that holds
  // another is followed by one it holds: a sort finds whether any do, and only then are the pairs searched
  // for the message (a set of thousands of elements would otherwise cost millions of comparisons).
  if (!any_nested(set.addresses)) return set;
  for (size_t i = 0; i < set.addresses.size(); ++i) {
    for (size_t j = 0; j < set.addresses.size(); ++j) {
      if (i != j && network_contains(set.addresses[i], set.addresses[j])) {
        problem("elements", "elements that do not overlap; " + json_quoted(set.addresses[i]) + " contains " +
                                json_quoted(set.addresses[j]));
        return set;
      }
    }
  }
  return set;
}

int port_number(const JsonValue& v) {
  if (v.IsInt64() && v.GetInt64() >= 1 && v.GetInt64() <= 65535) return static_cast<int>(v.GetInt64());
  if (v.IsString() && all_digits(v.GetString())) {
    int n = std::stoi(v.GetString());
    if (n >= 1 && n <= 65535) return n;
  }
  return 0;
}

void parse_nat(const JsonValue& v, Section& s, std::vector<Problem>& out) {
  if (!v.IsObject()) {
    out.push_back({{"nat"}, "expected an object: {\"masquerade\": [...], \"forwards\": [...]}"});
    return;
  }
  auto iface = [&](const JsonValue& item, const char* key, const std::vector<std::string>& at) {
    const JsonValue* x = member(item, key);
    if (!x) return std::string();
    std::string name = x->IsString() ? x->GetString() : "";
    auto why = x->IsString() ? iface_problem(name) : std::optional<std::string>("an interface name");
    if (why) {
      auto t = at;
      t.push_back(key);
      out.push_back({t, "expected " + *why + "; found " + to_json(*x)});
    }
    return name;
  };
  for (const auto& m : v.GetObject()) {
    std::string key = m.name.GetString();
    const JsonValue& list = m.value;
    if (key != "masquerade" && key != "forwards") {
      out.push_back(
          {{"nat", key}, "unknown NAT property " + json_quoted(key) + "; expected masquerade, forwards"});
      continue;
    }
    if (!list.IsArray()) {
      out.push_back({{"nat", key}, "expected a list"});
      continue;
    }
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
      const JsonValue& item = list[i];
      std::vector<std::string> at = {"nat", key, std::to_string(i)};
      if (!item.IsObject()) {
        out.push_back({at, "expected an object"});
        continue;
      }
      auto unknown = [&](std::set<std::string> allowed) {
        for (const auto& f : item.GetObject()) {
          std::string k = f.name.GetString();
          if (!allowed.count(k)) {
            auto t = at;
            t.push_back(k);
            out.push_back({t, "unknown property " + json_quoted(k)});
          }
        }
      };
      if (key == "masquerade") {
        unknown({"source", "out_interface"});
        Masquerade mq;
        if (const JsonValue* src = member(item, "source")) {
          std::string why;
          std::optional<std::string> c;
          if (src->IsString()) c = canonical_address(src->GetString(), &why);
          if (!c) {
            out.push_back({{"nat", key, std::to_string(i), "source"},
                           "expected an address or network (" + (why.empty() ? "a string" : why) +
                               "); found " + to_json(*src)});
          } else {
            mq.source = *c;
          }
        }
        mq.out_interface = iface(item, "out_interface", at);
        s.masquerade.push_back(mq);
      } else {
        unknown({"proto", "port", "to", "in_interface"});
        Forward f;
        f.proto = lower(get_string(item, "proto"));
        if (f.proto != "tcp" && f.proto != "udp") {
          out.push_back({{"nat", key, std::to_string(i), "proto"}, "expected \"tcp\" or \"udp\""});
        }
        const JsonValue* port = member(item, "port");
        f.port = port ? port_number(*port) : 0;
        if (!f.port) out.push_back({{"nat", key, std::to_string(i), "port"}, "expected a port 1-65535"});
        std::string to = get_string(item, "to");
        std::string addr = to;
        if (auto colon = to.rfind(':'); colon != std::string::npos) {
          addr = to.substr(0, colon);
          if (all_digits(to.substr(colon + 1))) f.to_port = std::stoi(to.substr(colon + 1));
          if (f.to_port < 1 || f.to_port > 65535) f.to_port = -1;
        }
        std::string why;
        auto c = canonical_address(addr, &why);
        if (!c || c->find('/') != std::string::npos || address_family(*c) != 4 || f.to_port < 0) {
          out.push_back(
              {{"nat", key, std::to_string(i), "to"},
               "expected an IPv4 address, optionally with a port: \"10.10.0.5\" or \"10.10.0.5:80\"; "
               "found " +
                   (member(item, "to") ? to_json(*member(item, "to")) : std::string("nothing"))});
        } else {
          f.to_addr = *c;
        }
        if (f.to_port <= 0) f.to_port = f.port;
        f.in_interface = iface(item, "in_interface", at);
        s.forwards.push_back(f);
      }
    }
  }
}

}  // namespace

namespace {

using u128 = unsigned __int128;

// A canonical address or network as [lo, hi] of its family (4 or 6).
struct AddressRange {
  int family = 0;
  u128 lo = 0;
  u128 hi = 0;
};

std::optional<AddressRange> address_range(const std::string& text) {
  auto slash = text.find('/');
  std::string a = text.substr(0, slash);
  unsigned char buf[16] = {};
  int fam = a.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(fam, a.c_str(), buf) != 1) return std::nullopt;
  int full = fam == AF_INET ? 32 : 128;
  int len = full;
  if (slash != std::string::npos) {
    std::string l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3 || !std::all_of(l.begin(), l.end(), ::isdigit)) return std::nullopt;
    len = std::stoi(l);
    if (len > full) return std::nullopt;
  }
  u128 v = 0;
  for (int i = 0; i < full / 8; ++i) v = (v << 8) | buf[i];
  u128 host = full - len >= 128 ? ~u128(0) : (u128(1) << (full - len)) - 1;
  return AddressRange{fam == AF_INET ? 4 : 6, v & ~host, v | host};
}

std::string network_text(int family, u128 value, int len) {
  int full = family == 4 ? 32 : 128;
  unsigned char buf[16] = {};
  for (int i = full / 8; i-- > 0;) {
    buf[i] = static_cast<unsigned char>(value & 0xff);
    value >>= 8;
  }
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, buf, text, sizeof text);
  return len == full ? std::string(text) : std::string(text) + "/" + std::to_string(len);
}

// The fewest networks covering exactly [lo, hi].
void split_range(int family, u128 lo, u128 hi, std::vector<std::string>& out) {
  int full = family == 4 ? 32 : 128;
  for (;;) {
    int k = 0;  // the largest block at lo that ends at or before hi: 2^k addresses
    while (k < full && !((lo >> k) & 1)) {  // lo is aligned to 2^(k+1): does that block fit?
      if (k + 1 == 128) {
        if (hi != ~u128(0)) break;
      } else if (lo + ((u128(1) << (k + 1)) - 1) > hi) {
        break;
      }
      ++k;
    }
    out.push_back(network_text(family, lo, full - k));
    u128 last = k >= 128 ? ~u128(0) : lo + ((u128(1) << k) - 1);
    if (last >= hi) return;
    lo = last + 1;
  }
}

}  // namespace

std::vector<std::string> address_cover(const std::vector<std::string>& list) {
  std::vector<AddressRange> ranges;
  for (const auto& text : list) {
    auto r = address_range(text);
    if (!r || (!ranges.empty() && r->family != ranges.front().family)) return list;
    ranges.push_back(*r);
  }
  std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) { return a.lo < b.lo; });
  std::vector<std::string> out;
  for (size_t i = 0; i < ranges.size();) {
    u128 lo = ranges[i].lo;
    u128 hi = ranges[i].hi;
    size_t j = i + 1;
    u128 max = ranges[i].family == 4 ? u128(0xffffffffu) : ~u128(0);
    while (j < ranges.size() && (hi == max || ranges[j].lo <= hi + 1)) {
      hi = std::max(hi, ranges[j].hi);
      ++j;
    }
    split_range(ranges[i].family, lo, hi, out);
    i = j;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> range_networks(const std::string& from, const std::string& to) {
  auto a = address_range(from);
  auto b = address_range(to);
  if (!a || !b || a->family != b->family || a->lo != a->hi || b->lo != b->hi || b->lo < a->lo) return {};
  std::vector<std::string> out;
  split_range(a->family, a->lo, b->lo, out);
  return out;
}

bool network_contains(const std::string& network, const std::string& address) {
  auto bits = [](const std::string& text, unsigned char* buf, int* len) {
    std::string a = text;
    auto slash = text.find('/');
    if (slash != std::string::npos) a = text.substr(0, slash);
    int fam = a.find(':') == std::string::npos ? AF_INET : AF_INET6;
    if (inet_pton(fam, a.c_str(), buf) != 1) return 0;
    int full = fam == AF_INET ? 32 : 128;
    *len = slash == std::string::npos ? full : std::stoi(text.substr(slash + 1));
    return fam;
  };
  unsigned char n[16] = {}, a[16] = {};
  int nl = 0, al = 0;
  int nf = bits(network, n, &nl), af = bits(address, a, &al);
  if (!nf || nf != af || al < nl) return false;
  for (int b = 0; b < nl; ++b) {
    if ((n[b / 8] ^ a[b / 8]) & (0x80 >> (b % 8))) return false;
  }
  return true;
}

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
  std::vector<size_t> doc_index;  // the document's index of each rule (rules are sorted by chain)
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
      doc_index.resize(s.rules.size());
      for (size_t i = 0; i < doc_index.size(); ++i) doc_index[i] = i;
      std::stable_sort(doc_index.begin(), doc_index.end(),
                       [&](size_t a, size_t b) { return rank(s.rules[a]) < rank(s.rules[b]); });
      std::vector<Rule> sorted;
      for (size_t i : doc_index) sorted.push_back(std::move(s.rules[i]));
      s.rules = std::move(sorted);
    } else if (key == "sets") {
      if (!val.IsObject()) {
        out.push_back({{key}, "expected an object of named sets"});
        continue;
      }
      for (const auto& m2 : val.GetObject()) {
        std::string name = m2.name.GetString();
        if (auto why = set_name_problem(name)) {
          out.push_back({{key, name}, "expected " + *why + "; found " + json_quoted(name)});
          continue;
        }
        s.sets[name] = parse_set(m2.value, {key, name}, out);
      }
    } else if (key == "nat") {
      parse_nat(val, s, out);
    } else if (key == "persist") {
      if (!val.IsBool()) {
        out.push_back({{key}, "expected true or false"});
      } else {
        s.persist = val.GetBool();
      }
    } else if (key == "confirm_timeout" || key == "lockout_protection") {
      out.push_back({{key}, "not supported yet: lockout protection / confirm timeout for the firewall"});
    } else {
      out.push_back({{key}, "unknown property " + json_quoted(key)});
    }
  }
  s.nat = !s.masquerade.empty() || !s.forwards.empty();
  s.dnat_accept = !s.forwards.empty();
  // References to named sets: the set exists and holds what the rule compares it with.
  for (size_t i = 0; i < s.rules.size(); ++i) {
    const Rule& r = s.rules[i];
    std::vector<std::string> at = {"rules", std::to_string(i < doc_index.size() ? doc_index[i] : i)};
    auto ref = [&](const std::vector<std::string>& list, const char* key) {
      if (list.empty() || !starts_with(list.front(), "@")) return 0;
      auto it = s.sets.find(list.front().substr(1));
      if (it == s.sets.end()) {
        out.push_back(
            {{at[0], at[1], key}, "no set " + json_quoted(list.front().substr(1)) + " in \"sets\""});
        return 0;
      }
      if (it->second.type == "inet_service") {
        out.push_back({{at[0], at[1], key}, "set " + json_quoted(it->first) + " holds ports, not addresses"});
        return 0;
      }
      return it->second.type == "ipv4_addr" ? 4 : 6;
    };
    int src = ref(r.source, "source");
    int dst = ref(r.destination, "destination");
    auto fam = [&](const std::vector<std::string>& l, int f) {
      return f ? f : l.empty() || starts_with(l.front(), "@") ? 0 : address_family(l.front());
    };
    int a = fam(r.source, src), b = fam(r.destination, dst);
    if ((src || dst) && a && b && a != b) {
      out.push_back({{at[0], at[1], "destination"}, "source and destination are of different IP families"});
    }
    int f = a ? a : b;
    if ((src || dst) && ((r.proto == "icmp" && f == 6) || (r.proto == "icmpv6" && f == 4))) {
      out.push_back({{at[0], at[1], "proto"}, r.proto + " never matches the set's addresses"});
    }
    if (!r.port_set.empty()) {
      auto it = s.sets.find(r.port_set.substr(1));
      if (it == s.sets.end()) {
        out.push_back(
            {{at[0], at[1], "port"}, "no set " + json_quoted(r.port_set.substr(1)) + " in \"sets\""});
      } else if (it->second.type != "inet_service") {
        out.push_back(
            {{at[0], at[1], "port"}, "set " + json_quoted(it->first) + " holds addresses, not ports"});
      }
    }
  }
  return s;
}

JsonDoc rule_to_json(const Rule& r) {
  JsonObject o;
  if (!r.nft.empty()) {
    if (r.chain != "input" && !r.chain.empty()) o.set("chain", r.chain);
    o.set("nft", r.nft);
    if (!r.comment.empty()) o.set("comment", r.comment);
    return o.take();
  }
  if (r.chain != "input") o.set("chain", r.chain);
  if (!r.iface.empty()) o.set("iface", r.iface);
  if (!r.oiface.empty()) o.set("oif", r.oiface);
  auto list = [&](const char* key, const std::vector<std::string>& items) {
    if (items.size() == 1) o.set(key, items.front());
    if (items.size() > 1) o.set(key, items);
  };
  list("source", r.source);
  list("destination", r.destination);
  if (!r.proto.empty()) o.set("proto", r.proto);
  if (!r.port_set.empty()) {
    o.set("port", r.port_set);
  } else if (r.ports.size() == 1 && r.ports[0].lo == r.ports[0].hi) {
    o.set("port", r.ports[0].lo);
  } else if (r.ports.size() == 1) {
    o.set("port", port_text(r.ports[0]));
  } else if (!r.ports.empty()) {
    std::vector<std::string> parts;
    for (const auto& p : r.ports) parts.push_back(port_text(p));
    o.set("port", join(parts, ","));
  }
  list("icmp_type", r.icmp_types);
  if (r.limit) {
    std::string text = std::to_string(r.limit->rate) + "/" + r.limit->per;
    if (r.limit->burst == 5) {
      o.set("limit", text);
    } else {
      JsonObject l;
      l.set("rate", static_cast<int64_t>(r.limit->rate));
      l.set("per", r.limit->per);
      l.set("burst", static_cast<int64_t>(r.limit->burst));
      o.set("limit", l.take());
    }
  }
  if (r.counter) o.set("counter", true);
  if (r.log && r.log_prefix.empty()) o.set("log", true);
  if (r.log && !r.log_prefix.empty()) o.set("log", r.log_prefix);
  o.set("action", r.action);
  if (!r.comment.empty()) o.set("comment", r.comment);
  return o.take();
}

JsonDoc set_to_json(const NamedSet& set) {
  JsonObject o;
  o.set("type", set.type);
  std::vector<std::string> elements;
  if (set.type == "inet_service") {
    JsonDoc list(rapidjson::kArrayType);
    for (const auto& p : set.ports) {
      if (p.lo == p.hi) {
        list.PushBack(p.lo, list.GetAllocator());
      } else {
        list.PushBack(str_value(port_text(p), list.GetAllocator()), list.GetAllocator());
      }
    }
    o.set("elements", std::move(list));
  } else {
    o.set("elements", set.addresses);
  }
  return o.take();
}

JsonDoc nat_to_json(const Section& s) {
  JsonDoc masq(rapidjson::kArrayType);
  for (const auto& m : s.masquerade) {
    JsonObject o;
    if (!m.source.empty()) o.set("source", m.source);
    if (!m.out_interface.empty()) o.set("out_interface", m.out_interface);
    masq.PushBack(JsonValue(o.take(), masq.GetAllocator()), masq.GetAllocator());
  }
  JsonDoc fwd(rapidjson::kArrayType);
  for (const auto& f : s.forwards) {
    JsonObject o;
    o.set("proto", f.proto);
    o.set("port", static_cast<int64_t>(f.port));
    o.set("to", f.to_addr + ":" + std::to_string(f.to_port));
    if (!f.in_interface.empty()) o.set("in_interface", f.in_interface);
    fwd.PushBack(JsonValue(o.take(), fwd.GetAllocator()), fwd.GetAllocator());
  }
  JsonObject nat;
  nat.set("masquerade", std::move(masq));
  nat.set("forwards", std::move(fwd));
  return nat.take();
}

JsonDoc section_to_json(const Section& s) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  if (s.observe) d.AddMember("mode", "observe", a);
  d.AddMember("builtin_rules", s.builtin_rules, a);
  d.AddMember("persist", s.persist, a);
  JsonValue policy(rapidjson::kObjectType);
  for (const auto& [chain, p] : s.policy) policy.AddMember(str_value(chain, a), str_value(p, a), a);
  d.AddMember("default_policy", policy, a);
  if (!s.sets.empty()) {
    JsonValue sets(rapidjson::kObjectType);
    for (const auto& [name, set] : s.sets)
      sets.AddMember(str_value(name, a), JsonValue(set_to_json(set), a), a);
    d.AddMember("sets", sets, a);
  }
  if (s.nat || !s.masquerade.empty() || !s.forwards.empty())
    d.AddMember("nat", JsonValue(nat_to_json(s), a), a);
  JsonValue rules(rapidjson::kArrayType);
  for (const auto& r : s.rules) rules.PushBack(JsonValue(rule_to_json(r), a), a);
  d.AddMember("rules", rules, a);
  return d;
}

namespace {

std::string chain_command(const std::string& name, const char* type, const std::string& hook, int prio,
                          const std::string& policy) {
  return std::string("{\"add\":{\"chain\":{\"family\":\"") + kFamily + "\",\"table\":\"" + kTable +
         "\",\"name\":" + json_quoted(name) + ",\"type\":\"" + type + "\",\"hook\":" + json_quoted(hook) +
         ",\"prio\":" + std::to_string(prio) + ",\"policy\":" + json_quoted(policy) + "}}}";
}

std::string iface_match(const char* key, const std::string& name) {
  return match(std::string("{\"meta\":{\"key\":\"") + key + "\"}}", json_quoted(name));
}

// The family of a rule's addresses: 4, 6, or 0 (none); "@NAME" takes the set's type.
int rule_family(const Section& s, const std::vector<std::string>& list) {
  if (list.empty()) return 0;
  if (starts_with(list.front(), "@")) {
    auto it = s.sets.find(list.front().substr(1));
    return it != s.sets.end() && it->second.type == "ipv6_addr" ? 6 : 4;
  }
  return address_family(list.front());
}

std::string set_command(const std::string& name, const NamedSet& set) {
  std::vector<std::string> elem;
  for (const auto& a : set.addresses) elem.push_back(address_value(a));
  for (const auto& p : set.ports) elem.push_back(port_value(p));
  std::string cmd = std::string("{\"add\":{\"set\":{\"family\":\"") + kFamily + "\",\"table\":\"" + kTable +
                    "\",\"name\":" + json_quoted(name) + ",\"type\":" + json_quoted(set.type) +
                    ",\"flags\":[\"interval\"]";
  if (!elem.empty()) cmd += ",\"elem\":[" + join(elem, ",") + "]";
  return cmd + "}}}";
}

std::vector<std::string> rule_expressions(const Section& s, const Rule& r) {
  std::vector<std::string> expr;
  if (!r.iface.empty()) expr.push_back(iface_match("iifname", r.iface));
  if (!r.oiface.empty()) expr.push_back(iface_match("oifname", r.oiface));
  auto addresses = [&](const std::vector<std::string>& list, const char* field) {
    if (list.empty()) return;
    std::string protocol = rule_family(s, list) == 4 ? "ip" : "ip6";
    std::string right =
        starts_with(list.front(), "@") ? json_quoted(list.front()) : one_or_set(list, address_value);
    expr.push_back(
        match("{\"payload\":{\"protocol\":\"" + protocol + "\",\"field\":\"" + field + "\"}}", right));
  };
  addresses(r.source, "saddr");
  addresses(r.destination, "daddr");
  if (!r.port_set.empty()) {
    expr.push_back(match("{\"payload\":{\"protocol\":" + json_quoted(r.proto) + ",\"field\":\"dport\"}}",
                         json_quoted(r.port_set)));
  } else if (!r.ports.empty()) {
    expr.push_back(match("{\"payload\":{\"protocol\":" + json_quoted(r.proto) + ",\"field\":\"dport\"}}",
                         one_or_set(r.ports, port_value)));
  } else if (!r.icmp_types.empty()) {
    expr.push_back(match("{\"payload\":{\"protocol\":" + json_quoted(r.proto) + ",\"field\":\"type\"}}",
                         one_or_set(r.icmp_types, [](const std::string& t) { return json_quoted(t); })));
  } else if (!r.proto.empty()) {
    expr.push_back(
        match("{\"meta\":{\"key\":\"l4proto\"}}", json_quoted(r.proto == "icmpv6" ? "ipv6-icmp" : r.proto)));
  }
  if (r.limit) {
    expr.push_back("{\"limit\":{\"rate\":" + std::to_string(r.limit->rate) + ",\"burst\":" +
                   std::to_string(r.limit->burst) + ",\"per\":" + json_quoted(r.limit->per) + "}}");
  }
  if (r.counter) expr.push_back("{\"counter\":null}");
  if (r.log) {
    expr.push_back(r.log_prefix.empty() ? "{\"log\":null}"
                                        : "{\"log\":{\"prefix\":" + json_quoted(r.log_prefix) + "}}");
  }
  expr.push_back("{\"" + r.action + "\":null}");
  return expr;
}

}  // namespace

std::string render_batch(const Section& s) {
  std::vector<std::string> cmds;
  // add + delete + add: whatever the table held (stale chains and sets, objects made by hand) goes, and the
  // table is made again, in the one transaction.
  cmds.push_back("{\"add\":" + table_object() + "}");
  cmds.push_back("{\"delete\":" + table_object() + "}");
  cmds.push_back("{\"add\":" + table_object() + "}");
  for (const char* chain : {"input", "forward", "output"}) {
    cmds.push_back(chain_command(chain, "filter", chain, 0, s.policy.at(chain)));
  }
  if (s.nat) {
    cmds.push_back(chain_command("prerouting", "nat", "prerouting", -100, "accept"));
    cmds.push_back(chain_command("postrouting", "nat", "postrouting", 100, "accept"));
  }
  for (const auto& [name, set] : s.sets) cmds.push_back(set_command(name, set));
  if (s.builtin_rules) {
    for (const auto& b : builtin_rules()) cmds.push_back(rule_command(b.chain, b.expr, b.comment));
  }
  if (s.dnat_accept) {
    cmds.push_back(rule_command(
        "forward", {match("{\"ct\":{\"key\":\"status\"}}", "\"dnat\"", "in"), "{\"accept\":null}"},
        kDnatAcceptComment));
  }
  for (const auto& r : s.rules) cmds.push_back(rule_command(r.chain, rule_expressions(s, r), r.comment));
  for (const auto& f : s.forwards) {
    std::vector<std::string> expr;
    if (!f.in_interface.empty()) expr.push_back(iface_match("iifname", f.in_interface));
    expr.push_back(match("{\"payload\":{\"protocol\":" + json_quoted(f.proto) + ",\"field\":\"dport\"}}",
                         std::to_string(f.port)));
    expr.push_back("{\"dnat\":{\"family\":\"ip\",\"addr\":" + json_quoted(f.to_addr) +
                   ",\"port\":" + std::to_string(f.to_port) + "}}");
    cmds.push_back(rule_command("prerouting", expr, ""));
  }
  for (const auto& m : s.masquerade) {
    std::vector<std::string> expr;
    if (!m.source.empty()) {
      expr.push_back(match(std::string("{\"payload\":{\"protocol\":\"") +
                               (address_family(m.source) == 4 ? "ip" : "ip6") + "\",\"field\":\"saddr\"}}",
                           address_value(m.source)));
    }
    if (!m.out_interface.empty()) expr.push_back(iface_match("oifname", m.out_interface));
    expr.push_back("{\"masquerade\":null}");
    cmds.push_back(rule_command("postrouting", expr, ""));
  }
  return "{\"nftables\":[" + join(cmds, ",") + "]}";
}

std::string render_restore(const std::optional<std::string>& listing) {
  std::vector<std::string> cmds;
  cmds.push_back("{\"add\":" + table_object() + "}");
  cmds.push_back("{\"delete\":" + table_object() + "}");
  if (listing) {
    JsonDoc doc = parse_json(*listing);
    const JsonValue* items = member(doc, "nftables");
    if (items && items->IsArray()) {
      for (const auto& item : items->GetArray()) {
        if (!item.IsObject() || item.MemberCount() != 1) continue;
        std::string kind = item.MemberBegin()->name.GetString();
        if (kind == "metainfo") continue;
        JsonDoc obj;
        obj.CopyFrom(item.MemberBegin()->value, obj.GetAllocator());
        if (obj.IsObject()) obj.RemoveMember("handle");
        cmds.push_back("{\"add\":{" + json_quoted(kind) + ":" + to_json(obj) + "}}");
      }
    }
  }
  return "{\"nftables\":[" + join(cmds, ",") + "]}";
}

std::string render_delete() {
  return "{\"nftables\":[{\"add\":" + table_object() + "},{\"delete\":" + table_object() + "}]}";
}

bool declares_nothing(const JsonValue& section) {
  if (!section.IsObject()) return false;
  for (const auto& m : section.GetObject()) {
    std::string_view key = m.name.GetString();
    if (key != "mode" && key != "persist") return false;
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
  std::set<std::string> nat_chains;
  std::vector<Rule> raw_sets;
  for (const auto& item : items->GetArray()) {
    if (auto* chain = member(item, "chain")) {
      std::string name = get_string(*chain, "name");
      std::string type = get_string(*chain, "type");
      int64_t prio = get_int(*chain, "prio", -1);
      if (kChains.count(name) && get_string(*chain, "hook") == name && type == "filter" && prio == 0) {
        base.insert(name);
        std::string policy = get_string(*chain, "policy", "accept");
        t.section.policy[name] = policy;
      } else if ((name == "prerouting" || name == "postrouting") && get_string(*chain, "hook") == name &&
                 type == "nat" && prio == (name == "prerouting" ? -100 : 100) &&
                 get_string(*chain, "policy", "accept") == "accept") {
        nat_chains.insert(name);
      } else {
        t.other_chains.push_back(name);
      }
    } else if (auto* rule = member(item, "rule")) {
      by_chain[get_string(*rule, "chain")].push_back(rule);
    } else if (auto* set = member(item, "set")) {
      std::string name = get_string(*set, "name");
      NamedSet ns;
      ns.type = get_string(*set, "type");
      bool ok = kSetTypes.count(ns.type) && !set_name_problem(name);
      if (const JsonValue* elem = member(*set, "elem"); ok && elem) {
        ok = elem->IsArray();
        if (ok && ns.type == "inet_service") {
          for (const auto& e : elem->GetArray()) ok = ok && parse_port_right(e, ns.ports);
          ns.ports = merge_ports(ns.ports);
        } else if (ok) {
          for (const auto& e : elem->GetArray()) ok = ok && parse_address_right(e, ns.addresses);
          std::sort(ns.addresses.begin(), ns.addresses.end());
        }
      }
      if (ok) {
        t.section.sets[name] = ns;
      } else {
        Rule raw;
        raw.nft = "set " + name;
        raw_sets.push_back(raw);
      }
    }
  }
  // A missing base chain accepts everything: report the policy as "missing" so it differs from any document.
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
  // Then, in the forward chain, the rule that lets port-forwarded connections through.
  {
    const auto& rules = by_chain["forward"];
    size_t& n = skip["forward"];
    if (n < rules.size() && get_string(*rules[n], "comment") == kDnatAcceptComment) {
      t.section.dnat_accept = true;
      ++n;
    }
  }
  auto raw_rule = [&](const char* chain, const JsonValue& rule) {
    Rule raw;
    raw.chain = chain;
    raw.comment = get_string(rule, "comment");
    const JsonValue* expr = member(rule, "expr");
    raw.nft = expr ? to_json(*expr) : "[]";
    t.section.rules.push_back(raw);
  };
  for (const char* chain : {"input", "forward", "output"}) {
    const auto& rules = by_chain[chain];
    for (size_t i = skip[chain]; i < rules.size(); ++i) {
      if (auto r = parse_rule_expr(*rules[i])) {
        t.section.rules.push_back(*r);
      } else {
        raw_rule(chain, *rules[i]);
      }
    }
  }
  t.section.nat = !nat_chains.empty();
  for (const char* chain : {"prerouting", "postrouting"}) {
    if (nat_chains.size() == 1 && !nat_chains.count(chain)) {
      Rule raw;
      raw.nft = std::string("chain ") + chain + " missing";
      t.section.rules.push_back(raw);
    }
    for (const auto* rule : by_chain[chain]) {
      if (!parse_nat_rule(*rule, t.section)) raw_rule(chain, *rule);
    }
  }
  // A chain or set op-dbus does not define or cannot read is drift too (apply deletes it).
  for (const auto& name : t.other_chains) {
    Rule raw;
    raw.nft = "chain " + name;
    t.section.rules.push_back(raw);
  }
  for (auto& r : raw_sets) t.section.rules.push_back(r);
  return t;
}

}  // namespace opdbus::firewall

namespace opdbus::firewall {

std::vector<PortRange> merged_ports(std::vector<PortRange> ports) {
  return merge_ports(std::move(ports));
}

bool valid_set_name(const std::string& name) {
  return !set_name_problem(name);
}

std::vector<std::pair<std::string, std::string>> builtin_rule_comments() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& b : builtin_rules()) out.emplace_back(b.chain, b.comment);
  return out;
}

}  // namespace opdbus::firewall
