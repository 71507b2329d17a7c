// Carrying out the firewall's ReplaceTable: read the table, and unless it already is as desired (an earlier
// Action of the same plan replaced it), run the one batch render_batch() builds. A refusal throws with nft's
// own message; the kernel applied nothing of the batch.
#pragma once

#include "action.h"
#include "firewall/backend.h"

namespace opdbus::firewall {

void apply_action(Backend& backend, const Action& action);

}  // namespace opdbus::firewall
