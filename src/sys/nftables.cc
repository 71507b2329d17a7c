#include "sys/nftables.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#include "error.h"
#include "text.h"

namespace opdbus::sys {
namespace {

struct CtxFree {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};

// One NETLINK_NETFILTER socket for the dumps of nft_table_state().
class NfSocket {
 public:
  NfSocket() {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd_ < 0) fail("socket", errno);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    timeval timeout{30, 0};  // a kernel that never answers fails the read instead of hanging the command
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int err = errno;
      ::close(fd_);
      fail("bind", err);
    }
  }
  ~NfSocket() { ::close(fd_); }
  NfSocket(const NfSocket&) = delete;
  NfSocket& operator=(const NfSocket&) = delete;

  // Sends one request (msg_type of nf_tables, attributes as (type, string value) pairs) and hands every
  // answer's payload to `each`. Returns 0, or the errno the kernel answered with.
  int request(uint16_t msg_type, uint8_t family, bool dump,
              const std::vector<std::pair<uint16_t, std::string>>& attrs,
              const std::function<void(const nlmsghdr&)>& each) {
    std::string msg(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)), '\0');
    for (const auto& [type, value] : attrs) {
      nlattr a{};
      a.nla_type = type;
      a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + value.size() + 1);  // NUL-terminated strings
      std::string raw(NLA_ALIGN(a.nla_len), '\0');
      std::memcpy(raw.data(), &a, sizeof a);
      std::memcpy(raw.data() + NLA_HDRLEN, value.data(), value.size());
      msg += raw;
    }
    auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
    h->nlmsg_len = static_cast<uint32_t>(msg.size());
    h->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg_type);
    h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0));
    h->nlmsg_seq = ++seq_;
    auto* g = reinterpret_cast<nfgenmsg*>(msg.data() + NLMSG_HDRLEN);
    g->nfgen_family = family;
    g->version = NFNETLINK_V0;
    g->res_id = 0;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
      fail("send", errno);
    }
    for (;;) {
      ssize_t n = ::recv(fd_, buf_.get(), kBufSize, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("receive", errno);
      }
      if (n == 0) fail("receive", EPIPE);
      size_t left = static_cast<size_t>(n);
      for (auto* m = reinterpret_cast<nlmsghdr*>(buf_.get()); NLMSG_OK(m, left); m = NLMSG_NEXT(m, left)) {
        if (m->nlmsg_seq != seq_) continue;
        if (m->nlmsg_type == NLMSG_DONE) return 0;
        if (m->nlmsg_type == NLMSG_ERROR) {
          const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(m));
          if (e->error != 0) return -e->error;
          if (!dump) return 0;  // the ack after the answer
          continue;
        }
        if (m->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        each(*m);
      }
    }
  }

  bool interrupted = false;

  // This network namespace's cookie (never reused until reboot), or nullopt before Linux 5.14.
  std::optional<uint64_t> netns_cookie() const {
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    if (::getsockopt(fd_, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0 || len != sizeof cookie) {
      return std::nullopt;
    }
    return cookie;
  }

 private:
  static constexpr size_t kBufSize = 1 << 20;
  std::unique_ptr<char[]> buf_{new char[kBufSize]};
  [[noreturn]] static void fail(const char* what, int err) {
    throw Error(ErrorKind::BackendError,
                std::string("nf_tables netlink: ") + what + ": " + std::strerror(err));
  }
  int fd_ = -1;
  uint32_t seq_ = 0;
};

uint8_t family_number(std::string_view family) {
  if (family == "inet") return NFPROTO_INET;
  if (family == "ip") return NFPROTO_IPV4;
  if (family == "ip6") return NFPROTO_IPV6;
  if (family == "arp") return NFPROTO_ARP;
  if (family == "bridge") return NFPROTO_BRIDGE;
  if (family == "netdev") return NFPROTO_NETDEV;
  throw Error(ErrorKind::InvalidArgument, "nftables: unknown family " + std::string(family));
}

