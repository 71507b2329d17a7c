// Every plugin op-dbus knows, listed in one place. The order is the tie-break for plugin ordering.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plugin.h"

namespace opdbus {

std::vector<std::unique_ptr<Plugin>> make_plugins();

// A plugin whose schema exists but whose implementation does not yet: validates, then planning it is an
// error ("plugin lxc is not implemented yet"), never silently ignored.
std::unique_ptr<Plugin> make_not_implemented_plugin(std::string name, std::string summary,
                                                    std::vector<std::string> after);

}  // namespace opdbus
