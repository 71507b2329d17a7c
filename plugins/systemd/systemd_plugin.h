// The systemd plugin: services (enable/disable/mask, running, drop-ins), timers written by op-dbus, and
// custom unit files. Live through systemd's D-Bus API; offline (--root) by unit files and symlinks exactly as
// `systemctl --root` makes them. Format and semantics: docs/plugins/systemd.md.
#pragma once

#include <functional>
#include <memory>

#include "plugin.h"

namespace opdbus {

std::unique_ptr<Plugin> make_systemd_plugin();

namespace systemd {
class SystemdBackend;
// How the plugin reaches the host; the default picks the live backend, or the offline one under --root.
using BackendFactory = std::function<std::unique_ptr<SystemdBackend>(Context&)>;
// For tests: the plugin with a backend of the test's choosing (a recording fake, a temporary tree).
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace systemd

}  // namespace opdbus
