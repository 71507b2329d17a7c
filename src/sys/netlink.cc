#include "sys/netlink.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>

#include "error.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace opdbus::sys {
namespace {

const std::array<const char*, 7> kBondModes = {"balance-rr", "active-backup", "balance-xor", "broadcast",
                                               "802.3ad",    "balance-tlb",   "balance-alb"};

struct MsgFree {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using MsgPtr = std::unique_ptr<nl_msg, MsgFree>;
struct CbPut {
  void operator()(nl_cb* cb) const { nl_cb_put(cb); }
};
struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using AddrPtr = std::unique_ptr<nl_addr, AddrPut>;
struct RtAddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};

// What the kernel answered to one request.
struct Reply {
  bool acked = false;
  int error = 0;        // errno
  std::string message;  // extended ack text
};

int on_ack(nl_msg*, void* arg) {
  static_cast<Reply*>(arg)->acked = true;
  return NL_STOP;
}

int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
  auto* reply = static_cast<Reply*>(arg);
  reply->error = -err->error;
  // With NETLINK_EXT_ACK the kernel appends attributes after the echoed request; NLMSGERR_ATTR_MSG is its
  // explanation ("Unknown device type", "Nexthop has invalid gateway", ...).
  auto* hdr = reinterpret_cast<nlmsghdr*>(reinterpret_cast<char*>(err) - NLMSG_HDRLEN);
  if (hdr->nlmsg_flags & NLM_F_ACK_TLVS) {
    size_t offset = sizeof(nlmsgerr);
    if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
    offset = NLMSG_ALIGN(offset);
    size_t total = hdr->nlmsg_len - NLMSG_HDRLEN;
    if (offset < total) {
      nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
      auto* first = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(err) + offset);
      if (nla_parse(tb, NLMSGERR_ATTR_MAX, first, static_cast<int>(total - offset), nullptr) == 0 &&
          tb[NLMSGERR_ATTR_MSG]) {
        reply->message = nla_get_string(tb[NLMSGERR_ATTR_MSG]);
      }
    }
  }
  return NL_STOP;
}

int on_valid(nl_msg* msg, void* arg) {
  (*static_cast<std::function<void(nl_msg*)>*>(arg))(msg);
  return NL_OK;
}

ErrorKind kind_for_errno(int e) {
  switch (e) {
    case EPERM:
    case EACCES:
      return ErrorKind::PermissionError;
    case EOPNOTSUPP:
      return ErrorKind::NotSupported;
    default:
      return ErrorKind::BackendError;
  }
}

std::string format_address(int family, const void* bytes, unsigned len) {
  char buf[INET6_ADDRSTRLEN] = {};
  unsigned char zero[16] = {};
  if (len == 0) bytes = zero;
  if (!inet_ntop(family, bytes, buf, sizeof buf)) return "";
  return buf;
}

std::string format_nl_addr(nl_addr* a, bool with_prefix) {
  if (!a) return "";
  std::string s = format_address(nl_addr_get_family(a), nl_addr_get_binary_addr(a), nl_addr_get_len(a));
  if (with_prefix) s += "/" + std::to_string(nl_addr_get_prefixlen(a));
  return s;
}

AddrPtr parse_address(const std::string& text, int family) {
  nl_addr* a = nullptr;
  int rc = nl_addr_parse(text.c_str(), family, &a);
  if (rc < 0 || !a) throw Error(ErrorKind::InvalidArgument, "not an address: '" + text + "'");
  return AddrPtr(a);
}

std::string format_mac(const unsigned char* b, int len) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < len; ++i) {
    if (i) out += ':';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 15];
  }
  return out;
}

std::vector<unsigned char> parse_mac(const std::string& text) {
  std::vector<unsigned char> out;
  unsigned v[6];
  if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    throw Error(ErrorKind::InvalidArgument, "not a MAC address: '" + text + "'");
  }
  for (unsigned x : v) out.push_back(static_cast<unsigned char>(x));
  return out;
}

