// Reading the host (through a Backend) into the section's own format, so diff() can compare it with
// the document and `show` can print it.
//
//   services.NAME      {state: unit file state, running, dropins}      (state as systemd says: "static", ...)
//   timers.NAME        {on_calendar, unit, description, persistent, state, running}  for a timer op-dbus
//   wrote;
//                      {state, running} for a file it did not write; {state: "absent"} when there is none
//   custom_units.NAME  {content, enabled, running, dropins}; {state: "absent"} when the file does not exist
// `running` appears only when the backend sees runtime state (not offline), and in a plan only for the items
// whose active state the diff can use (those that say `running`, or whose files op-dbus writes). Drop-ins are
// the regular *.conf files in /etc/systemd/system/NAME.d.
#pragma once

#include "json.h"
#include "systemd/backend.h"

namespace opdbus::systemd {

// The items `desired` names (keys normalised: "ssh" is reported as "ssh.service"), each present even when
// the unit does not exist, so the diff can tell "absent" from "not asked".
JsonDoc query_named(Backend& backend, const JsonValue& desired);

// Everything, for `show`: services whose unit file is enabled, disabled or masked (not templates, not the
// regular files in /etc/systemd/system, which are custom units), timers op-dbus wrote, and every other
// regular unit file in /etc/systemd/system as a custom unit. Schema-valid, and plans to nothing.
JsonDoc query_all(Backend& backend);

}  // namespace opdbus::systemd
