// Table inet op_dbus read straight from the nf_tables dump (sys::NftTableContents) into the section, for the
// shapes the plugin writes (render_batch), without libnftables' JSON listing: at 10,000 rules the listing
// costs about 1.5 billion instructions, the dump and this decoder a small part of that.
//
// The decoder is strict: it reads a rule only when its expressions are exactly one of the sequences
// libnftables makes of what render_batch() writes (with the dependencies it adds: `meta nfproto` before an
// address, `meta l4proto` before a port), every attribute of every object known. Anything else (NAT, ICMP
// types, a chain or object made by hand, an unknown attribute, an element with a comment, ...) makes the
// whole table undecoded, and the caller lists it through libnftables (parse_table): a table is never read
// as something it is not. tests/unit/firewall_nft_test.cc checks, for every kind of rule, that both paths
// give the same section.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "firewall/model.h"
#include "sys/nftables.h"

namespace opdbus::firewall {
namespace {

using sys::NftExpr;
using u128 = unsigned __int128;

constexpr uint32_t kSetAnonymous = 0x1;  // NFT_SET_ANONYMOUS
constexpr uint32_t kSetConstant = 0x2;   // NFT_SET_CONSTANT
constexpr uint32_t kSetInterval = 0x4;   // NFT_SET_INTERVAL
constexpr uint32_t kTypeIpv4 = 7;        // nft's data types: ipv4_addr, ipv6_addr, inet_service
constexpr uint32_t kTypeIpv6 = 8;
constexpr uint32_t kTypeService = 13;
constexpr size_t kIfNameSize = 16;  // IFNAMSIZ

u128 number(const std::string& bytes) {
  u128 n = 0;
  for (unsigned char c : bytes) n = (n << 8) | c;
  return n;
}

std::string bytes_of(u128 n, size_t len) {
  std::string out(len, '\0');
  for (size_t i = len; i-- > 0;) {
    out[i] = static_cast<char>(n & 0xff);
    n >>= 8;
  }
  return out;
}

u128 all_ones(size_t len) {
  return len >= 16 ? ~u128(0) : (u128(1) << (8 * len)) - 1;
}

// An address (4 or 16 bytes) with a prefix length as canonical_address() gives it ("10.0.0.0/8", "fd00::1").
std::optional<std::string> address_text(const std::string& bytes, int bits) {
  char text[INET6_ADDRSTRLEN] = {};
  int family = bytes.size() == 4 ? AF_INET : AF_INET6;
  if ((bytes.size() != 4 && bytes.size() != 16) || !inet_ntop(family, bytes.data(), text, sizeof text)) {
    return std::nullopt;
  }
  std::string s = text;
  if (bits != static_cast<int>(bytes.size() * 8)) s += "/" + std::to_string(bits);
  std::string why;
  return canonical_address(s, &why);
}

// [lo, hi] of `len`-byte values as a network, if it is one (nft lists any other range as a range, which
// parse_table() does not read either).
std::optional<std::string> range_as_network(u128 lo, u128 hi, size_t len) {
  u128 diff = lo ^ hi;
  int host = 0;
  while (host < static_cast<int>(len * 8) && (diff >> host) & 1) ++host;
  if (host < 128 && (diff >> host) != 0) return std::nullopt;  // not 0..01..1
  u128 hostmask = host >= 128 ? ~u128(0) : (u128(1) << host) - 1;
  if ((lo & hostmask) != 0 || hi != (lo | hostmask)) return std::nullopt;
  return address_text(bytes_of(lo, len), static_cast<int>(len * 8) - host);
}

// The ranges of a set's elements: an interval set's elements are boundaries (a start, and an end flagged
// where a gap begins); another set's are single values.
std::optional<std::vector<std::pair<u128, u128>>> set_ranges(const sys::NftSet& set) {
  std::vector<std::pair<u128, u128>> out;
  std::vector<std::pair<u128, bool>> bounds;
  for (const auto& e : set.elements) {
    if (e.unread || e.key.size() != set.key_len) return std::nullopt;
    bounds.emplace_back(number(e.key), e.interval_end);
  }
  std::sort(bounds.begin(), bounds.end());
  if (!(set.flags & kSetInterval)) {
    for (const auto& [v, end] : bounds) {
      if (end) return std::nullopt;
      out.emplace_back(v, v);
    }
    return out;
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (bounds[i].second) continue;  // the start of a gap
    if (i + 1 < bounds.size() && bounds[i + 1].first == bounds[i].first) return std::nullopt;
    u128 hi = i + 1 < bounds.size() ? bounds[i + 1].first - 1 : all_ones(set.key_len);
    out.emplace_back(bounds[i].first, hi);
  }
  return out;
}

// A set's addresses and networks, sorted. An anonymous set (a rule's list) is read as parse_table() reads
// it: libnftables merges its overlapping and adjacent networks, and lists a merged run that is not one
// network as a range, read as the fewest networks covering it (address_cover). A named set holds the
// networks op-dbus wrote, unmerged: a range in it declines.
std::optional<std::vector<std::string>> set_addresses(const sys::NftSet& set) {
  size_t len = set.key_type == kTypeIpv4 ? 4 : set.key_type == kTypeIpv6 ? 16 : 0;
  if (!len || set.key_len != len) return std::nullopt;
  auto ranges = set_ranges(set);
  if (!ranges) return std::nullopt;
  bool anonymous = set.flags & kSetAnonymous;
  std::vector<std::string> out;
  for (const auto& [lo, hi] : *ranges) {
    if (auto text = range_as_network(lo, hi, len)) {
      out.push_back(*text);
      continue;
    }
    auto from = address_text(bytes_of(lo, len), static_cast<int>(len * 8));
    auto to = address_text(bytes_of(hi, len), static_cast<int>(len * 8));
    auto nets = anonymous && from && to ? range_networks(*from, *to) : std::vector<std::string>{};
    if (nets.empty()) return std::nullopt;
    out.insert(out.end(), nets.begin(), nets.end());
  }
  if (anonymous) return address_cover(out);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::vector<PortRange>> set_ports(const sys::NftSet& set) {
  if (set.key_type != kTypeService || set.key_len != 2) return std::nullopt;
  auto ranges = set_ranges(set);
  if (!ranges) return std::nullopt;
  std::vector<PortRange> out;
  for (const auto& [lo, hi] : *ranges) out.push_back({static_cast<int>(lo), static_cast<int>(hi)});
  return merged_ports(out);
}

uint32_t host_u32(const std::string& bytes) {
  uint32_t v = 0;
  if (bytes.size() == 4) std::memcpy(&v, bytes.data(), 4);
  return v;
}

bool is(const NftExpr& e, const char* name) {
  return e.name == name;
}

// A load into register 1, as libnftables makes it.
bool load(const NftExpr& e, const char* name, const char* key) {
  return is(e, name) && e.key == key && e.dreg == 1;
}

// `cmp eq reg 1 VALUE`.
bool cmp_eq(const NftExpr& e) {
  return is(e, "cmp") && e.op == "eq" && e.sreg == 1;
}

// The builtin rules' expressions: `ct state|status & MASK != 0` then VERDICT, or `iifname "lo"` accept.
bool ct_rule(const std::vector<NftExpr>& x, const char* key, uint32_t mask, const char* verdict) {
  return x.size() == 4 && load(x[0], "ct", key) && is(x[1], "bitwise") && x[1].sreg == 1 && x[1].dreg == 1 &&
         x[1].len == 4 && host_u32(x[1].data) == mask && x[1].data2 == std::string(4, '\0') &&
         is(x[2], "cmp") && x[2].op == "neq" && x[2].sreg == 1 && x[2].data == std::string(4, '\0') &&
         is(x[3], "immediate") && x[3].dreg == 0 && x[3].data == verdict;
}

bool builtin_matches(const sys::NftRule& r) {
  const auto& x = r.exprs;
  std::string tag = kBuiltinTag;
  if (r.comment == tag + " established/related") return ct_rule(x, "state", 0x2 | 0x4, "accept");
  if (r.comment == tag + " invalid") return ct_rule(x, "state", 0x1, "drop");
  if (r.comment == tag + " loopback") {
    return x.size() == 3 && load(x[0], "meta", "iifname") && cmp_eq(x[1]) &&
           x[1].data == std::string("lo") + std::string(kIfNameSize - 2, '\0') && is(x[2], "immediate") &&
           x[2].dreg == 0 && x[2].data == "accept";
  }
  return false;
}

class RuleReader {
 public:
  RuleReader(const std::map<std::string, const sys::NftSet*>& sets, const sys::NftRule& rule)
      : sets_(sets), x_(rule.exprs) {
    r_.chain = rule.chain;
    r_.comment = rule.comment;
  }

  std::optional<Rule> read() {
    while (i_ < x_.size()) {
      if (!step()) return std::nullopt;
    }
    if (r_.action.empty()) return std::nullopt;
    return r_;
  }

 private:
  const NftExpr* at(size_t k) const { return i_ + k < x_.size() ? &x_[i_ + k] : nullptr; }

  bool step() {
    const NftExpr& e = x_[i_];
    if (!r_.action.empty()) return false;  // nothing after the verdict
    if (is(e, "meta") && (e.key == "iifname" || e.key == "oifname")) return iface();
    if (load(e, "meta", "nfproto")) return nfproto();
    if (load(e, "meta", "l4proto")) return l4proto();
    if (load(e, "payload", "network")) return address();
    if (load(e, "payload", "transport")) return port();
    if (is(e, "counter") && !r_.counter) {
      r_.counter = true;
      ++i_;
      return true;
    }
    if (is(e, "log") && !r_.log && (!e.has_level || e.level == 4 /* warn */) && e.flags == 0) {
      r_.log = true;
      r_.log_prefix = e.data;
      ++i_;
      return true;
    }
    if (is(e, "limit") && !r_.limit) return limit();
    if (is(e, "immediate") && e.dreg == 0 && (e.data == "accept" || e.data == "drop")) {
      r_.action = e.data;
      ++i_;
      return true;
    }
    // `reject` is port-unreachable: ICMPX (type 2, code 1) in the inet family, ICMP (type 0, code 3) after
    // an IPv4 address match, ICMPv6 (type 0, code 4) after an IPv6 one.
    bool port_unreachable = family_ == 4   ? e.type == 0 && e.code == 3
                            : family_ == 6 ? e.type == 0 && e.code == 4
                                           : e.type == 2 && e.code == 1;
    if (is(e, "reject") && port_unreachable) {
      r_.action = "reject";
      ++i_;
      return true;
    }
    return false;
  }

  bool iface() {
    const NftExpr& e = x_[i_];
    const NftExpr* c = at(1);
    if (e.dreg != 1 || !c || !cmp_eq(*c) || c->data.size() != kIfNameSize || c->data.back() != '\0') {
      return false;  // a wildcard ("eth*") compares fewer bytes
    }
    std::string name(c->data.c_str());
    if (name.empty() || c->data.find_first_not_of('\0', name.size()) != std::string::npos) return false;
    std::string& out = e.key == "iifname" ? r_.iface : r_.oiface;
    if (!out.empty()) return false;
    out = name;
    i_ += 2;
    return true;
  }

  // `meta nfproto ipv4|ipv6`: the dependency libnftables puts before an address match.
  bool nfproto() {
    const NftExpr* c = at(1);
    const NftExpr* next = at(2);
    if (!c || !cmp_eq(*c) || c->data.size() != 1 || !next || !load(*next, "payload", "network")) return false;
    auto v = static_cast<unsigned char>(c->data[0]);
    if (v != 2 /* NFPROTO_IPV4 */ && v != 10 /* NFPROTO_IPV6 */) return false;
    family_ = v == 2 ? 4 : 6;
    i_ += 2;
    return true;
  }

  // `meta l4proto P`: a dependency before a port match, or a match of its own (proto without ports).
  bool l4proto() {
    const NftExpr* c = at(1);
    if (!c || !cmp_eq(*c) || c->data.size() != 1) return false;
    auto v = static_cast<unsigned char>(c->data[0]);
    const NftExpr* next = at(2);
    if (next && load(*next, "payload", "transport")) {
      l4_ = v;
      i_ += 2;
      return true;
    }
    const char* name = v == 6     ? "tcp"
                       : v == 17  ? "udp"
                       : v == 132 ? "sctp"
                       : v == 1   ? "icmp"
                       : v == 58  ? "icmpv6"
                                  : nullptr;
    if (!name || !r_.proto.empty()) return false;
    r_.proto = name;
    i_ += 2;
    return true;
  }

  // `ip|ip6 saddr|daddr`: ADDRESS (cmp, with a bitwise mask for a prefix that is not whole bytes), or a set.
  bool address() {
    const NftExpr& p = x_[i_];
    if (!family_) return false;
    size_t full = family_ == 4 ? 4 : 16;
    uint32_t saddr = family_ == 4 ? 12 : 8;
    uint32_t daddr = family_ == 4 ? 16 : 24;
    if (p.offset != saddr && p.offset != daddr) return false;
    auto& out = p.offset == saddr ? r_.source : r_.destination;
    if (!out.empty() || p.len == 0 || p.len > full) return false;
    const NftExpr* next = at(1);
    if (!next) return false;
    if (is(*next, "lookup")) {
      if (p.len != full || next->sreg != 1 || next->flags != 0) return false;
      auto set = sets_.find(next->data);
      if (set == sets_.end()) return false;
      if (!(set->second->flags & kSetAnonymous)) {
        uint32_t type = family_ == 4 ? kTypeIpv4 : kTypeIpv6;
        if (set->second->key_type != type) return false;
        out.push_back("@" + next->data);
      } else {
        auto list = set_addresses(*set->second);
        if (!list || list->empty() || address_family(list->front()) != family_) return false;
        out = *list;
      }
      i_ += 2;
      return true;
    }
    int bits = static_cast<int>(p.len * 8);
    size_t k = 1;
    if (is(*next, "bitwise")) {
      if (next->sreg != 1 || next->dreg != 1 || next->len != p.len || next->data.size() != p.len ||
          next->data2 != std::string(p.len, '\0')) {
        return false;
      }
      u128 mask = number(next->data);
      int ones = 0;
      while (ones < bits && (mask >> (bits - 1 - ones)) & 1) ++ones;
      if (ones == bits || (mask & ((u128(1) << (bits - ones)) - 1)) != 0) return false;  // not 1..10..0
      bits = ones;
      k = 2;
    }
    const NftExpr* c = at(k);
    if (!c || !cmp_eq(*c) || c->data.size() != p.len) return false;
    std::string bytes = c->data + std::string(full - p.len, '\0');
    auto text = address_text(bytes, bits);
    if (!text) return false;
    out.push_back(*text);
    i_ += k + 1;
    return true;
  }

  // `tcp|udp|sctp dport`: PORT, FROM-TO (cmp gte + cmp lte, or a range), or a set.
  bool port() {
    const NftExpr& p = x_[i_];
    const char* name = l4_ == 6 ? "tcp" : l4_ == 17 ? "udp" : l4_ == 132 ? "sctp" : nullptr;
    l4_ = 0;
    if (!name || p.offset != 2 || p.len != 2 || !r_.ports.empty() || !r_.port_set.empty() ||
        !(r_.proto.empty() || r_.proto == name)) {
      return false;
    }
    r_.proto = name;
    const NftExpr* next = at(1);
    if (!next) return false;
    auto port_of = [](const std::string& b) { return b.size() == 2 ? static_cast<int>(number(b)) : -1; };
    if (cmp_eq(*next) && port_of(next->data) >= 0) {
      r_.ports = merged_ports({{port_of(next->data), port_of(next->data)}});
      i_ += 2;
      return true;
    }
    const NftExpr* to = at(2);
    if (is(*next, "cmp") && next->op == "gte" && next->sreg == 1 && to && is(*to, "cmp") && to->op == "lte" &&
        to->sreg == 1 && port_of(next->data) >= 0 && port_of(to->data) >= port_of(next->data)) {
      r_.ports = merged_ports({{port_of(next->data), port_of(to->data)}});
      i_ += 3;
      return true;
    }
    if (is(*next, "range") && next->op == "eq" && next->sreg == 1 && port_of(next->data) >= 0 &&
        port_of(next->data2) >= port_of(next->data)) {
      r_.ports = merged_ports({{port_of(next->data), port_of(next->data2)}});
      i_ += 2;
      return true;
    }
    if (is(*next, "lookup") && next->sreg == 1 && next->flags == 0) {
      auto set = sets_.find(next->data);
      if (set == sets_.end() || set->second->key_type != kTypeService) return false;
      if (!(set->second->flags & kSetAnonymous)) {
        r_.port_set = "@" + next->data;
      } else {
        auto ports = set_ports(*set->second);
        if (!ports || ports->empty()) return false;
        r_.ports = *ports;
      }
      i_ += 2;
      return true;
    }
    return false;
  }

  bool limit() {
    const NftExpr& e = x_[i_];
    static const std::map<uint64_t, const char*> kUnits = {
        {1, "second"}, {60, "minute"}, {3600, "hour"}, {86400, "day"}, {604800, "week"}};
    auto unit = kUnits.find(e.unit);
    // Packets (type 0), not inverted; a burst of 0 is listed as no burst, which reads as 5.
    if (unit == kUnits.end() || e.type != 0 || e.flags != 0 || e.burst == 0) return false;
    r_.limit = Limit{static_cast<int64_t>(e.rate), unit->second, static_cast<int64_t>(e.burst)};
    ++i_;
    return true;
  }

  const std::map<std::string, const sys::NftSet*>& sets_;
  const std::vector<NftExpr>& x_;
  size_t i_ = 0;
  Rule r_;
  int family_ = 0;  // the address family the rule's `meta nfproto` dependency named (one for both addresses)
  int l4_ = 0;      // the protocol a `meta l4proto` dependency just named
};

}  // namespace

std::optional<CurrentTable> decode_table(const sys::NftTableContents& contents) {
  if (contents.unread) return std::nullopt;
  CurrentTable t;
  t.present = true;
  std::set<std::string> base;
  for (const auto& c : contents.chains) {
    bool known = c.name == "input" || c.name == "forward" || c.name == "output";
    if (c.unread || !known || !c.base || c.type != "filter" || c.hook != c.name || c.priority != 0 ||
        (c.policy != "accept" && c.policy != "drop") || !base.insert(c.name).second) {
      return std::nullopt;  // NAT chains, a chain made by hand, a missing base chain: the listing says
    }
    t.section.policy[c.name] = c.policy;
  }
  if (base.size() != 3) return std::nullopt;
  std::map<std::string, const sys::NftSet*> sets;
  for (const auto& s : contents.sets) {
    if (s.unread || !sets.emplace(s.name, &s).second) return std::nullopt;
    if (s.flags & kSetAnonymous) {
      if ((s.flags & ~(kSetAnonymous | kSetConstant | kSetInterval)) != 0 || !(s.flags & kSetConstant)) {
        return std::nullopt;
      }
      continue;  // read with the rule that holds it
    }
    if (s.flags != kSetInterval || !valid_set_name(s.name)) return std::nullopt;
    NamedSet ns;
    if (s.key_type == kTypeService) {
      auto ports = set_ports(s);
      if (!ports) return std::nullopt;
      ns.type = "inet_service";
      ns.ports = *ports;
    } else {
      auto addresses = set_addresses(s);
      if (!addresses) return std::nullopt;
      ns.type = s.key_type == kTypeIpv4 ? "ipv4_addr" : "ipv6_addr";
      ns.addresses = *addresses;
    }
    t.section.sets[s.name] = ns;
  }
  std::map<std::string, std::vector<const sys::NftRule*>> by_chain;
  for (const auto& r : contents.rules) {
    if (r.unread) return std::nullopt;
    by_chain[r.chain].push_back(&r);
  }
  // The builtin rules, as parse_table() counts them (every chain starts with exactly their comments), and
  // each one with exactly its expressions.
  std::map<std::string, size_t> skip;
  bool all = true;
  for (const auto& [chain, comment] : builtin_rule_comments()) {
    auto& rules = by_chain[chain];
    size_t& n = skip[chain];
    if (n < rules.size() && rules[n]->comment == comment) {
      if (!builtin_matches(*rules[n])) return std::nullopt;
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
      if (rules[i]->comment == kDnatAcceptComment) return std::nullopt;  // NAT: the listing says
      auto rule = RuleReader(sets, *rules[i]).read();
      if (!rule) return std::nullopt;
      t.section.rules.push_back(std::move(*rule));
    }
  }
  return t;
}

}  // namespace opdbus::firewall
