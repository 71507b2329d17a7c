#include "engine.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "journal.h"
#include "schema.h"
#include "signals.h"

namespace opdbus {
namespace {

bool is_observe(const JsonValue& node) {
  const JsonValue* mode = member(node, "mode");
  return mode && mode->IsString() && std::string_view(mode->GetString()) == "observe";
}

// Walks from the section down the item's tokens; any level that says "mode": "observe" makes it observe-only.
bool observed(const JsonValue& section, const std::vector<std::string>& item) {
  const JsonValue* node = &section;
  if (is_observe(*node)) return true;
  for (const auto& token : item) {
    if (node->IsObject()) {
      node = member(*node, token);
    } else if (node->IsArray()) {
      char* end = nullptr;
      unsigned long idx = std::strtoul(token.c_str(), &end, 10);
      if (token.empty() || *end != '\0' || idx >= node->Size()) return false;
      node = &(*node)[static_cast<rapidjson::SizeType>(idx)];
    } else {
      return false;
    }
    if (!node) return false;
    if (is_observe(*node)) return true;
  }
  return false;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

Diagnostic unregistered(const std::string& file, const std::string& name) {
  Diagnostic d;
  d.file = file;
  d.pointer = "/plugins/" + name;
  d.message = "no plugin " + name + " is registered in this build of op-dbus (src/app/registry.cc)";
  return d;
}

const JsonValue& empty_object() {
  static const JsonDoc empty = parse_json("{}");
  return empty;
}

}  // namespace

std::vector<Plugin*> order_plugins(const std::vector<std::unique_ptr<Plugin>>& registry,
                                   const std::vector<std::string>& names) {
  std::map<std::string, size_t> rank;  // registry position of each selected plugin
  for (size_t i = 0; i < registry.size(); ++i) {
    if (std::find(names.begin(), names.end(), registry[i]->name()) != names.end()) {
      rank[std::string(registry[i]->name())] = i;
    }
  }
  // Kahn's algorithm; among ready plugins the one earliest in the registry goes first, so the order is
  // stable.
  std::map<std::string, std::set<std::string>> waits_for;
  for (const auto& [name, idx] : rank) {
    for (const auto& dep : registry[idx]->after()) {
      if (rank.count(dep)) waits_for[name].insert(dep);
    }
  }
  std::vector<Plugin*> out;
  std::set<std::string> done;
  while (done.size() < rank.size()) {
    const std::string* next = nullptr;
    size_t best = registry.size();
    for (const auto& [name, idx] : rank) {
      if (done.count(name)) continue;
      bool ready = std::all_of(waits_for[name].begin(), waits_for[name].end(),
                               [&](const std::string& d) { return done.count(d) > 0; });
      if (ready && idx < best) {
        best = idx;
        next = &name;
      }
    }
    if (!next) throw Error(ErrorKind::Bug, "plugin 'after' edges form a cycle");
    done.insert(*next);
    out.push_back(registry[best].get());
  }
  return out;
}

void finish_actions(std::string_view plugin, const JsonValue& desired_section, std::vector<Action>& actions) {
  for (auto& a : actions) {
    a.plugin = std::string(plugin);
    a.observe = a.observe || observed(desired_section, a.item);
    for (auto& c : a.changes) {
      std::vector<std::string> path = a.item;
      for (auto& t : split_path(c.path)) path.push_back(std::move(t));
      c.secret = c.secret || is_secret(plugin, path);
    }
  }
  std::stable_sort(actions.begin(), actions.end(),
                   [](const Action& l, const Action& r) { return action_less(l, r, 0, 0); });
}

std::string describe_drift(const Action& action) {
  std::string out = action.resource();
  if (action.changes.empty()) return out + ": " + action.summary;
  const Change& c = action.changes.front();
  auto show = [&](const std::optional<std::string>& v) {
    if (c.secret) return std::string("(secret)");
    return v ? *v : std::string("(absent)");
  };
  out += ": " + c.path + ": desired " + show(c.after) + ", found " + show(c.before);
  if (action.changes.size() > 1) {
    out += " (and " + std::to_string(action.changes.size() - 1) + " more)";
  }
  return out;
}

Engine::Engine(Context& ctx, std::vector<std::unique_ptr<Plugin>> plugins)
    : ctx_(ctx), plugins_(std::move(plugins)) {}

Plugin* Engine::find(std::string_view name) const {
  for (const auto& p : plugins_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

std::vector<std::string> Engine::plugin_names() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) out.emplace_back(p->name());
  return out;
}

void Engine::check(const State& state, Diagnostics& out) const {
  for (const auto& name : state.plugin_names()) {
    Plugin* p = find(name);
    if (!p) {
      // The schema knows the section but this build has no plugin for it: an error, never dropped.
      if (schema_text(name)) out.push_back(unregistered(state.file, name));
      continue;  // otherwise the schema already reported an unknown plugin
    }
    p->check(*state.section(name), state.file, "/plugins/" + name, out);
  }
}

std::vector<Plugin*> Engine::selected(const State& state) const {
  const auto& only = ctx_.options().only_plugins;
  for (const auto& name : only) {
    if (!find(name)) {
      std::string known;
      for (const auto& n : plugin_names()) known += (known.empty() ? "" : ", ") + n;
      throw Error(ErrorKind::InvalidArgument,
                  "--plugin " + name + ": unknown plugin; known plugins: " + known);
    }
  }
  std::vector<std::string> names;
  for (const auto& name : state.plugin_names()) {
    if (!find(name)) throw Error(ErrorKind::InvalidArgument, unregistered(state.file, name).format());
    if (only.empty() || std::find(only.begin(), only.end(), name) != only.end()) names.push_back(name);
  }
  return order_plugins(plugins_, names);
}

std::vector<Action> Engine::plan_plugin(Plugin& plugin, const JsonValue& desired, const JsonValue* current) {
  const std::string name(plugin.name());
  return with_context(name, [&] {
    if (!plugin.implemented()) {
      throw Error(ErrorKind::NotSupported, "plugin " + name + " is not implemented yet");
    }
    std::vector<Action> actions;
    if (current) {
      actions = plugin.diff(desired, *current);
    } else {
      Probe probe = plugin.probe(ctx_);
      if (!probe.available) {
        std::string hint = ctx_.offline() ? "" : " (to work on a mounted tree instead, use --root DIR)";
        throw Error(ErrorKind::Unavailable, "backend unavailable: " + probe.detail + hint);
      }
      JsonDoc live = with_context("query", [&] { return plugin.query(ctx_, &desired); });
      actions = plugin.diff(desired, live);
    }
    finish_actions(name, desired, actions);
    return actions;
  });
}

Plan Engine::plan(const State& state, const JsonValue* current) {
  Plan plan;
  for (Plugin* p : selected(state)) {
    const std::string name(p->name());
    plan.plugins.push_back(name);
    const JsonValue* saved = nullptr;
    if (current) {
      const JsonValue* plugins = member(*current, "plugins");
      saved = plugins ? member(*plugins, name) : nullptr;
      if (!saved) {
        // An export without this plugin's section: treat as an empty host rather than guessing.
        saved = &empty_object();
      }
    }
    try {
      auto actions = plan_plugin(*p, *state.section(name), saved);
      for (auto& a : actions) plan.actions.push_back(std::move(a));
    } catch (const Error& e) {
      plan.errors.push_back(e.what());
    }
  }
  return plan;
}

// The state an apply carries from one pass to the next.
struct Engine::ApplyRun {
  const State& state;
  Journal* journal;
  const ApplyEvents& events;
  ApplyReport& report;
  std::vector<Plugin*> plugins;  // in execution order
  Plan preflight;
  std::string run_id;  // the journal's id for this apply
  // Checkpoints of plugins that applied and verified: committed at the very end, or rolled back (newest
  // first) if the operator does not confirm.
  std::vector<std::pair<std::string, std::unique_ptr<Checkpoint>>> held;

