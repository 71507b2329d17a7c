// The kvm plugin: virtual machines through libvirt's C API (src/sys/libvirt.h). Format, restart semantics and
// limits: docs/plugins/kvm.md.
#pragma once

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvm/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_kvm_plugin();

namespace kvm {
// How the plugin finds out it runs on a Proxmox VE node, and runs qm/pvesh there (kvm/proxmox.h).
struct ProxmoxHost {
  std::function<bool()> detect;  // empty: never
  std::function<std::string(const std::vector<std::string>&)> run;
};
// For tests: the plugin with a backend (and, optionally, a Proxmox host) of the test's choosing.
std::unique_ptr<Plugin> make_plugin(BackendFactory factory, ProxmoxHost proxmox = {});
}  // namespace kvm

}  // namespace opdbus
