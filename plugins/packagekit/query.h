// The system in the section's own format (docs/plugins/packagekit.md, "show").
#pragma once

#include <string>
#include <vector>

#include "json.h"
#include "packagekit/backend.h"

namespace opdbus::packagekit {

// With `desired`: each package it names (and the manifest's) as {"state", "version"}: from dpkg's
// database where that settles it (answer_from_dpkg, dpkg.h), the rest from one backend resolve, which also
// gives their "x-available" (installable versions per name, [] for a name nobody knows); and the
// repositories it names as they are on disk. A converged document needs no resolve at all. Without
// (`show`): the manually installed packages (dpkg's database and apt's auto marks) and every repository
// op-dbus wrote.
JsonDoc query_section(Backend& backend, const JsonValue* desired,
                      const std::vector<std::string>& manifest_packages);

}  // namespace opdbus::packagekit
