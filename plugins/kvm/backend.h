// What the kvm plugin needs from a host: libvirt's domains and storage volumes. The live implementation
// (backend_live.cc) goes through src/sys/libvirt.h; tests hand the plugin a fake that records the calls.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvm/model.h"
#include "sys/libvirt.h"

namespace opdbus {
class Context;
}

namespace opdbus::kvm {

using Domain = sys::LibvirtDomain;
using Volume = sys::LibvirtVolume;

class Backend {
 public:
  virtual ~Backend() = default;
  // One line for `op-dbus plugins`. Throws Unavailable when libvirtd cannot be reached.
  virtual std::string describe() = 0;
  virtual std::vector<Domain> list_domains() = 0;
  virtual std::optional<Domain> domain(const std::string& name) = 0;
  virtual std::vector<std::string> list_pools() = 0;
  virtual std::vector<Volume> list_volumes(const std::string& pool) = 0;
  virtual void create_volume(const std::string& pool, const std::string& volume_xml) = 0;
  virtual void resize_volume(const std::string& pool, const std::string& volume, uint64_t capacity) = 0;
  virtual void delete_volume(const std::string& pool, const std::string& volume) = 0;
  virtual void define_domain(const std::string& xml) = 0;
  virtual void start(const std::string& name) = 0;
  virtual void shutdown(const std::string& name) = 0;
  virtual void destroy(const std::string& name) = 0;
  virtual void set_autostart(const std::string& name, bool on) = 0;
  virtual void undefine(const std::string& name) = 0;
  // "running", "shutoff", ... (sys::LibvirtDomain::state); nullopt when there is no such domain.
  virtual std::optional<std::string> state(const std::string& name) = 0;
  // Writes the cloud-init seed ISO (volume label cidata) at `path`, replacing it atomically; remove_seed deletes
  // it (nothing when it is not there).
  virtual void write_seed(const std::string& path, const SeedFiles& files) = 0;
  virtual void remove_seed(const std::string& path) = 0;
  // Whether a file (a kernel, an initrd a domain boots from) exists on the host.
  virtual bool file_exists(const std::string& path) = 0;
  // The image a disk is made from: its format (qcow2 by its header, else raw) and virtual size; nullopt when
  // it is not a file.
  virtual std::optional<Image> image(const std::string& path) = 0;
  // Waiting for a guest to shut down (a fake returns at once).
  virtual void sleep_ms(int ms) = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_live_backend(Context& ctx);

}  // namespace opdbus::kvm
