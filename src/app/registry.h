// Every plugin op-dbus knows, listed in one place. The order is the tie-break for plugin ordering.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plugin.h"

namespace opdbus {

std::vector<std::unique_ptr<Plugin>> make_plugins();

}  // namespace opdbus
