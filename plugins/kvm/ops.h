// The kvm plugin's operations, one per Action. Volumes first (order 1), then the definition (2), autostart (3),
// then the power state (4); a VM to remove goes last (5).
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "json_object.h"
#include "kvm/model.h"

namespace opdbus::kvm {

// A disk volume for a VM; an existing volume of that name (a disk kept when the VM was removed) is reused,
// grown if it is smaller.
// With `source`, the volume is a qcow2 overlay of that image (of `source_format`): the image is never written.
struct CreateVolume {
  static constexpr std::string_view kName = "create_volume";
  std::string pool, volume;
  uint64_t capacity = 0;
  std::string source, source_format;
  void fields(JsonObject& o) const {
    o.set("pool", pool).set("volume", volume).set("capacity", capacity);
    if (!source.empty()) o.set("source", source).set("source_format", source_format);
  }
};

// Disk `index` of domain `domain` grows to `capacity` bytes (the volume behind it, whatever its name).
struct ResizeVolume {
  static constexpr std::string_view kName = "resize_volume";
  std::string domain;
  size_t index = 0;
  uint64_t capacity = 0;
  void fields(JsonObject& o) const {
    o.set("domain", domain).set("disk", static_cast<uint64_t>(index)).set("capacity", capacity);
  }
};

// Defines (or redefines) the domain from the document. What the document leaves out is kept from the current
// definition (and the UUID, MACs libvirt chose and disk volumes always are). With `restart`, a running domain
// is shut down (forced after its timeout) and started again so the new definition takes effect.
struct DefineDomain {
  static constexpr std::string_view kName = "define_domain";
  Vm vm;
  bool restart = false;
  void fields(JsonObject& o) const { o.set("domain", vm.name).set("restart", restart); }
};

struct SetAutostart {
  static constexpr std::string_view kName = "set_autostart";
  std::string domain;
  bool autostart = false;
  void fields(JsonObject& o) const { o.set("domain", domain).set("autostart", autostart); }
};

struct StartDomain {
  static constexpr std::string_view kName = "start_domain";
  std::string domain;
  void fields(JsonObject& o) const { o.set("domain", domain); }
};

// ACPI shutdown, then destroy after `timeout` seconds.
struct StopDomain {
  static constexpr std::string_view kName = "stop_domain";
  std::string domain;
  int timeout = kDefaultShutdownTimeout;
  void fields(JsonObject& o) const { o.set("domain", domain).set("timeout", timeout); }
};

// Stops the domain (as StopDomain) and undefines it; its disk volumes are deleted only with `delete_disks`.
struct UndefineDomain {
  static constexpr std::string_view kName = "undefine_domain";
  std::string domain;
  int timeout = kDefaultShutdownTimeout;
  bool delete_disks = false;
  void fields(JsonObject& o) const {
    o.set("domain", domain).set("timeout", timeout).set("delete_disks", delete_disks);
  }
};

using Ops = std::variant<CreateVolume, ResizeVolume, DefineDomain, SetAutostart, StartDomain, StopDomain,
                         UndefineDomain>;

}  // namespace opdbus::kvm
