// The packagekit plugin: packages and apt repositories. Live through PackageKit over D-Bus; under --root DIR
// through the tree's own apt-get in a chroot. Format: docs/plugins/packagekit.md.
#pragma once

#include <memory>

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h
#include "packagekit/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_packagekit_plugin();

namespace packagekit {
// For tests: the plugin with a backend of the test's choosing.
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace packagekit

}  // namespace opdbus
