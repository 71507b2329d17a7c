// The lxc plugin: system containers through liblxc (the debian template, cgroup limits, veth on a bridge),
// or through pct on a Proxmox host. Format and limits: docs/plugins/lxc.md.
#pragma once

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h

#include <memory>

#include "lxc/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_lxc_plugin();

namespace lxc {
// For tests: the plugin with a backend of the test's choosing.
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace lxc

}  // namespace opdbus