// Calls fn(type, attribute) for each top-level attribute of an nf_tables message, in order, until fn returns
// false; stops at a malformed attribute.
template <typename Fn>
void for_each_attr(const nlmsghdr& m, Fn&& fn) {
  const char* base = reinterpret_cast<const char*>(&m);
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  while (off + NLA_HDRLEN <= m.nlmsg_len) {
    const auto* a = reinterpret_cast<const nlattr*>(base + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > m.nlmsg_len) break;
    if (!fn(static_cast<uint16_t>(a->nla_type & NLA_TYPE_MASK), *a)) return;
    off += NLA_ALIGN(a->nla_len);
  }
}

// The first top-level attribute `type` of an nf_tables message, or null.
const nlattr* find_attr(const nlmsghdr& m, uint16_t type) {
  const nlattr* found = nullptr;
  for_each_attr(m, [&](uint16_t t, const nlattr& a) {
    if (t == type) found = &a;
    return found == nullptr;
  });
  return found;
}

const char* attr_data(const nlattr& a) {
  return reinterpret_cast<const char*>(&a) + NLA_HDRLEN;
}

// The value of top-level string attribute `type` of an nf_tables message, or "".
std::string_view string_attr(const nlmsghdr& m, uint16_t type) {
  const nlattr* a = find_attr(m, type);
  if (!a) return {};
  std::string_view v(attr_data(*a), a->nla_len - NLA_HDRLEN);
  while (!v.empty() && v.back() == '\0') v.remove_suffix(1);
  return v;
}

// The value of top-level u32 attribute `type` (network byte order), if present.
std::optional<uint32_t> find_u32(const nlmsghdr& m, uint16_t type) {
  const nlattr* a = find_attr(m, type);
  if (!a || a->nla_len < NLA_HDRLEN + 4) return std::nullopt;
  uint32_t be = 0;
  std::memcpy(&be, attr_data(*a), 4);
  return ntohl(be);
}

// The value of top-level u32 attribute `type` (network byte order), or 0.
uint32_t u32_attr(const nlmsghdr& m, uint16_t type) {
  return find_u32(m, type).value_or(0);
}

std::string boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

// Appends the message to `out`: its type, the family, and every top-level attribute but `skip` (a handle);
// the netlink header (sequence, flags) and nfgenmsg's res_id (the generation id) are left out.
void append_canonical(std::string& out, const nlmsghdr& m, uint16_t skip, uint16_t skip2 = 0xffff) {
  const char* base = reinterpret_cast<const char*>(&m);
  const auto* g = reinterpret_cast<const nfgenmsg*>(base + NLMSG_HDRLEN);
  out.push_back(static_cast<char>(m.nlmsg_type & 0xff));
  out.push_back(static_cast<char>(g->nfgen_family));
  for_each_attr(m, [&](uint16_t type, const nlattr& a) {
    if (type != skip && type != skip2) out.append(reinterpret_cast<const char*>(&a), a.nla_len);
    return true;
  });
  out.push_back('\n');
}

// ---- decoding the table's objects (nft_table_state with contents)

// Calls fn(type, payload) for each attribute in `raw` (a message's attributes or a nested attribute's
// payload), in order; returns false when an attribute is malformed.
template <typename Fn>
bool each_nested(std::string_view raw, Fn&& fn) {
  size_t off = 0;
  while (off + NLA_HDRLEN <= raw.size()) {
    nlattr a{};
    std::memcpy(&a, raw.data() + off, sizeof a);
    if (a.nla_len < NLA_HDRLEN || off + a.nla_len > raw.size()) return false;
    fn(static_cast<uint16_t>(a.nla_type & NLA_TYPE_MASK),
       raw.substr(off + NLA_HDRLEN, a.nla_len - NLA_HDRLEN));
    off += NLA_ALIGN(a.nla_len);
  }
  return off >= raw.size();
}

// The attributes of a message (after nfgenmsg), as one buffer.
std::string_view message_attrs(const nlmsghdr& m) {
  size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  if (m.nlmsg_len < start) return {};
  return {reinterpret_cast<const char*>(&m) + start, m.nlmsg_len - start};
}

