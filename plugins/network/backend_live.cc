// The live backend: rtnetlink in this process's network namespace, OVSDB, systemd-resolved or
// /etc/resolv.conf, dhclient. The host is read once per plan into an index (HostState) that the changes made
// here keep up to date; what a change can alter behind our back (routes when a link goes down, secondary
// addresses when a primary goes) is marked stale and read again only if something asks for it.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "context.h"
#include "error.h"
#include "network/backend_root.h"
#include "network/resolv_conf.h"
#include "run_dir.h"
#include "sys/fs.h"
#include "sys/netlink.h"
#include "sys/ovsdb.h"
#include "sys/process.h"
#include "sys/resolved.h"
#include "sys/rootdir.h"
#include "text.h"

namespace opdbus::network {
namespace {

constexpr const char* kResolvConf = "/etc/resolv.conf";
constexpr unsigned kAddressPermanent = 0x80;  // IFA_F_PERMANENT
constexpr unsigned kScopeLink = 253;

// Where op-dbus keeps its DHCP clients' pid and lease files (a host path: the live system only).
std::filesystem::path run_dir() {
  return std::filesystem::absolute(runtime_dir());
}

std::string pidfile_name(const std::string& link) {
  return "dhclient-" + link + ".pid";
}
// The lease is runtime state like the rest: after a reboot the boot unit starts the client again.
std::string leases_name(const std::string& link) {
  return "dhclient-" + link + ".leases";
}

// True when `pid` is a running process whose command name starts with `comm` (checked through /proc, never
// by signalling a pid read from a file).
bool process_is(pid_t pid, std::string_view comm) {
  if (pid <= 0) return false;
  auto text = sys::read_file("/proc/" + std::to_string(pid) + "/comm");
  return text && starts_with(*text, comm);
}

class LiveBackend : public RootFilesBackend {
 public:
  using RootFilesBackend::RootFilesBackend;

  std::string describe() override {
    size_t n = links().size();
    std::string ovs =
        ovs_unavailable() ? "Open vSwitch not available" : "Open vSwitch on " + sys::Ovsdb::default_socket();
    return "rtnetlink (" + std::to_string(n) + " links); DNS via " +
           (dns_mode() == "resolved" ? std::string("systemd-resolved") : std::string(kResolvConf)) + "; " +
           ovs;
  }
  bool live() const override { return true; }

  std::optional<std::string> ovs_unavailable() override {
    if (!ovs_checked_) {
      ovs_checked_ = true;
      try {
        ovs_ = sys::Ovsdb::connect();
      } catch (const Error& e) {
        ovs_reason_ = e.message();
      }
    }
    if (ovs_) return std::nullopt;
    return ovs_reason_;
  }

  void refresh() override {
    st_ = HostState{};
    links_ok_ = addresses_ok_ = routes_ok_ = dns_ok_ = dhcp_ok_ = ovs_ok_ = false;
  }

  const HostState& host(bool with_ovs) override {
    ensure_links();
    addresses();
    if (!routes_ok_) {
      st_.routes = nl().routes();
      routes_ok_ = true;
    }
    if (!dns_ok_) {
      read_dns();
      dns_ok_ = true;
    }
    if (!dhcp_ok_) {
      read_dhcp();
      dhcp_ok_ = true;
    }
    if (with_ovs && !ovs_ok_ && !ovs_unavailable()) {
      st_.ovs = ovs_->bridges();
      ovs_ok_ = true;
    }
    return st_;
  }

  const std::vector<sys::LinkInfo>& links() override {
    ensure_links();
    return st_.links;
  }
  const std::vector<sys::AddressInfo>& addresses() override {
    if (!addresses_ok_) {
      st_.addresses = nl().addresses();
      addresses_ok_ = true;
    }
    return st_.addresses;
  }

  void create_link(const sys::LinkSpec& spec) override {
    nl().create_link(spec);
    reread_link(spec.name);
    if (spec.kind == "veth") {
      reread_link(spec.peer);
      reread_link(spec.name);  // its peer's index is known now
    }
  }

  void change_link(int index, const sys::LinkChange& change) override {
    const sys::LinkInfo* before = cached(index);
    int old_master = before ? before->master : 0;
    nl().change_link(index, change);
    if (!before) return;
    std::string name = before->name;
    reread_link(name);
    // A master's MTU and address follow its ports; a link that goes down takes its routes with it.
    if (change.master) {
      if (const sys::LinkInfo* m = cached(old_master)) reread_link(std::string(m->name));
      if (const sys::LinkInfo* m = cached(*change.master)) reread_link(std::string(m->name));
    }
    if (change.up || change.master || change.mtu) routes_ok_ = false;
  }

