// The driver: a list of passes over one Context.
//   order    plugins named by the document, by their `after` edges (topological, ties by registry order)
//   plan     per plugin: probe -> query (or the saved --current document) -> pure diff -> mark observe/secret
//   apply    preflight (plan every plugin; refuse errors and destructive actions without
//            --allow-destructive before the first change), then per plugin (apply_plugin): plan_for_apply ->
//            checkpoint -> run_actions (in order, stop at the first failure) -> verify by query+diff;
//            a failing plugin is rolled back to its checkpoint (roll_back); confirm_or_roll_back: with
//            --confirm-timeout every checkpoint is held until the operator confirms, and all are rolled
//            back (newest first) if they do not
//   show     per plugin: query everything, in the document format
// A section the schema knows but no registered plugin handles is an error (check and plan), never dropped.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "action.h"
#include "context.h"
#include "diagnostic.h"
#include "plugin.h"
#include "state.h"

namespace opdbus {

class Journal;

// Pure helpers, exposed for tests.
// Orders `names` (plugin names) by the plugins' `after` edges; ties and independent plugins keep the order of
// `registry`. Throws Error(Bug) on a cycle.
std::vector<Plugin*> order_plugins(const std::vector<std::unique_ptr<Plugin>>& registry,
                                   const std::vector<std::string>& names);
// Sets Action::plugin, Action::observe (from "mode": "observe" on the section or any enclosing item) and
// Change::secret (from the schema), and sorts the actions by (order, item, op).
void finish_actions(std::string_view plugin, const JsonValue& desired_section, std::vector<Action>& actions);
// "systemd/services/ssh: state: desired \"enabled\", found \"disabled\""
std::string describe_drift(const Action& action);

struct ApplyEvents {
  std::function<void(const std::string& plugin, const std::vector<Action>& actions)> on_plugin_plan;
  std::function<void(const Action&)> on_action_start;
  std::function<void(const Action&, const Error* failure)> on_action_done;
  std::function<void(const std::string& message)> on_note;
  // With --confirm-timeout: called once after everything applied and verified, while checkpoints are held.
  // Returns true if the operator confirmed in time; false rolls every checkpointed plugin back.
  std::function<bool(int seconds)> wait_for_confirm;
};

struct ApplyReport {
  std::vector<Action> done;
  std::vector<Action> not_done;          // planned but not run because an earlier action failed
  std::vector<Action> observed;          // drift reported only (mode observe)
  std::optional<Error> failure;          // the first failure (action, verification, or refusal)
  std::string failed_resource;           // resource of the failed action, if any
  std::vector<std::string> rolled_back;  // plugins whose checkpoint was restored
  bool ok() const { return !failure.has_value(); }
};

class Engine {
 public:
  Engine(Context& ctx, std::vector<std::unique_ptr<Plugin>> plugins);

  const std::vector<std::unique_ptr<Plugin>>& plugins() const { return plugins_; }
  Plugin* find(std::string_view name) const;
  std::vector<std::string> plugin_names() const;

  // Semantic checks of every section (Plugin::check) after the schema passed. Appends to `out`.
  void check(const State& state, Diagnostics& out) const;

  // The plugins this run covers: those the document names, narrowed by --plugin; in execution order.
  // Throws InvalidArgument for a --plugin name that is unknown.
  std::vector<Plugin*> selected(const State& state) const;

  // Dry run. `current` is a saved `show` document (plan --current) or nullptr for the live system / --root.
  Plan plan(const State& state, const JsonValue* current = nullptr);

  // Plan, apply and verify. Journal may be null (tests). Never throws for plugin failures: see the report.
  ApplyReport apply(const State& state, Journal* journal, const ApplyEvents& events = {});

  // The system as a state document: {"version": 1, "metadata": {...}, "plugins": {...}}.
  JsonDoc show();

 private:
  // Probe + query + diff for one plugin. Throws Error with the plugin as context.
  std::vector<Action> plan_plugin(Plugin& plugin, const JsonValue& desired, const JsonValue* current);

  // The passes of apply(), in the order it runs them. Each returns false when the run must stop (the
  // failure is in the report).
  struct ApplyRun;
  bool preflight(ApplyRun& run);                                    // plan all; refuse before any change
  bool apply_plugin(ApplyRun& run, size_t index);                   // the per-plugin passes below
  std::vector<Action> plan_for_apply(ApplyRun& run, size_t index);  // fresh plan; throws on refusal
  bool run_actions(ApplyRun& run, Plugin& plugin, const std::vector<Action>& to_run);  // in order, journaled
  bool run_each_action(ApplyRun& run, Plugin& plugin, const std::vector<Action>& to_run);
  bool verify(ApplyRun& run, Plugin& plugin);  // query + diff again: nothing may be left
  void roll_back(ApplyRun& run, const std::string& name, Checkpoint& checkpoint);
  void confirm_or_roll_back(ApplyRun& run);  // --confirm-timeout, then commit
  bool refused_destructive(const Action& a) const;

  Context& ctx_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
};

}  // namespace opdbus
