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

NftTableState nft_table_state(std::string_view family, std::string_view table) {
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
  int err = sock.request(NFT_MSG_GETTABLE, fam, false, {{NFTA_TABLE_NAME, name}},
                         [&](const nlmsghdr& m) { append_canonical(out, m, skip(NFTA_TABLE_HANDLE)); });
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
                       }
                     }),
        "chains");
  std::vector<std::string> sets;
  check(sock.request(NFT_MSG_GETSET, fam, true, {{NFTA_SET_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_SET_TABLE) != name) return;
                       append_canonical(out, m, skip(NFTA_SET_HANDLE));
                       uint32_t flags = u32_attr(m, NFTA_SET_FLAGS);
                       bool constant = (flags & NFT_SET_ANONYMOUS) && (flags & NFT_SET_CONSTANT) &&
                                       !(flags & (NFT_SET_TIMEOUT | NFT_SET_EVAL | NFT_SET_EXPR));
                       if (!(per_namespace && constant)) sets.emplace_back(string_attr(m, NFTA_SET_NAME));
                     }),
        "sets");
  for (const auto& set : sets) {
    check(sock.request(NFT_MSG_GETSETELEM, fam, true,
                       {{NFTA_SET_ELEM_LIST_TABLE, name}, {NFTA_SET_ELEM_LIST_SET, set}},
                       [&](const nlmsghdr& m) { append_canonical(out, m, no_skip); }),
          "set elements");
  }
  check(sock.request(NFT_MSG_GETRULE, fam, true, {{NFTA_RULE_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_RULE_TABLE) == name) {
                         append_canonical(out, m, skip(NFTA_RULE_HANDLE), skip(NFTA_RULE_POSITION));
                       }
                     }),
        "rules");
  check(sock.request(NFT_MSG_GETOBJ, fam, true, {{NFTA_OBJ_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_OBJ_TABLE) == name) {
                         append_canonical(out, m, skip(NFTA_OBJ_HANDLE));
                       }
                     }),
        "objects");
  check(sock.request(NFT_MSG_GETFLOWTABLE, fam, true, {{NFTA_FLOWTABLE_TABLE, name}},
                     [&](const nlmsghdr& m) {
                       if (string_attr(m, NFTA_FLOWTABLE_TABLE) == name) {
                         append_canonical(out, m, skip(NFTA_FLOWTABLE_HANDLE));
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