  void delete_link(int index) override {
    nl().delete_link(index);
    if (!links_ok_) return;
    // The kernel takes along the other end of a veth and the VLANs on a link.
    std::vector<int> gone = {index};
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& l : st_.links) {
        if (std::find(gone.begin(), gone.end(), l.index) != gone.end()) continue;
        bool linked = !l.link_elsewhere && std::find(gone.begin(), gone.end(), l.link) != gone.end();
        bool peer = l.kind == "veth" && linked;
        bool upper = linked && l.kind != "" && l.kind != "veth" && l.kind != "bridge" && l.kind != "bond";
        if (peer || upper) {
          gone.push_back(l.index);
          grew = true;
        }
      }
    }
    auto is_gone = [&](int i) { return std::find(gone.begin(), gone.end(), i) != gone.end(); };
    for (const auto& l : st_.links) {
      if (is_gone(l.index)) st_.dns.erase(l.name);
    }
    st_.links.erase(
        std::remove_if(st_.links.begin(), st_.links.end(), [&](const auto& l) { return is_gone(l.index); }),
        st_.links.end());
    for (auto& l : st_.links) {
      if (is_gone(l.master)) l.master = 0, l.slave_kind.clear();
    }
    st_.addresses.erase(std::remove_if(st_.addresses.begin(), st_.addresses.end(),
                                       [&](const auto& a) { return is_gone(a.index); }),
                        st_.addresses.end());
    routes_ok_ = false;
  }

  void add_address(int index, const std::string& cidr) override {
    nl().add_address(index, cidr);
    sys::AddressInfo a;
    a.index = index;
    a.family = cidr.find(':') == std::string::npos ? 2 : 10;
    a.address = cidr;
    a.flags = kAddressPermanent;
    a.scope = starts_with(lower(cidr), "fe80:") ? kScopeLink : 0;
    st_.addresses.push_back(a);
    routes_ok_ = false;  // the prefix route
  }

  void delete_address(int index, const std::string& cidr) override {
    nl().delete_address(index, cidr);
    // Removing a primary IPv4 address can take its secondaries with it.
    addresses_ok_ = false;
    routes_ok_ = false;
  }

  void add_route(const sys::RouteInfo& route, bool replace) override {
    nl().add_route(route, replace);
    if (!routes_ok_) return;
    if (replace) {
      st_.routes.erase(std::remove_if(st_.routes.begin(), st_.routes.end(),
                                      [&](const sys::RouteInfo& r) {
                                        return r.family == route.family &&
                                               r.destination == route.destination && r.table == route.table &&
                                               r.metric == route.metric;
                                      }),
                       st_.routes.end());
    }
    st_.routes.push_back(route);
  }

  void delete_route(const sys::RouteInfo& route) override {
    nl().delete_route(route);
    if (!routes_ok_) return;
    auto it = std::find_if(st_.routes.begin(), st_.routes.end(), [&](const sys::RouteInfo& r) {
      return r.family == route.family && r.destination == route.destination && r.gateway == route.gateway &&
             r.oif == route.oif && r.metric == route.metric && r.table == route.table;
    });
    if (it != st_.routes.end()) st_.routes.erase(it);
  }

  // Open vSwitch makes and removes the kernel side of its bridges and ports itself: read both again.
  void ovs_add_bridge(const std::string& name) override {
    ovs().add_bridge(name);
    ovs_changed();
  }
  void ovs_delete_bridge(const std::string& name) override {
    ovs().delete_bridge(name);
    ovs_changed();
  }
  void ovs_set_ports(const std::string& bridge, const std::vector<std::string>& add,
                     const std::vector<std::string>& remove) override {
    ovs().set_ports(bridge, add, remove);
    ovs_changed();
  }

  std::string dns_mode() override {
    if (dns_mode_.empty()) {
      dns_mode_ = "file";
      try {
        if (resolved().available()) dns_mode_ = "resolved";
      } catch (const Error&) {
        // No system bus: resolved cannot be running.
      }
    }
    return dns_mode_;
  }

  void set_dns(const std::string& link, int index, const std::vector<std::string>& servers) override {
    if (dns_mode() == "resolved") {
      resolved().set_link_dns(index, servers);
    } else {
      write_file(kResolvConf, render_resolv_conf(read_file(kResolvConf), link, servers));
    }
    if (servers.empty())
      st_.dns.erase(link);
    else
      st_.dns[link] = servers;
  }

