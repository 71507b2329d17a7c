// desired x current -> Actions carrying users::Ops. Pure.
#pragma once

#include <vector>

#include "action.h"
#include "json.h"

namespace opdbus::users {

// Execution order of the actions (Action::order).
enum Order {
  kCreateGroups = 10,
  kAccounts = 20,
  kKeys = 30,
  kMembers = 35,
  kRemoveAccounts = 40,
  kRemoveGroups = 50
};

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current);

}  // namespace opdbus::users
