// The systemd plugin: services (enable/disable/mask, running, drop-ins), timers written by op-dbus, and
// custom unit files. Live through systemd's D-Bus API; offline (--root) by unit files and symlinks exactly as
// `systemctl --root` makes them. Format and semantics: docs/plugins/systemd.md.
#pragma once

#include <memory>

// The core contract (src/plugin.h), named by path: a plain "plugin.h" here would find this file.
#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h
#include "systemd/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_systemd_plugin();

namespace systemd {
// For tests: the plugin with a backend of the test's choosing (a recording fake, a temporary tree).
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace systemd

}  // namespace opdbus
