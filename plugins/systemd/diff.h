// The pure half of the plugin: desired section + current section -> Actions. No I/O.
//
// Execution order (Action::order), lowest first:
//   write unit files and drop-ins -> one daemon-reload -> unmask -> enable/disable/mask -> start/stop/restart
//   -> for units declared absent: stop -> disable -> remove files -> a second daemon-reload
#pragma once

#include <vector>

#include "action.h"
#include "json.h"
#include "systemd/model.h"

namespace opdbus::systemd {

enum Order : int {
  kOrderWrite = 10,
  kOrderReload = 20,
  kOrderUnmask = 30,
  kOrderEnablement = 31,
  kOrderRun = 40,
  kOrderStopRemoved = 50,
  kOrderDisableRemoved = 51,
  kOrderRemove = 52,
  kOrderReloadRemoved = 53,
};

// `current` is the section as query() (or a saved `show`) reports it. Items are matched by normalised unit
// name, so "ssh" and "ssh.service" are the same service; `running` is compared only when `current` reports
// it (live), never offline.
std::vector<Action> diff_section(const Section& desired, const Section& current);
// The same, parsing both sections into the model (model.h) first.
std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current);

}  // namespace opdbus::systemd