LinkInfo parse_link(nl_msg* msg) {
  LinkInfo l;
  nlmsghdr* hdr = nlmsg_hdr(msg);
  auto* ifi = static_cast<ifinfomsg*>(nlmsg_data(hdr));
  l.index = ifi->ifi_index;
  l.arptype = ifi->ifi_type;
  l.up = ifi->ifi_flags & IFF_UP;
  l.lower_up = ifi->ifi_flags & IFF_LOWER_UP;
  nlattr* tb[IFLA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) return l;
  if (tb[IFLA_IFNAME]) l.name = nla_get_string(tb[IFLA_IFNAME]);
  if (tb[IFLA_MTU]) l.mtu = nla_get_u32(tb[IFLA_MTU]);
  if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6) {
    l.mac = format_mac(static_cast<unsigned char*>(nla_data(tb[IFLA_ADDRESS])), 6);
  }
  if (tb[IFLA_IFALIAS]) l.alias = nla_get_string(tb[IFLA_IFALIAS]);
  if (tb[IFLA_MASTER]) l.master = static_cast<int>(nla_get_u32(tb[IFLA_MASTER]));
  if (tb[IFLA_LINK]) l.link = static_cast<int>(nla_get_u32(tb[IFLA_LINK]));
  if (tb[IFLA_LINK_NETNSID]) l.link_elsewhere = true;
  if (tb[IFLA_LINKINFO]) {
    nlattr* info[IFLA_INFO_MAX + 1] = {};
    if (nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) == 0) {
      if (info[IFLA_INFO_KIND]) l.kind = nla_get_string(info[IFLA_INFO_KIND]);
      if (info[IFLA_INFO_SLAVE_KIND]) l.slave_kind = nla_get_string(info[IFLA_INFO_SLAVE_KIND]);
      if (info[IFLA_INFO_DATA]) {
        if (l.kind == "vlan") {
          nlattr* d[IFLA_VLAN_MAX + 1] = {};
          if (nla_parse_nested(d, IFLA_VLAN_MAX, info[IFLA_INFO_DATA], nullptr) == 0 && d[IFLA_VLAN_ID]) {
            l.vlan_id = nla_get_u16(d[IFLA_VLAN_ID]);
          }
        } else if (l.kind == "bond") {
          nlattr* d[IFLA_BOND_MAX + 1] = {};
          if (nla_parse_nested(d, IFLA_BOND_MAX, info[IFLA_INFO_DATA], nullptr) == 0 && d[IFLA_BOND_MODE]) {
            l.bond_mode = nla_get_u8(d[IFLA_BOND_MODE]);
          }
        } else if (l.kind == "bridge") {
          nlattr* d[IFLA_BR_MAX + 1] = {};
          if (nla_parse_nested(d, IFLA_BR_MAX, info[IFLA_INFO_DATA], nullptr) == 0) {
            if (d[IFLA_BR_STP_STATE]) l.stp_state = nla_get_u32(d[IFLA_BR_STP_STATE]);
            if (d[IFLA_BR_VLAN_FILTERING]) l.vlan_filtering = nla_get_u8(d[IFLA_BR_VLAN_FILTERING]);
          }
        }
      }
    }
  }
  return l;
}

// A RTM_NEWLINK/RTM_DELLINK message with its ifinfomsg header.
MsgPtr link_message(int type, int flags, int index) {
  MsgPtr m(nlmsg_alloc_simple(type, flags));
  if (!m) throw Error(ErrorKind::BackendError, "out of memory for a netlink message");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  if (nlmsg_append(m.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0) {
    throw Error(ErrorKind::Bug, "netlink message too small");
  }
  return m;
}

void check_put(int rc) {
  if (rc < 0) throw Error(ErrorKind::Bug, std::string("building a netlink message: ") + nl_geterror(rc));
}

}  // namespace

bool AddressInfo::permanent() const {
  return (flags & IFA_F_PERMANENT) && !(flags & IFA_F_DADFAILED);
}

std::optional<uint8_t> bond_mode_number(const std::string& name) {
  for (size_t i = 0; i < kBondModes.size(); ++i) {
    if (name == kBondModes[i]) return static_cast<uint8_t>(i);
  }
  return std::nullopt;
}

std::string bond_mode_name(uint8_t mode) {
  if (mode < kBondModes.size()) return kBondModes[mode];
  return "mode-" + std::to_string(mode);
}

Netlink::Netlink(nl_sock* sock) : sock_(sock) {}

Netlink::~Netlink() {
  if (sock_) nl_socket_free(sock_);
}

