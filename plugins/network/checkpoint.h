// The checkpoint that puts links, addresses, routes, DNS and the boot files back as they were before an
// apply, if the apply or its verification fails (or is not confirmed in time).
#pragma once

#include <memory>
#include <vector>

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h
#include "action.h"
#include "network/backend.h"

namespace opdbus::network {

// Records the configuration of every link `actions` touch (and routes, DNS, boot files) before they run.
// Live hosts only; offline trees need none (nothing there can lock anyone out).
std::unique_ptr<Checkpoint> take_checkpoint(Context& ctx, const BackendFactory& factory,
                                            const std::vector<Action>& actions);

}  // namespace opdbus::network