uint32_t be32(std::string_view v, bool& bad) {
  if (v.size() != 4) {
    bad = true;
    return 0;
  }
  uint32_t x = 0;
  std::memcpy(&x, v.data(), 4);
  return ntohl(x);
}

uint64_t be64(std::string_view v, bool& bad) {
  if (v.size() != 8) {
    bad = true;
    return 0;
  }
  uint64_t x = 0;
  for (unsigned char c : v) x = (x << 8) | c;
  return x;
}

std::string nl_string(std::string_view v) {
  while (!v.empty() && v.back() == '\0') v.remove_suffix(1);
  return std::string(v);
}

// NFTA_DATA_VALUE inside a data attribute (cmp data, bitwise mask, set element key, ...).
std::string data_value(std::string_view nested, bool& bad) {
  std::string value;
  bool seen = false;
  if (!each_nested(nested,
                   [&](uint16_t t, std::string_view v) {
                     if (t == NFTA_DATA_VALUE && !seen) {
                       value = std::string(v);
                       seen = true;
                     } else {
                       bad = true;
                     }
                   }) ||
      !seen) {
    bad = true;
  }
  return value;
}

std::string numbered(uint32_t n) {
  return "#" + std::to_string(n);
}

std::string cmp_op(uint32_t op) {
  switch (op) {
    case NFT_CMP_EQ:
      return "eq";
    case NFT_CMP_NEQ:
      return "neq";
    case NFT_CMP_LT:
      return "lt";
    case NFT_CMP_LTE:
      return "lte";
    case NFT_CMP_GT:
      return "gt";
    case NFT_CMP_GTE:
      return "gte";
    default:
      return numbered(op);
  }
}

std::string meta_key(uint32_t key) {
  switch (key) {
    case NFT_META_IIFNAME:
      return "iifname";
    case NFT_META_OIFNAME:
      return "oifname";
    case NFT_META_NFPROTO:
      return "nfproto";
    case NFT_META_L4PROTO:
      return "l4proto";
    default:
      return numbered(key);
  }
}

std::string ct_key(uint32_t key) {
  switch (key) {
    case NFT_CT_STATE:
      return "state";
    case NFT_CT_STATUS:
      return "status";
    default:
      return numbered(key);
  }
}

std::string payload_base(uint32_t base) {
  switch (base) {
    case NFT_PAYLOAD_LL_HEADER:
      return "link";
    case NFT_PAYLOAD_NETWORK_HEADER:
      return "network";
    case NFT_PAYLOAD_TRANSPORT_HEADER:
      return "transport";
    default:
      return numbered(base);
  }
}

std::string hook_name(uint8_t family, uint32_t hook) {
  if (family == NFPROTO_INET || family == NFPROTO_IPV4 || family == NFPROTO_IPV6) {
    switch (hook) {
      case NF_INET_PRE_ROUTING:
        return "prerouting";
      case NF_INET_LOCAL_IN:
        return "input";
      case NF_INET_FORWARD:
        return "forward";
      case NF_INET_LOCAL_OUT:
        return "output";
      case NF_INET_POST_ROUTING:
        return "postrouting";
      case NF_INET_INGRESS:
        return "ingress";
    }
  }
  return numbered(hook);
}

std::string verdict_name(int32_t code) {
  switch (code) {
    case NF_ACCEPT:
      return "accept";
    case NF_DROP:
      return "drop";
    default:
      return numbered(static_cast<uint32_t>(code));
  }
}