  void set_dhcp(const std::string& link, bool enable) override {
    const std::string pidfile = (run_dir() / pidfile_name(link)).string();
    const std::string leases = (run_dir() / leases_name(link)).string();
    // The client changes addresses and routes on its own.
    addresses_ok_ = routes_ok_ = false;
    if (!enable) {
      if (pid_t pid = dhclient_pid(link)) {
        // -r releases the lease and signals the client the pid file names; it does not wait for it to go.
        sys::run_checked({"dhclient", "-r", "-pf", pidfile, "-lf", leases, link});
        for (int i = 0; i < 50 && process_is(pid, "dhclient"); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
      if (auto dir = run_root()) dir->remove("/" + pidfile_name(link));
      st_.dhcp.erase(link);
      return;
    }
    if (dhclient_pid(link)) {
      st_.dhcp.insert(link);
      return;
    }
    sys::RootDir("/").make_dirs(run_dir().string());
    try {
      sys::run_checked({"dhclient", "-nw", "-pf", pidfile, "-lf", leases, link});
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::NotSupported) {
        throw Error(ErrorKind::NotSupported,
                    "\"dhcp\": true needs dhclient (apt-get install isc-dhcp-client)");
      }
      throw;
    }
    // -nw returns at once; the pid file appears when the client has daemonised.
    for (int i = 0; i < 50 && !dhclient_pid(link); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!dhclient_pid(link)) throw Error(ErrorKind::BackendError, "dhclient for " + link + " did not start");
    st_.dhcp.insert(link);
  }

 private:
  sys::Netlink& nl() { return ctx_.netlink(); }
  sys::Resolved& resolved() {
    if (!resolved_) resolved_ = std::make_unique<sys::Resolved>(ctx_.system_bus());
    return *resolved_;
  }
  sys::Ovsdb& ovs() {
    if (auto why = ovs_unavailable()) throw Error(ErrorKind::Unavailable, *why);
    return *ovs_;
  }

  void ensure_links() {
    if (links_ok_) return;
    st_.links = nl().links();
    links_ok_ = true;
    dns_ok_ = false;  // per link
  }

  const sys::LinkInfo* cached(int index) const {
    if (!links_ok_ || index <= 0) return nullptr;
    for (const auto& l : st_.links) {
      if (l.index == index) return &l;
    }
    return nullptr;
  }

  // Reads one link again (a get, not a dump) into the index.
  void reread_link(const std::string& name) {
    if (!links_ok_) return;
    auto fresh = nl().link(name);
    auto it = std::find_if(st_.links.begin(), st_.links.end(), [&](const auto& l) { return l.name == name; });
    if (!fresh) {
      if (it != st_.links.end()) st_.links.erase(it);
      return;
    }
    if (it != st_.links.end())
      *it = std::move(*fresh);
    else
      st_.links.push_back(std::move(*fresh));
  }

  void ovs_changed() {
    links_ok_ = ovs_ok_ = false;
    st_.ovs.reset();
  }

  void read_dns() {
    st_.dns.clear();
    if (dns_mode() == "resolved") {
      for (const auto& l : st_.links) {
        if (l.name == "lo") continue;
        try {
          auto servers = resolved().link_dns(l.index);
          if (!servers.empty()) st_.dns[l.name] = servers;
        } catch (const Error&) {
          // resolved does not track this link (yet): no servers.
        }
      }
      return;
    }
    auto servers = resolv_conf_servers(read_file(kResolvConf));
    for (const auto& l : st_.links) {
      if (auto it = servers.find(l.name); it != servers.end()) st_.dns[l.name] = it->second;
    }
  }

  // The run directory as a root of its own (nullopt while it does not exist).
  std::optional<sys::RootDir> run_root() const {
    try {
      return sys::RootDir(run_dir());
    } catch (const Error&) {
      return std::nullopt;
    }
  }

  // The pid of the DHCP client op-dbus started for `link`, or 0 when it does not run.
  pid_t dhclient_pid(const std::string& link) const {
    auto dir = run_root();
    auto text = dir ? dir->read_file("/" + pidfile_name(link)) : std::nullopt;
    if (!text) return 0;
    pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
    return process_is(pid, "dhclient") ? pid : 0;
  }

  // One listing of the run directory: the links whose DHCP client op-dbus started is running.
  void read_dhcp() {
    st_.dhcp.clear();
    auto dir = run_root();
    if (!dir) return;
    for (const auto& e : dir->list_dir("/")) {
      if (!starts_with(e.name, "dhclient-") || !ends_with(e.name, ".pid")) continue;
      std::string link = e.name.substr(9, e.name.size() - 9 - 4);
      auto text = dir->read_file("/" + e.name);
      if (text && process_is(static_cast<pid_t>(std::atoi(text->c_str())), "dhclient")) st_.dhcp.insert(link);
    }
  }

  HostState st_;
  bool links_ok_ = false, addresses_ok_ = false, routes_ok_ = false, dns_ok_ = false, dhcp_ok_ = false,
       ovs_ok_ = false;
  std::unique_ptr<sys::Resolved> resolved_;
  std::string dns_mode_;
  bool ovs_checked_ = false;
  std::unique_ptr<sys::Ovsdb> ovs_;
  std::string ovs_reason_;
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  return std::make_unique<LiveBackend>(ctx);
}

}  // namespace opdbus::network
