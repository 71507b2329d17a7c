// The lxc plugin's operations, one per step of a container's life. diff() orders them per plan: destroy,
// create (clones after the containers they may clone), stop, live limits, reconfigure, start.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "json_object.h"
#include "lxc/model.h"

namespace opdbus::lxc {

struct Target {
  std::string lxcpath;
  std::string name;
  void fields(JsonObject& o) const {
    o.set("lxcpath", lxcpath);
    o.set("name", name);
  }
};

struct CreateContainer {
  static constexpr std::string_view kName = "create";
  Target target;
  Container spec;  // template or clone_from, storage, rootfs, idmap and the config fields to write
  void fields(JsonObject& o) const {
    target.fields(o);
    if (spec.template_name) o.set("template", *spec.template_name);
    if (spec.clone_from) o.set("clone_from", *spec.clone_from);
    if (spec.storage) o.set("storage", *spec.storage);
  }
};

struct DestroyContainer {
  static constexpr std::string_view kName = "destroy";
  Target target;
  void fields(JsonObject& o) const { target.fields(o); }
};

struct StopContainer {
  static constexpr std::string_view kName = "stop";
  Target target;
  void fields(JsonObject& o) const { target.fields(o); }
};

// memory, cpus, autostart: written to the config, and with `live` to the running container's cgroup.
struct SetLimits {
  static constexpr std::string_view kName = "set_limits";
  Target target;
  Container spec;  // only memory, cpus and autostart are read
  bool live = false;
  void fields(JsonObject& o) const {
    target.fields(o);
    if (spec.memory) o.set("memory", static_cast<uint64_t>(*spec.memory));
    if (spec.cpus) o.set("cpus", static_cast<int64_t>(*spec.cpus));
    if (spec.autostart) o.set("autostart", *spec.autostart);
    o.set("live", live);
  }
};

// network, mounts, raw keys: written to the config; with `restart` the running container is restarted.
struct Reconfigure {
  static constexpr std::string_view kName = "reconfigure";
  Target target;
  Container spec;  // only network, mounts and raw are read
  bool restart = false;
  std::string wait_ip;
  void fields(JsonObject& o) const {
    target.fields(o);
    o.set("restart", restart);
  }
};

struct StartContainer {
  static constexpr std::string_view kName = "start";
  Target target;
  std::string wait_ip;  // "" or the address to wait for inside
  void fields(JsonObject& o) const {
    target.fields(o);
    if (!wait_ip.empty()) o.set("wait_ip", wait_ip);
  }
};

using Ops =
    std::variant<CreateContainer, DestroyContainer, StopContainer, SetLimits, Reconfigure, StartContainer>;

}  // namespace opdbus::lxc
