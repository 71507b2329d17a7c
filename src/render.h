// Human output: plans as a readable diff (coloured on a terminal), apply progress and reports.
#pragma once

#include <string>

#include "action.h"
#include "engine.h"

namespace opdbus {

struct RenderOptions {
  bool color = false;
  bool verbose = false;  // full values instead of shortened ones
};

// The whole plan: per plugin, one line per action (symbol, op, resource, summary), then its field changes;
// multi-line text values are shown as a line diff. Ends with a one-line summary.
std::string render_plan(const Plan& plan, const RenderOptions& options);

// One field value for humans: short JSON, long strings cut, multi-line strings summarised.
std::string render_value(const std::optional<std::string>& json, bool secret, bool verbose);

// Line diff of two texts ("- old", "+ new", "  same" with context); empty when equal.
std::string render_text_diff(const std::string& before, const std::string& after,
                             const RenderOptions& options);

// After apply: what was done, what failed and why, what was not done.
std::string render_apply_report(const ApplyReport& report, const RenderOptions& options);

// "1 to create, 2 to update, 1 to start"
std::string summarize_counts(const std::vector<Action>& actions);

}  // namespace opdbus