std::unique_ptr<Netlink> Netlink::open() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) throw Error(ErrorKind::BackendError, "netlink: out of memory");
  int rc = nl_connect(sock, NETLINK_ROUTE);
  if (rc < 0) {
    nl_socket_free(sock);
    throw Error(ErrorKind::BackendError, std::string("netlink: connect: ") + nl_geterror(rc));
  }
  int one = 1;
  // Best effort: older kernels simply send no explanation.
  (void)::setsockopt(nl_socket_get_fd(sock), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  nl_socket_set_buffer_size(sock, 1 << 20, 1 << 20);
  return std::unique_ptr<Netlink>(new Netlink(sock));
}

namespace {

// Sends one request and waits for the kernel's acknowledgement; a refusal throws with the kernel's reason.
void request(nl_sock* sock, nl_msg* msg, const std::string& what) {
  std::unique_ptr<nl_cb, CbPut> cb(nl_cb_clone(nl_socket_get_cb(sock)));
  if (!cb) throw Error(ErrorKind::BackendError, "netlink: out of memory");
  Reply reply;
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &reply);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_ack, &reply);
  nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
  int rc = nl_send_auto(sock, msg);
  if (rc < 0) throw Error(ErrorKind::BackendError, what + ": send: " + nl_geterror(rc));
  while (!reply.acked && reply.error == 0) {
    rc = nl_recvmsgs(sock, cb.get());
    if (rc < 0) break;
  }
  if (reply.error) {
    std::string text = what + ": " + std::strerror(reply.error);
    if (!reply.message.empty()) text += " (" + reply.message + ")";
    throw Error(kind_for_errno(reply.error), text);
  }
  if (rc < 0) throw Error(ErrorKind::BackendError, what + ": " + nl_geterror(rc));
}

void dump(nl_sock* sock, nl_msg* msg, std::function<void(nl_msg*)> fn, const std::string& what) {
  std::unique_ptr<nl_cb, CbPut> cb(nl_cb_clone(nl_socket_get_cb(sock)));
  if (!cb) throw Error(ErrorKind::BackendError, "netlink: out of memory");
  Reply reply;
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &reply);
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &fn);
  int rc = nl_send_auto(sock, msg);
  if (rc < 0) throw Error(ErrorKind::BackendError, what + ": send: " + nl_geterror(rc));
  rc = nl_recvmsgs(sock, cb.get());
  if (reply.error) throw Error(kind_for_errno(reply.error), what + ": " + std::strerror(reply.error));
  if (rc < 0) throw Error(ErrorKind::BackendError, what + ": " + nl_geterror(rc));
}

}  // namespace

std::vector<LinkInfo> Netlink::links() {
  MsgPtr m = link_message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 0);
  std::vector<LinkInfo> out;
  dump(
      sock_, m.get(),
      [&](nl_msg* msg) {
        if (nlmsg_hdr(msg)->nlmsg_type == RTM_NEWLINK) out.push_back(parse_link(msg));
      },
      "list links");
  return out;
}

std::optional<LinkInfo> Netlink::link(const std::string& name) {
  // One RTM_GETLINK by name (not a dump): what callers use to learn a link they just made or changed.
  MsgPtr m = link_message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 0);
  check_put(nla_put_string(m.get(), IFLA_IFNAME, name.c_str()));
  std::unique_ptr<nl_cb, CbPut> cb(nl_cb_clone(nl_socket_get_cb(sock_)));
  if (!cb) throw Error(ErrorKind::BackendError, "netlink: out of memory");
  Reply reply;
  std::optional<LinkInfo> out;
  std::function<void(nl_msg*)> fn = [&](nl_msg* msg) {
    if (nlmsg_hdr(msg)->nlmsg_type == RTM_NEWLINK) out = parse_link(msg);
  };
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &reply);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_ack, &reply);
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &fn);
  int rc = nl_send_auto(sock_, m.get());
  if (rc < 0) throw Error(ErrorKind::BackendError, "get link " + name + ": send: " + nl_geterror(rc));
  while (!reply.acked && reply.error == 0) {
    rc = nl_recvmsgs(sock_, cb.get());
    if (rc < 0) break;
  }
  if (reply.error == ENODEV) return std::nullopt;
  if (reply.error) {
    throw Error(kind_for_errno(reply.error), "get link " + name + ": " + std::strerror(reply.error));
  }
  if (rc < 0 && !out) throw Error(ErrorKind::BackendError, "get link " + name + ": " + nl_geterror(rc));
  return out;
}