// One expression (an NFTA_LIST_ELEM of NFTA_RULE_EXPRESSIONS).
NftExpr decode_expr(std::string_view elem) {
  NftExpr e;
  bool bad = false;
  std::string_view data;
  bool has_data = false;
  if (!each_nested(elem, [&](uint16_t t, std::string_view v) {
        if (t == NFTA_EXPR_NAME) {
          e.name = nl_string(v);
        } else if (t == NFTA_EXPR_DATA) {
          data = v;
          has_data = true;
        } else {
          bad = true;
        }
      })) {
    bad = true;
  }
  const std::string& n = e.name;
  bool ok = each_nested(data, [&](uint16_t t, std::string_view v) {
    if (n == "payload") {
      if (t == NFTA_PAYLOAD_DREG)
        e.dreg = be32(v, bad);
      else if (t == NFTA_PAYLOAD_BASE)
        e.key = payload_base(be32(v, bad));
      else if (t == NFTA_PAYLOAD_OFFSET)
        e.offset = be32(v, bad);
      else if (t == NFTA_PAYLOAD_LEN)
        e.len = be32(v, bad);
      else
        bad = true;
    } else if (n == "meta") {
      if (t == NFTA_META_DREG)
        e.dreg = be32(v, bad);
      else if (t == NFTA_META_KEY)
        e.key = meta_key(be32(v, bad));
      else
        bad = true;
    } else if (n == "ct") {
      if (t == NFTA_CT_DREG)
        e.dreg = be32(v, bad);
      else if (t == NFTA_CT_KEY)
        e.key = ct_key(be32(v, bad));
      else
        bad = true;
    } else if (n == "cmp") {
      if (t == NFTA_CMP_SREG)
        e.sreg = be32(v, bad);
      else if (t == NFTA_CMP_OP)
        e.op = cmp_op(be32(v, bad));
      else if (t == NFTA_CMP_DATA)
        e.data = data_value(v, bad);
      else
        bad = true;
    } else if (n == "bitwise") {
      if (t == NFTA_BITWISE_SREG)
        e.sreg = be32(v, bad);
      else if (t == NFTA_BITWISE_DREG)
        e.dreg = be32(v, bad);
      else if (t == NFTA_BITWISE_LEN)
        e.len = be32(v, bad);
      else if (t == NFTA_BITWISE_MASK)
        e.data = data_value(v, bad);
      else if (t == NFTA_BITWISE_XOR)
        e.data2 = data_value(v, bad);
      else if (t == NFTA_BITWISE_OP)
        bad = bad || be32(v, bad) != NFT_BITWISE_BOOL;
      else
        bad = true;
    } else if (n == "lookup") {
      if (t == NFTA_LOOKUP_SREG)
        e.sreg = be32(v, bad);
      else if (t == NFTA_LOOKUP_SET)
        e.data = nl_string(v);
      else if (t == NFTA_LOOKUP_SET_ID)
        (void)0;  // the batch's id of the set, named by NFTA_LOOKUP_SET too
      else if (t == NFTA_LOOKUP_FLAGS)
        e.flags = be32(v, bad);
      else
        bad = true;  // a DREG: a map
    } else if (n == "range") {
      if (t == NFTA_RANGE_SREG)
        e.sreg = be32(v, bad);
      else if (t == NFTA_RANGE_OP)
        e.op = cmp_op(be32(v, bad));
      else if (t == NFTA_RANGE_FROM_DATA)
        e.data = data_value(v, bad);
      else if (t == NFTA_RANGE_TO_DATA)
        e.data2 = data_value(v, bad);
      else
        bad = true;
    } else if (n == "immediate") {
      if (t == NFTA_IMMEDIATE_DREG) {
        e.dreg = be32(v, bad);
      } else if (t == NFTA_IMMEDIATE_DATA) {
        bool verdict = false;
        bad = bad || !each_nested(v, [&](uint16_t dt, std::string_view dv) {
                if (dt != NFTA_DATA_VERDICT || verdict) {
                  bad = true;
                  return;
                }
                verdict = true;
                bad = bad || !each_nested(dv, [&](uint16_t vt, std::string_view vv) {
                        if (vt == NFTA_VERDICT_CODE)
                          e.data = verdict_name(static_cast<int32_t>(be32(vv, bad)));
                        else
                          bad = true;  // a chain: jump, goto
                      });
              });
        bad = bad || !verdict;
      } else {
        bad = true;
      }
    } else if (n == "counter") {
      if (t != NFTA_COUNTER_BYTES && t != NFTA_COUNTER_PACKETS && t != NFTA_COUNTER_PAD) bad = true;
    } else if (n == "log") {
      if (t == NFTA_LOG_PREFIX) {
        e.data = nl_string(v);
      } else if (t == NFTA_LOG_LEVEL) {
        e.level = be32(v, bad);
        e.has_level = true;
      } else if (t == NFTA_LOG_FLAGS) {
        e.flags = be32(v, bad);
      } else {
        bad = true;  // group, snaplen, queue threshold: nflog
      }
    } else if (n == "limit") {
      if (t == NFTA_LIMIT_RATE)
        e.rate = be64(v, bad);
      else if (t == NFTA_LIMIT_UNIT)
        e.unit = be64(v, bad);
      else if (t == NFTA_LIMIT_BURST)
        e.burst = be32(v, bad);
      else if (t == NFTA_LIMIT_TYPE)
        e.type = be32(v, bad);
      else if (t == NFTA_LIMIT_FLAGS)
        e.flags = be32(v, bad);
      else if (t != NFTA_LIMIT_PAD)
        bad = true;
    } else if (n == "reject") {
      if (t == NFTA_REJECT_TYPE)
        e.type = be32(v, bad);
      else if (t == NFTA_REJECT_ICMP_CODE && v.size() == 1)
        e.code = static_cast<uint8_t>(v[0]);
      else
        bad = true;
    } else {
      bad = true;
    }
  });
  e.unread = bad || !ok || e.name.empty() || (!has_data && e.name != "counter");
  return e;
}

