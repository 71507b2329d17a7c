// What the lxc plugin needs from a host: one listing of the containers of an lxcpath (with their config,
// state and live cgroup limits), and the calls that create, configure, start, stop and destroy one. The live
// implementation is liblxc (backend_live.cc, through src/sys/lxc.h); on a Proxmox host (/etc/pve) it is pct
// (backend_pct.cc). Tests hand the plugin a fake that records what it was asked.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "lxc/model.h"

namespace opdbus {
class Context;
}

namespace opdbus::lxc {

class Backend {
 public:
  virtual ~Backend() = default;
  // One line for `op-dbus plugins`. Throws Unavailable when the backend cannot be used here.
  virtual std::string describe() = 0;
  // "liblxc" or "pct": what the document may ask of this backend differs (docs/plugins/lxc.md).
  virtual std::string kind() const = 0;
  virtual std::string default_lxcpath() = 0;
  virtual unsigned host_cpus() = 0;
  // Whether `path` is a directory on the host (a bind mount's source must be one before the container starts).
  virtual bool host_directory(const std::string& path) = 0;
  // The containers of `lxcpath` (only `names` when not empty), in the section's model: state (started or
  // stopped), autostart, memory, cpus, network, mounts, idmap, and the `raw_keys` that are set. For a running
  // container, the values it runs with (its cgroup limits, its running config).
  virtual std::map<std::string, Container> list(const std::string& lxcpath,
                                                const std::set<std::string>& names,
                                                const std::set<std::string>& raw_keys) = 0;
  // Makes container `name` from spec.template_name or spec.clone_from, then writes the config fields the
  // spec declares. Not started.
  virtual void create(const std::string& lxcpath, const std::string& name, const Container& spec) = 0;
  // Writes the config fields `spec` declares; with `live`, memory and cpus also go to the running cgroup.
  virtual void configure(const std::string& lxcpath, const std::string& name, const Container& spec,
                         bool live) = 0;
  // Starts and waits until RUNNING and, when `wait_ip` is an address ("10.0.3.5/24"), until it is up inside.
  virtual void start(const std::string& lxcpath, const std::string& name, const std::string& wait_ip) = 0;
  // Clean shutdown with a timeout, then a forced stop.
  virtual void stop(const std::string& lxcpath, const std::string& name) = 0;
  virtual void destroy(const std::string& lxcpath, const std::string& name) = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_live_backend(Context& ctx);
// The Proxmox backend (pct/pvesh); make_host_backend picks it when /etc/pve exists.
std::unique_ptr<Backend> make_pct_backend(Context& ctx);
std::unique_ptr<Backend> make_host_backend(Context& ctx);

}  // namespace opdbus::lxc
