// The firewall plugin: nftables through libnftables' JSON API. op-dbus owns one table, inet op_dbus, and
// replaces it as one atomic transaction; other tables are never touched. Format and limits:
// docs/plugins/firewall.md.
#pragma once

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h

#include <memory>

#include "firewall/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_firewall_plugin();

namespace firewall {
// For tests: the plugin with a backend of the test's choosing.
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace firewall

}  // namespace opdbus