// The comment in a rule's user data (libnftnl's TLVs: type, length, value); false when it holds anything else.
bool rule_comment(std::string_view udata, std::string& comment) {
  size_t off = 0;
  while (off + 2 <= udata.size()) {
    auto type = static_cast<uint8_t>(udata[off]);
    auto len = static_cast<uint8_t>(udata[off + 1]);
    if (off + 2 + len > udata.size() || type != 0 /* NFTNL_UDATA_RULE_COMMENT */ || !comment.empty()) {
      return false;
    }
    comment = nl_string(udata.substr(off + 2, len));
    off += 2 + len;
  }
  return off == udata.size();
}

void decode_rule(const nlmsghdr& m, NftTableContents& out) {
  NftRule r;
  bool bad = false;
  bool ok = each_nested(message_attrs(m), [&](uint16_t t, std::string_view v) {
    switch (t) {
      case NFTA_RULE_TABLE:
      case NFTA_RULE_HANDLE:
      case NFTA_RULE_PAD:
      case NFTA_RULE_POSITION:
      case NFTA_RULE_ID:
        break;
      case NFTA_RULE_CHAIN:
        r.chain = nl_string(v);
        break;
      case NFTA_RULE_USERDATA:
        bad = bad || !rule_comment(v, r.comment);
        break;
      case NFTA_RULE_EXPRESSIONS:
        bad = bad || !each_nested(v, [&](uint16_t et, std::string_view ev) {
                if (et != NFTA_LIST_ELEM) {
                  bad = true;
                  return;
                }
                r.exprs.push_back(decode_expr(ev));
                bad = bad || r.exprs.back().unread;
              });
        break;
      default:
        bad = true;  // NFTA_RULE_COMPAT (an xtables match), ...
    }
  });
  r.unread = bad || !ok;
  out.rules.push_back(std::move(r));
}

void decode_chain(const nlmsghdr& m, uint8_t family, NftTableContents& out) {
  NftChain c;
  bool bad = false;
  bool ok = each_nested(message_attrs(m), [&](uint16_t t, std::string_view v) {
    switch (t) {
      case NFTA_CHAIN_TABLE:
      case NFTA_CHAIN_HANDLE:
      case NFTA_CHAIN_PAD:
      case NFTA_CHAIN_USE:
      case NFTA_CHAIN_ID:
        break;
      case NFTA_CHAIN_NAME:
        c.name = nl_string(v);
        break;
      case NFTA_CHAIN_HOOK:
        c.base = true;
        bad = bad || !each_nested(v, [&](uint16_t ht, std::string_view hv) {
                if (ht == NFTA_HOOK_HOOKNUM)
                  c.hook = hook_name(family, be32(hv, bad));
                else if (ht == NFTA_HOOK_PRIORITY)
                  c.priority = static_cast<int32_t>(be32(hv, bad));
                else
                  bad = true;  // devices
              });
        break;
      case NFTA_CHAIN_POLICY:
        c.policy = verdict_name(static_cast<int32_t>(be32(v, bad)));
        break;
      case NFTA_CHAIN_TYPE:
        c.type = nl_string(v);
        break;
      case NFTA_CHAIN_FLAGS:
        bad = bad || (be32(v, bad) & ~static_cast<uint32_t>(NFT_CHAIN_BASE)) != 0;
        break;
      default:
        bad = true;  // counters, user data (a comment), ...
    }
  });
  c.unread = bad || !ok;
  out.chains.push_back(std::move(c));
}

