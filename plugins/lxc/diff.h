// The pure half of the lxc plugin: desired section x current section (query's) -> Actions. No I/O.
//
// Per container, in this order across the plan: destroy ("state": "absent"; destructive), create (from a
// template; clones after, so a golden container made in the same plan can be cloned), stop, set_limits
// (memory, cpus, autostart: live through the cgroup when running), reconfigure (network, mounts, raw keys:
// on a running container these need a restart, flagged needs_reboot, carried out only with
// "restart": "allowed" and otherwise reported as pending, never applied), start. template, storage, rootfs,
// clone_from and idmap are used when a container is made and never compared afterwards (idmap may not
// change: a plan error).
#pragma once

#include <vector>

#include "action.h"
#include "json.h"

namespace opdbus::lxc {

// Throws Error(InvalidArgument) for a section check() refuses, and for what can never be reached against
// this current state (a container to make with neither template nor clone_from, a clone of a container that
// does not exist, an idmap change).
std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current);

}  // namespace opdbus::lxc