std::vector<AddressInfo> Netlink::addresses() {
  nl_cache* raw = nullptr;
  int rc = rtnl_addr_alloc_cache(sock_, &raw);
  if (rc < 0) throw Error(ErrorKind::BackendError, std::string("list addresses: ") + nl_geterror(rc));
  std::unique_ptr<nl_cache, CacheFree> cache(raw);
  std::vector<AddressInfo> out;
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    AddressInfo info;
    info.index = rtnl_addr_get_ifindex(a);
    info.family = rtnl_addr_get_family(a);
    if (info.family != AF_INET && info.family != AF_INET6) continue;
    nl_addr* local = rtnl_addr_get_local(a);
    if (!local) continue;
    info.address = format_address(info.family, nl_addr_get_binary_addr(local), nl_addr_get_len(local)) + "/" +
                   std::to_string(rtnl_addr_get_prefixlen(a));
    info.flags = rtnl_addr_get_flags(a);
    info.scope = static_cast<unsigned>(rtnl_addr_get_scope(a));
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<RouteInfo> Netlink::routes() {
  nl_cache* raw = nullptr;
  int rc = rtnl_route_alloc_cache(sock_, AF_UNSPEC, 0, &raw);
  if (rc < 0) throw Error(ErrorKind::BackendError, std::string("list routes: ") + nl_geterror(rc));
  std::unique_ptr<nl_cache, CacheFree> cache(raw);
  std::vector<RouteInfo> out;
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    RouteInfo info;
    info.family = rtnl_route_get_family(r);
    if (info.family != AF_INET && info.family != AF_INET6) continue;
    nl_addr* dst = rtnl_route_get_dst(r);
    if (!dst) continue;
    info.destination = format_address(info.family, nl_addr_get_binary_addr(dst), nl_addr_get_len(dst)) + "/" +
                       std::to_string(nl_addr_get_prefixlen(dst));
    info.table = rtnl_route_get_table(r);
    info.metric = rtnl_route_get_priority(r);
    info.protocol = rtnl_route_get_protocol(r);
    info.type = rtnl_route_get_type(r);
    info.scope = rtnl_route_get_scope(r);
    info.nexthops = rtnl_route_get_nnexthops(r);
    if (info.nexthops > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      info.oif = rtnl_route_nh_get_ifindex(nh);
      if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) info.gateway = format_nl_addr(gw, false);
    }
    out.push_back(std::move(info));
  }
  return out;
}

void Netlink::create_link(const LinkSpec& spec) {
  MsgPtr m = link_message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, 0);
  nl_msg* msg = m.get();
  check_put(nla_put_string(msg, IFLA_IFNAME, spec.name.c_str()));
  if (spec.mtu) check_put(nla_put_u32(msg, IFLA_MTU, *spec.mtu));
  if (!spec.mac.empty()) {
    auto mac = parse_mac(spec.mac);
    check_put(nla_put(msg, IFLA_ADDRESS, static_cast<int>(mac.size()), mac.data()));
  }
  if (spec.kind == "vlan") check_put(nla_put_u32(msg, IFLA_LINK, static_cast<uint32_t>(spec.parent)));
  nlattr* linkinfo = nla_nest_start(msg, IFLA_LINKINFO);
  if (!linkinfo) check_put(-NLE_NOMEM);
  check_put(nla_put_string(msg, IFLA_INFO_KIND, spec.kind.c_str()));
  bool has_data = spec.kind == "veth" || spec.kind == "vlan" || (spec.kind == "bond" && spec.bond_mode) ||
                  (spec.kind == "bridge" && (spec.stp_state || spec.vlan_filtering));
  if (has_data) {
    nlattr* data = nla_nest_start(msg, IFLA_INFO_DATA);
    if (!data) check_put(-NLE_NOMEM);
    if (spec.kind == "veth") {
      nlattr* peer = nla_nest_start(msg, VETH_INFO_PEER);
      if (!peer) check_put(-NLE_NOMEM);
      ifinfomsg pifi{};
      pifi.ifi_family = AF_UNSPEC;
      check_put(nlmsg_append(msg, &pifi, sizeof pifi, NLMSG_ALIGNTO));
      check_put(nla_put_string(msg, IFLA_IFNAME, spec.peer.c_str()));
      if (spec.mtu) check_put(nla_put_u32(msg, IFLA_MTU, *spec.mtu));
      nla_nest_end(msg, peer);
    } else if (spec.kind == "vlan") {
      check_put(nla_put_u16(msg, IFLA_VLAN_ID, spec.vlan_id));
    } else if (spec.kind == "bond") {
      check_put(nla_put_u8(msg, IFLA_BOND_MODE, *spec.bond_mode));
    } else if (spec.kind == "bridge") {
      if (spec.stp_state) check_put(nla_put_u32(msg, IFLA_BR_STP_STATE, *spec.stp_state));
      if (spec.vlan_filtering) check_put(nla_put_u8(msg, IFLA_BR_VLAN_FILTERING, *spec.vlan_filtering));
    }
    nla_nest_end(msg, data);
  }
  nla_nest_end(msg, linkinfo);
  request(sock_, msg, "create " + spec.kind + " " + spec.name);
}

