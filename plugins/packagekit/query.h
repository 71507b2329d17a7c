// The system in the section's own format (docs/plugins/packagekit.md, "show").
#pragma once

#include <string>
#include <vector>

#include "json.h"
#include "packagekit/backend.h"

namespace opdbus::packagekit {

// With `desired`: each package it names (and the manifest's) as {"state", "version"} from one backend
// resolve, "x-available" (installable versions per name, [] for a name nobody knows), and the
// repositories it names as they are on disk. Without (`show`): the manually installed packages (dpkg's
// database and apt's auto marks) and every repository op-dbus wrote.
JsonDoc query_section(Backend& backend, const JsonValue* desired,
                      const std::vector<std::string>& manifest_packages);

}  // namespace opdbus::packagekit
