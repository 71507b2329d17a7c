// Carrying out one storage Action (its payload, see diff.h) on a host. Each kind first checks that the host
// still looks the way the plan saw it -- a disk that changed since is refused with Conflict, nothing touched
// -- and is idempotent where it can be: a mount that is already there is not mounted again.
#pragma once

#include <string>
#include <vector>

#include "action.h"
#include "storage/host.h"

namespace opdbus::storage {

void apply_action(StorageHost& host, const Action& action);

// The mkfs command line for a filesystem (exposed for tests).
std::vector<std::string> mkfs_command(const std::string& device, const std::string& type,
                                      const std::string& label, const std::string& uuid,
                                      const std::vector<std::string>& options);

}  // namespace opdbus::storage
