// The kvm plugin: virtual machines through libvirt's C API (src/sys/libvirt.h). Format, restart semantics and
// limits: docs/plugins/kvm.md.
#pragma once

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h

#include <memory>

#include "kvm/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_kvm_plugin();

namespace kvm {
// For tests: the plugin with a backend of the test's choosing.
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace kvm

}  // namespace opdbus
