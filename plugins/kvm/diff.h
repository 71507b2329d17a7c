// The pure half of the kvm plugin: desired section x current section (query's) -> Actions. No I/O.
//
// Per VM, only the fields the document gives are compared, each as one Change. A VM that does not exist gets
// its disk volumes (one Action each), its definition, autostart and a start. An existing VM gets one Update of
// its definition when any defined field differs; on a running VM that stays running, a change that only
// takes effect at boot (cores, memory, CPU model, firmware, boot order, CD-ROM, disks, NICs, virt_type, the cloud-init seed) is
// flagged needs_reboot, unless "restart": "allowed" makes the Action restart the VM. Autostart and the power
// state are their own Actions. "absent" is one destructive Delete. Plan errors (Error(InvalidArgument)): a
// disk that would shrink or move to another pool, a pool that does not exist.
#pragma once

#include <vector>

#include "action.h"
#include "json.h"

namespace opdbus::kvm {

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current);

}  // namespace opdbus::kvm
