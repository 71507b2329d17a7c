// Carrying out the firewall's ReplaceTable: unless the plan found the running table as desired, run the one
// batch render_batch() builds; then the boot files. A refusal throws with nft's own message; the kernel applied
// nothing of the batch. Every Action of a plan carries the same operation: the plugin runs it once.
#pragma once

#include "action.h"
#include "firewall/backend.h"

namespace opdbus::firewall {

void apply_action(Backend& backend, const Action& action);

}  // namespace opdbus::firewall
