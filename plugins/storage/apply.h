// Carrying out one storage Action (its typed operation, ops.h) through a Backend. Each kind first checks that
// the host still looks the way the plan saw it -- a disk that changed since is refused with Conflict, nothing
// touched
// -- and is idempotent where it can be: a mount that is already there is not mounted again.
#pragma once

#include <string>
#include <vector>

#include "action.h"
#include "storage/backend.h"

namespace opdbus::storage {

void apply_action(Backend& backend, const Action& action);

// The mkfs command line for a filesystem (exposed for tests). Throws InvalidArgument for an option that
// is not a flag (mkfs_option_problem) or a label a tool would take as an option.
std::vector<std::string> mkfs_command(const std::string& device, const std::string& type,
                                      const std::string& label, const std::string& uuid,
                                      const std::vector<std::string>& options);

}  // namespace opdbus::storage