// Newer kernels (6.x) also tell a set's backend (NFTA_SET_TYPE, a name) and its number of elements
// (NFTA_SET_COUNT), after NFTA_SET_EXPRESSIONS; older uapi headers do not name them.
constexpr uint16_t kSetTypeAttr = NFTA_SET_EXPRESSIONS + 1;
constexpr uint16_t kSetCountAttr = NFTA_SET_EXPRESSIONS + 2;

void decode_set(const nlmsghdr& m, NftTableContents& out) {
  NftSet s;
  bool bad = false;
  bool ok = each_nested(message_attrs(m), [&](uint16_t t, std::string_view v) {
    switch (t) {
      case NFTA_SET_TABLE:
      case NFTA_SET_HANDLE:
      case NFTA_SET_PAD:
      case NFTA_SET_ID:
      case NFTA_SET_USERDATA:  // libnftables' notes (key byte order, auto-merge): not what the set holds
      case NFTA_SET_DESC:      // a size hint
      case NFTA_SET_POLICY:    // performance or memory
      case kSetTypeAttr:       // the backend the kernel chose
      case kSetCountAttr:      // how many elements
        break;
      case NFTA_SET_NAME:
        s.name = nl_string(v);
        break;
      case NFTA_SET_FLAGS:
        s.flags = be32(v, bad);
        break;
      case NFTA_SET_KEY_TYPE:
        s.key_type = be32(v, bad);
        break;
      case NFTA_SET_KEY_LEN:
        s.key_len = be32(v, bad);
        break;
      default:
        bad = true;  // data (a map), timeouts, expressions, ...
    }
  });
  s.unread = bad || !ok;
  out.sets.push_back(std::move(s));
}

// An element's user data (libnftnl's TLVs) that says nothing but "this interval runs to the largest value"
// (NFTNL_UDATA_SET_ELEM_FLAGS with NFTNL_SET_ELEM_F_INTERVAL_OPEN), which the boundaries say too; a comment
// (NFTNL_UDATA_SET_ELEM_COMMENT) or anything else is not known.
bool element_udata_known(std::string_view udata) {
  size_t off = 0;
  while (off + 2 <= udata.size()) {
    auto type = static_cast<uint8_t>(udata[off]);
    auto len = static_cast<uint8_t>(udata[off + 1]);
    if (off + 2 + len > udata.size() || type != 1 || len != 4) return false;
    uint32_t flags = 0;
    std::memcpy(&flags, udata.data() + off + 2, 4);  // host byte order
    if (flags & ~1u) return false;
    off += 2 + len;
  }
  return off == udata.size();
}