void Netlink::change_link(int index, const LinkChange& change) {
  const std::string what = "link #" + std::to_string(index);
  // One message per kind of change, in an order that works: options that need the link down first, then
  // MTU/MAC/alias, then the master, then the administrative state.
  auto linkinfo_change = [&](const char* kind, const std::function<void(nl_msg*)>& put_data) {
    MsgPtr m = link_message(RTM_NEWLINK, NLM_F_REQUEST, index);
    nlattr* li = nla_nest_start(m.get(), IFLA_LINKINFO);
    if (!li) check_put(-NLE_NOMEM);
    check_put(nla_put_string(m.get(), IFLA_INFO_KIND, kind));
    nlattr* data = nla_nest_start(m.get(), IFLA_INFO_DATA);
    if (!data) check_put(-NLE_NOMEM);
    put_data(m.get());
    nla_nest_end(m.get(), data);
    nla_nest_end(m.get(), li);
    request(sock_, m.get(), what + ": set " + kind + " options");
  };
  if (change.bond_mode) {
    linkinfo_change("bond", [&](nl_msg* m) { check_put(nla_put_u8(m, IFLA_BOND_MODE, *change.bond_mode)); });
  }
  if (change.stp_state || change.vlan_filtering) {
    linkinfo_change("bridge", [&](nl_msg* m) {
      if (change.stp_state) check_put(nla_put_u32(m, IFLA_BR_STP_STATE, *change.stp_state));
      if (change.vlan_filtering) check_put(nla_put_u8(m, IFLA_BR_VLAN_FILTERING, *change.vlan_filtering));
    });
  }
  if (change.mtu) {
    MsgPtr m = link_message(RTM_NEWLINK, NLM_F_REQUEST, index);
    check_put(nla_put_u32(m.get(), IFLA_MTU, *change.mtu));
    request(sock_, m.get(), what + ": set mtu " + std::to_string(*change.mtu));
  }
  if (change.mac) {
    MsgPtr m = link_message(RTM_NEWLINK, NLM_F_REQUEST, index);
    auto mac = parse_mac(*change.mac);
    check_put(nla_put(m.get(), IFLA_ADDRESS, static_cast<int>(mac.size()), mac.data()));
    request(sock_, m.get(), what + ": set mac " + *change.mac);
  }
  if (change.alias) {
    MsgPtr m = link_message(RTM_NEWLINK, NLM_F_REQUEST, index);
    check_put(nla_put(m.get(), IFLA_IFALIAS, static_cast<int>(change.alias->size()), change.alias->data()));
    request(sock_, m.get(), what + ": set alias");
  }
  if (change.master) {
    MsgPtr m = link_message(RTM_NEWLINK, NLM_F_REQUEST, index);
    check_put(nla_put_u32(m.get(), IFLA_MASTER, static_cast<uint32_t>(*change.master)));
    request(sock_, m.get(),
            *change.master ? what + ": set master #" + std::to_string(*change.master)
                           : what + ": release from its master");
  }
  if (change.up) {
    MsgPtr m(nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST));
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = index;
    ifi.ifi_change = IFF_UP;
    ifi.ifi_flags = *change.up ? IFF_UP : 0;
    check_put(nlmsg_append(m.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO));
    request(sock_, m.get(), what + (*change.up ? ": set up" : ": set down"));
  }
}

