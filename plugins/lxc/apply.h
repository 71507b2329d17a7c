// Carrying out one lxc operation through the backend. Each step is idempotent: a create finds the
// container already made by an interrupted earlier run and only configures it; start and stop of a container
// already in that state do nothing.
#pragma once

#include "action.h"
#include "lxc/backend.h"

namespace opdbus::lxc {

void apply_action(Backend& backend, const Action& action);

}  // namespace opdbus::lxc
