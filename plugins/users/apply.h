// One users operation -> edits of the databases (under /etc/.pwd.lock) and of home directories.
#pragma once

#include "action.h"
#include "users/backend.h"

namespace opdbus::users {

void apply_action(Backend& backend, const Action& action);

}  // namespace opdbus::users
