// What the network plugin needs from a host, as one small interface. Two real implementations:
//   live     (backend_live.cc) rtnetlink in the caller's network namespace (src/sys/netlink.h), OVSDB on its
//            socket (src/sys/ovsdb.h), systemd-resolved over D-Bus or /etc/resolv.conf, dhclient for DHCP;
//            files under "/"
//   --root   (backend_root.cc) a mounted tree: only the files that make the network come up at boot; nothing
//            runs there, so every runtime operation is refused
// Files are reached through sys::RootDir in both (never by joining strings). Tests hand the plugin a fake
// that records the calls it got.
//
// The host's state is read once (one netlink dump per object type, one OVSDB read, one listing of the DHCP
// clients' directory) and kept as an index; the backend's own changes update that index, so an apply of N
// actions does not read the host N times. refresh() drops it (query() does, once per plan).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "network/query.h"
#include "sys/netlink.h"

namespace opdbus {
class Context;
}

namespace opdbus::network {

class Backend {
 public:
  virtual ~Backend() = default;

  // One line for `op-dbus plugins`. Throws Unavailable when the backend cannot work here.
  virtual std::string describe() = 0;
  // False offline: there is no running network to read or change.
  virtual bool live() const = 0;
  // Why Open vSwitch cannot be used here, or nullopt when it can.
  virtual std::optional<std::string> ovs_unavailable() = 0;

  // --- live only ---
  // Links, addresses, routes, DNS, DHCP clients; OVS bridges when `with_ovs` and OVS is available. Read on
  // first use after refresh(), then kept up to date by this backend's own changes.
  virtual const HostState& host(bool with_ovs) = 0;
  // Forget the index: the next host() reads the system again.
  virtual void refresh() {}
  // Parts of host(), for apply: a backend may read only the part asked for (a change that made its routes
  // stale does not make a link lookup read every route again).
  virtual const std::vector<sys::LinkInfo>& links() { return host(false).links; }
  virtual const std::vector<sys::AddressInfo>& addresses() { return host(false).addresses; }
  virtual void create_link(const sys::LinkSpec& spec) = 0;
  virtual void change_link(int index, const sys::LinkChange& change) = 0;
  virtual void delete_link(int index) = 0;
  virtual void add_address(int index, const std::string& cidr) = 0;
  virtual void delete_address(int index, const std::string& cidr) = 0;
  virtual void add_route(const sys::RouteInfo& route, bool replace) = 0;
  virtual void delete_route(const sys::RouteInfo& route) = 0;
  virtual void ovs_add_bridge(const std::string& name) = 0;
  virtual void ovs_delete_bridge(const std::string& name) = 0;
  virtual void ovs_set_ports(const std::string& bridge, const std::vector<std::string>& add,
                             const std::vector<std::string>& remove) = 0;
  // "resolved" when systemd-resolved answers on the bus, else "file" (/etc/resolv.conf).
  virtual std::string dns_mode() = 0;
  virtual void set_dns(const std::string& link, int index, const std::vector<std::string>& servers) = 0;
  virtual void set_dhcp(const std::string& link, bool enable) = 0;

  // --- files, both modes; in-system paths resolved inside the backend's root (sys::RootDir) ---
  virtual std::optional<std::string> read_file(const std::string& path) = 0;
  virtual void write_file(const std::string& path, const std::string& content) = 0;
  virtual void remove_file(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  virtual std::optional<std::string> read_link(const std::string& path) = 0;
  virtual void make_link(const std::string& path, const std::string& target) = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_live_backend(Context& ctx);
std::unique_ptr<Backend> make_root_backend(Context& ctx);

// Reads the persistence files through `b` (both modes).
Persisted read_persisted(Backend& b);

}  // namespace opdbus::network
