// Carrying out the plugin's operations (ops.h) on a Backend.
//
// Given the whole run up front (begin(), from Plugin::begin_apply), apply batches: every enable (disable,
// mask, unmask, start, stop, restart) of one execution step goes to the backend in one call when the first
// of them runs; the later actions of that step then only report their own unit's outcome, so an error still
// lands on the action of the unit at fault. If the batched call itself fails, each unit goes alone from then
// on. The daemon-reload is held until something needs the manager's view of the files (a start, stop or
// restart) or the run ends (finish(), from Plugin::end_apply), so an apply reloads once instead of once per
// enablement change. Without a run every action stands alone.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "action.h"
#include "systemd/backend.h"
#include "systemd/ops.h"

namespace opdbus::systemd {

class Applier {
 public:
  // The actions about to run, in the order they will run.
  void begin(std::vector<Action> run);
  // Carries out one action. On failure the held reload is done first, so the manager is never left with a
  // stale view of what was changed.
  void apply(Backend& backend, const Action& action);
  // The end of the run: the held daemon-reload, if any.
  void finish(Backend& backend) { flush_reload(backend); }

 private:
  template <typename Op>
  void batched(Backend& backend, const Op& op, int order);
  // One backend call for `units`; returns the units that failed, with the reason.
  template <typename Op>
  Backend::Failures call(Backend& backend, const std::vector<std::string>& units);
  void flush_reload(Backend& backend);

  std::vector<Action> run_;
  size_t applied_ = 0;
  bool reload_pending_ = false;
  // Units a batched call already handled, and the failures it found, by operation name and unit.
  std::map<std::string_view, std::set<std::string>> done_;
  std::map<std::pair<std::string_view, std::string>, std::string> failures_;
  bool batching_ = true;
};

}  // namespace opdbus::systemd
