// One packagekit operation -> backend calls: repository files through sys::RootDir, package transactions
// through the backend (PackageKit live, apt-get in a chroot offline).
#pragma once

#include "action.h"
#include "packagekit/backend.h"

namespace opdbus::packagekit {

void apply_action(Backend& backend, const Action& action);

}  // namespace opdbus::packagekit