void Netlink::delete_link(int index) {
  MsgPtr m = link_message(RTM_DELLINK, NLM_F_REQUEST, index);
  request(sock_, m.get(), "delete link #" + std::to_string(index));
}

namespace {

std::unique_ptr<rtnl_addr, RtAddrPut> make_rtnl_addr(int index, const std::string& cidr) {
  std::unique_ptr<rtnl_addr, RtAddrPut> a(rtnl_addr_alloc());
  if (!a) throw Error(ErrorKind::BackendError, "netlink: out of memory");
  AddrPtr local = parse_address(cidr, AF_UNSPEC);
  rtnl_addr_set_ifindex(a.get(), index);
  rtnl_addr_set_family(a.get(), nl_addr_get_family(local.get()));
  check_put(rtnl_addr_set_local(a.get(), local.get()));
  rtnl_addr_set_prefixlen(a.get(), static_cast<int>(nl_addr_get_prefixlen(local.get())));
  return a;
}

}  // namespace

void Netlink::add_address(int index, const std::string& cidr) {
  auto a = make_rtnl_addr(index, cidr);
  nl_msg* raw = nullptr;
  check_put(rtnl_addr_build_add_request(a.get(), NLM_F_EXCL, &raw));
  MsgPtr m(raw);
  request(sock_, m.get(), "add address " + cidr + " to link #" + std::to_string(index));
}

void Netlink::delete_address(int index, const std::string& cidr) {
  auto a = make_rtnl_addr(index, cidr);
  nl_msg* raw = nullptr;
  check_put(rtnl_addr_build_delete_request(a.get(), 0, &raw));
  MsgPtr m(raw);
  request(sock_, m.get(), "delete address " + cidr + " from link #" + std::to_string(index));
}

namespace {

std::unique_ptr<rtnl_route, RoutePut> make_route(const RouteInfo& r) {
  std::unique_ptr<rtnl_route, RoutePut> route(rtnl_route_alloc());
  if (!route) throw Error(ErrorKind::BackendError, "netlink: out of memory");
  AddrPtr dst = parse_address(r.destination, r.family);
  check_put(rtnl_route_set_family(route.get(), static_cast<uint8_t>(r.family)));
  check_put(rtnl_route_set_dst(route.get(), dst.get()));
  rtnl_route_set_table(route.get(), r.table);
  rtnl_route_set_priority(route.get(), r.metric);
  rtnl_route_set_protocol(route.get(), r.protocol);
  check_put(rtnl_route_set_type(route.get(), r.type));
  rtnl_route_set_scope(route.get(), r.scope);
  if (r.oif || !r.gateway.empty()) {
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (!nh) throw Error(ErrorKind::BackendError, "netlink: out of memory");
    if (r.oif) rtnl_route_nh_set_ifindex(nh, r.oif);
    if (!r.gateway.empty()) {
      AddrPtr gw = parse_address(r.gateway, r.family);
      rtnl_route_nh_set_gateway(nh, gw.get());
    }
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns it now
  }
  return route;
}

std::string describe_route(const RouteInfo& r) {
  std::string s = r.destination;
  if (!r.gateway.empty()) s += " via " + r.gateway;
  if (r.oif) s += " dev #" + std::to_string(r.oif);
  if (r.table != RT_TABLE_MAIN) s += " table " + std::to_string(r.table);
  s += " metric " + std::to_string(r.metric);
  return s;
}

}  // namespace

void Netlink::add_route(const RouteInfo& r, bool replace) {
  auto route = make_route(r);
  nl_msg* raw = nullptr;
  check_put(rtnl_route_build_add_request(route.get(), replace ? NLM_F_REPLACE : NLM_F_EXCL, &raw));
  MsgPtr m(raw);
  request(sock_, m.get(), "add route " + describe_route(r));
}

void Netlink::delete_route(const RouteInfo& r) {
  RouteInfo match = r;
  match.protocol = 0;  // any protocol
  auto route = make_route(match);
  nl_msg* raw = nullptr;
  check_put(rtnl_route_build_del_request(route.get(), 0, &raw));
  MsgPtr m(raw);
  request(sock_, m.get(), "delete route " + describe_route(r));
}

}  // namespace opdbus::sys
