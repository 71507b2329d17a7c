// A Plan is data: a sorted list of Actions. Plugins produce Actions from a pure diff; the engine prints,
// filters and executes them; the journal records them. Two equal inputs give byte-identical plans.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"
#include "operation.h"

namespace opdbus {

enum class Op { Create, Update, Delete, Start, Stop, Restart, Reload };
std::string_view to_string(Op op);

// One field that differs. Values are compact JSON text; nullopt means "absent".
struct Change {
  std::string path;  // relative to the item: "state", "content", "mtu"
  std::optional<std::string> before;
  std::optional<std::string> after;
  bool secret = false;  // set by the engine from the schema; rendered as "(secret)" everywhere
};

struct Action {
  std::string plugin;             // "systemd"
  std::vector<std::string> item;  // path of the item in the plugin section: {"services", "ssh"}
  Op op = Op::Update;
  std::string summary;  // one line for humans: "enable ssh.service"
  std::vector<Change> changes;
  int order = 0;             // plugin-defined execution order inside the plugin (lower runs first)
  bool destructive = false;  // destroys data or access: refused without --allow-destructive
  bool needs_reboot = false;
  bool observe = false;  // drift report only (mode "observe"): never applied
  // What apply() carries out: the plugin's typed operation (operation.h). Never printed in plans.
  std::shared_ptr<const Operation> operation;

  // "systemd/services/ssh"
  std::string resource() const;
  // "/services/ssh", the item's JSON pointer inside the plugin section.
  std::string pointer() const { return json_pointer(item); }
};

// Total order used for every plan: plugin rank (from the engine's ordering), then `order`, then resource,
// then op.
bool action_less(const Action& a, const Action& b, int rank_a, int rank_b);

struct Plan {
  std::vector<std::string> plugins;  // plugins that were planned, in execution order
  std::vector<Action> actions;
  std::vector<std::string> errors;  // per-plugin failures (e.g. "packagekit: unknown package nosuchpkg")

  bool in_sync() const { return actions.empty() && errors.empty(); }
  size_t count(Op op) const;
  size_t applicable() const;  // actions that apply would run (not observe-only)
};

// The machine form of a plan (`plan --json`): stable member order, secrets redacted, no operations.
JsonDoc plan_to_json(const Plan& plan);
// The same, written as indented text (what to_pretty_json(plan_to_json(plan), false) gives, byte for byte)
// straight to `out`, without building a document or a string: a plan carrying a 50 MB value costs the plan,
// not four copies of it.
void write_plan_json(const Plan& plan, std::FILE* out);

}  // namespace opdbus