void decode_elements(const nlmsghdr& m, NftSet& set) {
  bool bad = false;
  bool ok = each_nested(message_attrs(m), [&](uint16_t t, std::string_view v) {
    if (t == NFTA_SET_ELEM_LIST_TABLE || t == NFTA_SET_ELEM_LIST_SET) return;
    if (t != NFTA_SET_ELEM_LIST_ELEMENTS) {
      bad = true;
      return;
    }
    bad = bad || !each_nested(v, [&](uint16_t lt, std::string_view lv) {
            if (lt != NFTA_LIST_ELEM) {
              bad = true;
              return;
            }
            NftSetElem e;
            bool seen_key = false;
            bool elem_bad = !each_nested(lv, [&](uint16_t et, std::string_view ev) {
              if (et == NFTA_SET_ELEM_KEY) {
                e.key = data_value(ev, e.unread);
                seen_key = true;
              } else if (et == NFTA_SET_ELEM_FLAGS) {
                uint32_t flags = be32(ev, e.unread);
                e.interval_end = flags & NFT_SET_ELEM_INTERVAL_END;
                if (flags & ~static_cast<uint32_t>(NFT_SET_ELEM_INTERVAL_END)) e.unread = true;
              } else if (et == NFTA_SET_ELEM_USERDATA) {
                e.unread = e.unread || !element_udata_known(ev);
              } else {
                e.unread = true;  // a range's end key, data, timeout, ...
              }
            });
            e.unread = e.unread || elem_bad || !seen_key;
            bad = bad || e.unread;
            set.elements.push_back(std::move(e));
          });
  });
  if (bad || !ok) set.unread = true;
}

uint32_t generation(NfSocket& sock) {
  uint32_t gen = 0;
  bool seen = false;
  int err = sock.request(NFT_MSG_GETGEN, AF_UNSPEC, false, {}, [&](const nlmsghdr& m) {
    if (auto id = find_u32(m, NFTA_GEN_ID)) {
      gen = *id;
      seen = true;
    }
  });
  if (err != 0 || !seen) {
    throw Error(ErrorKind::BackendError, std::string("nf_tables netlink: no generation id: ") +
                                             (err ? std::strerror(err) : "no answer"));
  }
  return gen;
}

}  // namespace

