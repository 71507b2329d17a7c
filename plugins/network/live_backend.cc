#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "context.h"
#include "error.h"
#include "network/files_backend.h"
#include "network/resolv_conf.h"
#include "sys/fs.h"
#include "sys/netlink.h"
#include "sys/ovsdb.h"
#include "sys/process.h"
#include "sys/resolved.h"

namespace opdbus::network {
namespace {

namespace fs = std::filesystem;

constexpr const char* kResolvConf = "/etc/resolv.conf";

fs::path run_dir() {
  const char* dir = std::getenv("OPDBUS_RUN_DIR");
  return fs::path(dir ? dir : "/run") / "op-dbus";
}

fs::path dhclient_pidfile(const std::string& link) {
  return run_dir() / ("dhclient-" + link + ".pid");
}
// The lease is runtime state like the rest: after a reboot the boot unit starts the client again.
fs::path dhclient_leases(const std::string& link) {
  return run_dir() / ("dhclient-" + link + ".leases");
}

// The DHCP client op-dbus started for `link` is running (its pid file names a live dhclient).
bool dhclient_running(const std::string& link) {
  std::error_code ec;
  auto text = sys::read_file(dhclient_pidfile(link));
  if (!text) return false;
  pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  auto comm = sys::read_file("/proc/" + std::to_string(pid) + "/comm");
  return comm && comm->rfind("dhclient", 0) == 0;
}

class LiveBackend : public FilesBackend {
 public:
  using FilesBackend::FilesBackend;

  std::string describe() override {
    size_t n = nl().links().size();
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

  HostState host(bool with_ovs) override {
    HostState st;
    st.links = nl().links();
    st.addresses = nl().addresses();
    st.routes = nl().routes();
    if (dns_mode() == "resolved") {
      for (const auto& l : st.links) {
        if (l.name == "lo") continue;
        try {
          auto servers = resolved().link_dns(l.index);
          if (!servers.empty()) st.dns[l.name] = servers;
        } catch (const Error&) {
          // resolved does not track this link (yet): no servers.
        }
      }
    } else {
      auto servers = resolv_conf_servers(read_file(kResolvConf));
      for (const auto& l : st.links) {
        if (auto it = servers.find(l.name); it != servers.end()) st.dns[l.name] = it->second;
      }
    }
    for (const auto& l : st.links) {
      if (dhclient_running(l.name)) st.dhcp.insert(l.name);
    }
    if (with_ovs && !ovs_unavailable()) st.ovs = ovs_->bridges();
    return st;
  }

  void create_link(const sys::LinkSpec& spec) override { nl().create_link(spec); }
  void change_link(int index, const sys::LinkChange& change) override { nl().change_link(index, change); }
  void delete_link(int index) override { nl().delete_link(index); }
  void add_address(int index, const std::string& cidr) override { nl().add_address(index, cidr); }
  void delete_address(int index, const std::string& cidr) override { nl().delete_address(index, cidr); }
  void add_route(const sys::RouteInfo& route, bool replace) override { nl().add_route(route, replace); }
  void delete_route(const sys::RouteInfo& route) override { nl().delete_route(route); }

  void ovs_add_bridge(const std::string& name) override { ovs().add_bridge(name); }
  void ovs_delete_bridge(const std::string& name) override { ovs().delete_bridge(name); }
  void ovs_set_ports(const std::string& bridge, const std::vector<std::string>& add,
                     const std::vector<std::string>& remove) override {
    ovs().set_ports(bridge, add, remove);
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
      return;
    }
    write_file(kResolvConf, render_resolv_conf(read_file(kResolvConf), link, servers));
  }

  void set_dhcp(const std::string& link, bool enable) override {
    fs::path pidfile = dhclient_pidfile(link);
    std::string leases = dhclient_leases(link).string();
    if (!enable) {
      if (dhclient_running(link)) {
        auto text = sys::read_file(pidfile);
        pid_t pid = text ? static_cast<pid_t>(std::atoi(text->c_str())) : 0;
        // -r releases the lease and signals the client the pid file names; it does not wait for it to go.
        sys::run_checked({"dhclient", "-r", "-pf", pidfile.string(), "-lf", leases, link});
        for (int i = 0; i < 50 && pid > 0 && ::kill(pid, 0) == 0; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
      std::error_code ec;
      fs::remove(pidfile, ec);
      return;
    }
    if (dhclient_running(link)) return;
    fs::create_directories(run_dir());
    try {
      sys::run_checked({"dhclient", "-nw", "-pf", pidfile.string(), "-lf", leases, link});
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::NotSupported) {
        throw Error(ErrorKind::NotSupported,
                    "\"dhcp\": true needs dhclient (apt-get install isc-dhcp-client)");
      }
      throw;
    }
    // -nw returns at once; the pid file appears when the client has daemonised.
    for (int i = 0; i < 50 && !dhclient_running(link); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!dhclient_running(link))
      throw Error(ErrorKind::BackendError, "dhclient for " + link + " did not start");
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

  std::unique_ptr<sys::Resolved> resolved_;
  std::string dns_mode_;
  bool ovs_checked_ = false;
  std::unique_ptr<sys::Ovsdb> ovs_;
  std::string ovs_reason_;
};

}  // namespace

std::unique_ptr<NetworkBackend> make_live_backend(Context& ctx) {
  return std::make_unique<LiveBackend>(ctx);
}

}  // namespace opdbus::network
