// Reading the containers back into the section's format: one backend listing per plan (the containers the
// document names, or every container of the lxcpath for `show`), with the effective "lxcpath". What a plan
// could never do on this backend (a Proxmox volume template on liblxc, a rootfs size on dir storage, more
// cpus than the host has) is refused here, before anything is applied, as a plan error naming the item.
#pragma once

#include "json.h"
#include "lxc/backend.h"

namespace opdbus::lxc {

// The lxcpath a document means: its "lxcpath", else $OPDBUS_LXC_PATH, else the backend's default.
std::string effective_lxcpath(Backend& backend, const JsonValue* desired);

JsonDoc query_section(Backend& backend, const JsonValue* desired);

}  // namespace opdbus::lxc