  void note(const std::string& m) const {
    if (events.on_note) events.on_note(m);
  }
  // An interruption, recorded in the journal (never fatal: the report says it anyway).
  void journal_event(const std::string& plugin, const std::string& what) const {
    try {
      if (journal) journal->record_event(run_id, plugin, "interrupt", what, "interrupted");
    } catch (const Error& e) {
      note(std::string("could not write the journal: ") + e.what());
    }
  }
};

ApplyReport Engine::apply(const State& state, Journal* journal, const ApplyEvents& events) {
  ApplyReport report;
  ApplyRun run{state, journal, events, report, {}, {}, {}, {}};
  // 1. Plan every plugin before the first change, so a refusal changes nothing.
  if (!preflight(run)) return report;
  run.run_id = journal ? journal->new_run_id() : std::string();
  // 2. Per plugin, in order: plan -> checkpoint -> actions -> verify; the first failure stops the run.
  for (size_t index = 0; index < run.plugins.size(); ++index) {
    if (!apply_plugin(run, index)) break;
  }
  // 3. Keep the changes (or roll every checkpoint back when --confirm-timeout passes unconfirmed).
  confirm_or_roll_back(run);
  return report;
}

bool Engine::preflight(ApplyRun& run) {
  try {
    run.plugins = selected(run.state);
    run.preflight = plan(run.state);
    if (!run.preflight.errors.empty()) {
      std::string msg = "nothing was changed:";
      for (const auto& e : run.preflight.errors) msg += "\n  " + e;
      throw Error(ErrorKind::InvalidArgument, msg);
    }
    std::string refused;
    for (const auto& a : run.preflight.actions) {
      if (refused_destructive(a)) refused += "\n  " + a.resource() + ": " + a.summary;
    }
    if (!refused.empty()) {
      throw Error(
          ErrorKind::InvalidArgument,
          "refusing destructive actions without --allow-destructive (nothing was changed):" + refused);
    }
  } catch (const Error& e) {
    run.report.failure = e;
    return false;
  }
  return true;
}

bool Engine::refused_destructive(const Action& a) const {
  return a.destructive && !a.observe && !ctx_.options().allow_destructive;
}

std::vector<Action> Engine::plan_for_apply(ApplyRun& run, size_t index) {
  Plugin& plugin = *run.plugins[index];
  const std::string name(plugin.name());
  std::vector<Action> actions;
  if (index == 0) {
    // Nothing has changed since the preflight plan: the first plugin's part of it is still current.
    for (auto& a : run.preflight.actions) {
      if (a.plugin == name) actions.push_back(std::move(a));
    }
  } else {
    // Plan again: earlier plugins may have changed what this one sees (packages bring units, ...).
    actions = plan_plugin(plugin, *run.state.section(name), nullptr);
  }
  for (const auto& a : actions) {
    if (refused_destructive(a)) {
      throw Error(ErrorKind::InvalidArgument, "refusing destructive action without --allow-destructive: " +
                                                  a.resource() + ": " + a.summary);
    }
  }
  return actions;
}

bool Engine::apply_plugin(ApplyRun& run, size_t index) {
  Plugin& plugin = *run.plugins[index];
  const std::string name(plugin.name());
  ApplyReport& report = run.report;
  if (interrupted()) {  // SIGINT/SIGTERM (signals.h): no further plugin starts
    report.failure = Error(ErrorKind::Interrupted, "interrupted by " + interrupt_name() + " before " + name);
    run.journal_event(name, report.failure->message());
    return false;
  }

  std::vector<Action> actions;
  try {
    actions = plan_for_apply(run, index);
  } catch (const Error& e) {
    report.failure = e;
    return false;
  }
  if (run.events.on_plugin_plan) run.events.on_plugin_plan(name, actions);

  // Observe-only actions are reported, never run.
  std::vector<Action> to_run;
  for (auto& a : actions) {
    if (a.observe)
      report.observed.push_back(a);
    else
      to_run.push_back(a);
  }
  if (to_run.empty()) return true;

  std::unique_ptr<Checkpoint> checkpoint;
  try {
    checkpoint = with_context(name + ": checkpoint", [&] { return plugin.checkpoint(ctx_, to_run); });
  } catch (const Error& e) {
    report.failure = e;
    return false;
  }

  if (run.journal) run.journal->begin_batch();  // one fsync for the plugin's entries
  bool ok = run_actions(run, plugin, to_run);
  if (run.journal) run.journal->commit_batch();
  ok = ok && verify(run, plugin);
  if (!ok) {
    if (checkpoint) roll_back(run, name, *checkpoint);
    if (report.failure->kind() == ErrorKind::Interrupted) {
      bool undone = !report.rolled_back.empty() && report.rolled_back.back() == name;
      run.journal_event(
          name, report.failure->message() + (undone ? "; rolled back to the checkpoint taken before apply"
                                             : checkpoint ? "; ROLLBACK FAILED"
                                                          : "; the actions done stay done"));
    }
    for (size_t later = index + 1; later < run.plugins.size(); ++later) {
      run.note(std::string(run.plugins[later]->name()) + ": not applied (an earlier plugin failed)");
    }
    return false;
  }
  if (checkpoint) run.held.emplace_back(name, std::move(checkpoint));
  return true;
}

bool Engine::run_actions(ApplyRun& run, Plugin& plugin, const std::vector<Action>& to_run) {
  const std::string name(plugin.name());
  try {
    with_context(name, [&] { plugin.begin_apply(ctx_, to_run); });
  } catch (const Error& e) {
    run.report.failure = e;
    run.report.not_done.insert(run.report.not_done.end(), to_run.begin(), to_run.end());
    return false;
  }
  bool ok = run_each_action(run, plugin, to_run);
  // Whatever the plugin held back (a batched daemon-reload) is carried out now, also after a failure.
  try {
    with_context(name, [&] { plugin.end_apply(ctx_); });
  } catch (const Error& e) {
    if (ok)
      run.report.failure = e;
    else
      run.note(std::string("also: ") + e.what());
    ok = false;
  }
  return ok;
}

bool Engine::run_each_action(ApplyRun& run, Plugin& plugin, const std::vector<Action>& to_run) {
  const std::string name(plugin.name());
  ApplyReport& report = run.report;
  for (size_t i = 0; i < to_run.size(); ++i) {
    const Action& a = to_run[i];
    if (interrupted()) {  // between actions: the one under way has finished
      report.failure =
          Error(ErrorKind::Interrupted, "interrupted by " + interrupt_name() + " after " + std::to_string(i) +
                                            " of " + std::to_string(to_run.size()) + " actions of " + name);
      report.not_done.insert(report.not_done.end(), to_run.begin() + static_cast<long>(i), to_run.end());
      return false;
    }
    if (run.events.on_action_start) run.events.on_action_start(a);
    try {
      with_context(name + ": " + a.summary, [&] { plugin.apply(ctx_, a); });
      if (run.journal) run.journal->record(run.run_id, a, true);
      report.done.push_back(a);
      if (run.events.on_action_done) run.events.on_action_done(a, nullptr);
    } catch (const Error& e) {
      if (run.journal) {
        try {
          run.journal->record(run.run_id, a, false, e.what());
        } catch (const Error& je) {
          run.note(std::string("could not write the journal: ") + je.what());
        }
      }
      if (run.events.on_action_done) run.events.on_action_done(a, &e);
      report.failure = e;
      report.failed_resource = a.resource();
      for (size_t j = i + 1; j < to_run.size(); ++j) report.not_done.push_back(to_run[j]);
      return false;
    }
  }
  return true;
}

bool Engine::verify(ApplyRun& run, Plugin& plugin) {
  // The system must now match; whatever a fresh diff still finds did not stick.
  const std::string name(plugin.name());
  try {
    auto left = plan_plugin(plugin, *run.state.section(name), nullptr);
    std::string msg;
    for (const auto& a : left) {
      if (!a.observe) msg += "\n  " + describe_drift(a);
    }
    if (!msg.empty()) {
      throw Error(ErrorKind::VerificationError, "these changes did not stick:" + msg).with_context(name);
    }
  } catch (const Error& e) {
    run.report.failure = e;
    return false;
  }
  return true;
}

void Engine::roll_back(ApplyRun& run, const std::string& name, Checkpoint& checkpoint) {
  try {
    checkpoint.rollback(ctx_);
    run.report.rolled_back.push_back(name);
    run.note(name + ": rolled back to the checkpoint taken before apply");
  } catch (const Error& e) {
    run.note(name + ": ROLLBACK FAILED: " + e.what());
  }
}

void Engine::confirm_or_roll_back(ApplyRun& run) {
  int timeout = ctx_.options().confirm_timeout;
  if (run.report.ok() && timeout > 0 && !run.held.empty()) {
    bool confirmed = run.events.wait_for_confirm && run.events.wait_for_confirm(timeout);
    if (!confirmed) {
      run.report.failure =
          Error(ErrorKind::VerificationError,
                "not confirmed within " + std::to_string(timeout) + " s (op-dbus confirm); rolled back");
      for (auto it = run.held.rbegin(); it != run.held.rend(); ++it) roll_back(run, it->first, *it->second);
      return;
    }
  }
  for (auto& [name, cp] : run.held) cp->commit(ctx_);
}

JsonDoc Engine::show() {
  JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("version", kCurrentVersion, a);
  JsonValue meta(rapidjson::kObjectType);
  if (auto host = ctx_.hostname()) meta.AddMember("name", str_value(*host, a), a);  // DIR's with --root
  meta.AddMember("description", "exported by op-dbus show", a);
  doc.AddMember("metadata", meta, a);
  JsonValue plugins(rapidjson::kObjectType);
  const auto& only = ctx_.options().only_plugins;
  std::vector<std::string> names;
  for (const auto& p : plugins_) {
    std::string name(p->name());
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    if (!p->implemented()) {
      if (!only.empty()) throw Error(ErrorKind::NotSupported, "plugin " + name + " is not implemented yet");
      continue;
    }
    names.push_back(name);
  }
  for (const auto& name : names) {
    Plugin& p = *find(name);
    Probe probe = p.probe(ctx_);
    if (!probe.available) {
      if (!only.empty()) throw Error(ErrorKind::Unavailable, name + ": backend unavailable: " + probe.detail);
      ctx_.logger(name).info("skipped: {}", probe.detail);
      continue;
    }
    JsonDoc section = with_context(name + ": query", [&] { return p.query(ctx_, nullptr); });
    JsonValue copy;
    copy.CopyFrom(section, a);
    plugins.AddMember(str_value(name, a), copy, a);
  }
  doc.AddMember("plugins", plugins, a);
  return doc;
}

}  // namespace opdbus
