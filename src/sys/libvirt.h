// A small typed wrapper over libvirt's C API (libvirt-dev), the only code that includes libvirt's headers.
//
// Why the C API and not libvirt-dbus: it needs no daemon beyond libvirtd itself (libvirt-dbus is one more
// service on the system bus, which a host without systemd, like a freshly bootstrapped one, does not have),
// it is the complete API (libvirt-dbus exposes a subset and lags behind), and it speaks the same domain and
// storage XML, so nothing is lost. Errors carry libvirt's own message (virGetLastErrorMessage).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace opdbus::sys {

struct LibvirtDomain {
  std::string name;
  std::string uuid;
  std::string xml;  // the persistent (inactive) definition, VIR_DOMAIN_XML_INACTIVE
  std::string
      state;  // "running", "paused", "shutoff", "shutdown", "crashed", "pmsuspended", "blocked", "nostate"
  bool persistent = true;
  bool autostart = false;
};

struct LibvirtVolume {
  std::string pool;
  std::string name;
  std::string path;
  uint64_t capacity = 0;  // bytes
  std::string xml;        // the volume's XML (its format, a backing store)
};

class Libvirt {
 public:
  // Connects to `uri` ("qemu:///system"); an empty uri means $LIBVIRT_DEFAULT_URI, else qemu:///system.
  // Throws Error(Unavailable) with libvirt's reason when libvirtd cannot be reached.
  static std::unique_ptr<Libvirt> open(const std::string& uri);
  ~Libvirt();
  Libvirt(const Libvirt&) = delete;
  Libvirt& operator=(const Libvirt&) = delete;

  // "libvirt 9.0.0, QEMU 7.2.0 at qemu:///system"
  std::string describe();
  // Every domain (running or not), with its inactive XML, state and autostart: one list call.
  std::vector<LibvirtDomain> list_domains();
  std::optional<LibvirtDomain> domain(const std::string& name);
  // Names of the active storage pools.
  std::vector<std::string> list_pools();
  // Volumes of one pool (refreshed first, so volumes made behind libvirt's back are seen). Throws
  // Error(BackendError) naming the pool when it does not exist or is not active.
  std::vector<LibvirtVolume> list_volumes(const std::string& pool);

  void create_volume(const std::string& pool, const std::string& volume_xml);
  void resize_volume(const std::string& pool, const std::string& volume, uint64_t capacity);
  void delete_volume(const std::string& pool, const std::string& volume);

  void define_domain(const std::string& domain_xml);
  void start(const std::string& name);
  void shutdown(const std::string& name);  // ACPI power button: a request, returns at once
  void destroy(const std::string& name);   // pulls the plug
  void set_autostart(const std::string& name, bool on);
  // Undefines the domain with its managed save image, snapshot metadata and NVRAM file.
  void undefine(const std::string& name);
  // The domain's state as in LibvirtDomain::state; nullopt when no such domain.
  std::optional<std::string> state(const std::string& name);

 private:
  struct Impl;
  explicit Libvirt(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace opdbus::sys