NftTableState nft_table_state(std::string_view family, std::string_view table, NftTableContents* contents) {
  const uint8_t fam = family_number(family);
  const std::string name(table);
  NfSocket sock;
  NftTableState state;
  state.generation = generation(sock);
  std::string& out = state.canonical;
  // Within one network namespace of one boot, handles are never reused: with both named, a handle stands for
  // an object as it was made, and the elements of a constant anonymous set (which the kernel refuses to
  // change once its rule holds it) need not be read again. Without a namespace cookie, handles are left out
  // and every set's elements are read.
  const auto cookie = sock.netns_cookie();
  const std::string boot = boot_id();
  const bool per_namespace = cookie && !boot.empty();
  const uint16_t no_skip = 0xffff;
  if (per_namespace) out += "netns " + boot + " " + std::to_string(*cookie) + "\n";
  auto skip = [&](uint16_t handle) { return per_namespace ? no_skip : handle; };
  auto check = [&](int err, const char* what) {
    if (err != 0) {
      throw Error(ErrorKind::BackendError,
                  std::string("nf_tables netlink: dumping ") + what + ": " + std::strerror(err));
    }
  };
  int err = sock.request(NFT_MSG_GETTABLE, fam, false, {{NFTA_TABLE_NAME, name}}, [&](const nlmsghdr& m) {
    append_canonical(out, m, skip(NFTA_TABLE_HANDLE));
    if (!contents) return;
    bool bad = false;
    bool ok = each_nested(message_attrs(m), [&](uint16_t t, std::string_view v) {
      if (t == NFTA_TABLE_FLAGS)
        bad = bad || be32(v, bad) != 0;  // dormant, owned
      else if (t != NFTA_TABLE_NAME && t != NFTA_TABLE_USE && t != NFTA_TABLE_HANDLE && t != NFTA_TABLE_PAD)
        bad = true;
    });
    if (bad || !ok) contents->unread = true;
  });
  if (err == ENOENT) {
    out.clear();
    state.consistent = generation(sock) == state.generation;
    return state;
  }
  check(err, "the table");
  state.present = true;
  // Everything below is asked for this table and checked again by its table attribute.
  check(sock.request(NFT_MSG_GETCHAIN, fam, true, {{NFTA_CHAIN_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_CHAIN_TABLE) == name) {
                         append_canonical(out, m, skip(NFTA_CHAIN_HANDLE));
                         if (contents) decode_chain(m, fam, *contents);
                       }
                     }),
        "chains");
  struct SetToRead {
    std::string name;
    size_t index;  // in contents->sets
    bool digest;   // its elements go into `canonical`
  };
  std::vector<SetToRead> sets;
  check(sock.request(NFT_MSG_GETSET, fam, true, {{NFTA_SET_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_SET_TABLE) != name) return;
                       append_canonical(out, m, skip(NFTA_SET_HANDLE));
                       uint32_t flags = u32_attr(m, NFTA_SET_FLAGS);
                       bool constant = (flags & NFT_SET_ANONYMOUS) && (flags & NFT_SET_CONSTANT) &&
                                       !(flags & (NFT_SET_TIMEOUT | NFT_SET_EVAL | NFT_SET_EXPR));
                       bool digest = !(per_namespace && constant);
                       if (contents) decode_set(m, *contents);
                       if (digest || contents) {
                         sets.push_back({std::string(string_attr(m, NFTA_SET_NAME)),
                                         contents ? contents->sets.size() - 1 : size_t(-1), digest});
                       }
                     }),
        "sets");
  for (const auto& set : sets) {
    check(sock.request(NFT_MSG_GETSETELEM, fam, true,
                       {{NFTA_SET_ELEM_LIST_TABLE, name}, {NFTA_SET_ELEM_LIST_SET, set.name}},
                       [&](const nlmsghdr& m) {
                         if (set.digest) append_canonical(out, m, no_skip);
                         if (contents) decode_elements(m, contents->sets[set.index]);
                       }),
          "set elements");
  }
  check(sock.request(NFT_MSG_GETRULE, fam, true, {{NFTA_RULE_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_RULE_TABLE) == name) {
                         append_canonical(out, m, skip(NFTA_RULE_HANDLE), skip(NFTA_RULE_POSITION));
                         if (contents) decode_rule(m, *contents);
                       }
                     }),
        "rules");
  check(sock.request(NFT_MSG_GETOBJ, fam, true, {{NFTA_OBJ_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_OBJ_TABLE) == name) {
                         append_canonical(out, m, skip(NFTA_OBJ_HANDLE));
                         if (contents) contents->unread = true;
                       }
                     }),
        "objects");
  check(sock.request(NFT_MSG_GETFLOWTABLE, fam, true, {{NFTA_FLOWTABLE_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_FLOWTABLE_TABLE) == name) {
                         append_canonical(out, m, skip(NFTA_FLOWTABLE_HANDLE));
                         if (contents) contents->unread = true;
                       }
                     }),
        "flowtables");
  state.consistent = !sock.interrupted && generation(sock) == state.generation;
  return state;
}

uint32_t nft_generation() {
  NfSocket sock;
  return generation(sock);
}

std::string nft_library_identity() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&nft_ctx_new), &info) == 0 || !info.dli_fname) return {};
  struct stat st {};
  if (::stat(info.dli_fname, &st) != 0) return {};
  return std::string(info.dli_fname) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_ino) +
         ":" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

NftResult nft_run(std::string_view commands) {
  std::unique_ptr<nft_ctx, CtxFree> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) throw Error(ErrorKind::Unavailable, "libnftables: cannot create a context");
  nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    throw Error(ErrorKind::Unavailable, "libnftables: cannot buffer output");
  }
  std::string buffer(commands);  // nft_run_cmd_from_buffer wants a NUL-terminated string
  NftResult result;
  result.rc = nft_run_cmd_from_buffer(ctx.get(), buffer.c_str());
  if (const char* out = nft_ctx_get_output_buffer(ctx.get())) result.output = out;
  if (const char* err = nft_ctx_get_error_buffer(ctx.get())) result.error = err;
  return result;
}

std::string nft_run_checked(std::string_view commands, std::string_view doing) {
  auto result = nft_run(commands);
  if (result.rc != 0) {
    std::string message = trim(result.error);
    if (message.empty()) message = "nft refused the command (status " + std::to_string(result.rc) + ")";
    throw Error(ErrorKind::BackendError, std::string(doing) + ": " + message);
  }
  return result.output;
}

}  // namespace opdbus::sys
