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
    if (!p) continue;  // the schema already reported unknown plugins
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

ApplyReport Engine::apply(const State& state, Journal* journal, const ApplyEvents& events) {
  ApplyReport report;
  auto note = [&](const std::string& m) {
    if (events.on_note) events.on_note(m);
  };
  std::vector<Plugin*> plugins;
  Plan preflight;
  try {
    plugins = selected(state);
    // Preflight: plan everything first, so a refusal (destructive, not implemented, unavailable) happens
    // before the first change.
    preflight = plan(state);
    if (!preflight.errors.empty()) {
      std::string msg = "nothing was changed:";
      for (const auto& e : preflight.errors) msg += "\n  " + e;
      throw Error(ErrorKind::InvalidArgument, msg);
    }
    std::string refused;
    for (const auto& a : preflight.actions) {
      if (a.destructive && !a.observe && !ctx_.options().allow_destructive) {
        refused += "\n  " + a.resource() + ": " + a.summary;
      }
    }
    if (!refused.empty()) {
      throw Error(
          ErrorKind::InvalidArgument,
          "refusing destructive actions without --allow-destructive (nothing was changed):" + refused);
    }
  } catch (const Error& e) {
    report.failure = e;
    return report;
  }

  const std::string run = journal ? journal->new_run_id() : std::string();
  std::vector<std::pair<std::string, std::unique_ptr<Checkpoint>>> held;  // committed at the very end
  auto rollback = [&](const std::string& name, Checkpoint& cp) {
    try {
      cp.rollback(ctx_);
      report.rolled_back.push_back(name);
      note(name + ": rolled back to the checkpoint taken before apply");
    } catch (const Error& e) {
      note(name + ": ROLLBACK FAILED: " + e.what());
    }
  };
  auto journal_event = [&](const std::string& plugin, const std::string& what) {
    try {
      if (journal) journal->record_event(run, plugin, "interrupt", what, "interrupted");
    } catch (const Error& e) {
      note(std::string("could not write the journal: ") + e.what());
    }
  };
  for (size_t pi = 0; pi < plugins.size(); ++pi) {
    Plugin& plugin = *plugins[pi];
    const std::string name(plugin.name());
    const JsonValue& desired = *state.section(name);
    if (interrupted()) {  // SIGINT/SIGTERM (signals.h): no further plugin starts
      report.failure =
          Error(ErrorKind::Interrupted, "interrupted by " + interrupt_name() + " before " + name);
      journal_event(name, report.failure->message());
      break;
    }
    std::vector<Action> actions;
    try {
      if (pi == 0) {
        // Nothing has changed since the preflight plan: the first plugin's part of it is still current.
        for (auto& a : preflight.actions) {
          if (a.plugin == name) actions.push_back(std::move(a));
        }
      } else {
        // Plan again: earlier plugins may have changed what this one sees (packages bring units, ...).
        actions = plan_plugin(plugin, desired, nullptr);
      }
      for (const auto& a : actions) {
        if (a.destructive && !a.observe && !ctx_.options().allow_destructive) {
          throw Error(
              ErrorKind::InvalidArgument,
              "refusing destructive action without --allow-destructive: " + a.resource() + ": " + a.summary);
        }
      }
    } catch (const Error& e) {
      report.failure = e;
      break;
    }
    if (events.on_plugin_plan) events.on_plugin_plan(name, actions);

    std::vector<Action> to_run;
    for (auto& a : actions) {
      if (a.observe)
        report.observed.push_back(a);
      else
        to_run.push_back(a);
    }
    if (to_run.empty()) continue;

    std::unique_ptr<Checkpoint> checkpoint;
    try {
      checkpoint = with_context(name + ": checkpoint", [&] { return plugin.checkpoint(ctx_, to_run); });
    } catch (const Error& e) {
      report.failure = e;
      break;
    }

    bool failed = false;
    if (journal) journal->begin_batch();  // one fsync for the plugin's entries
    for (size_t i = 0; i < to_run.size(); ++i) {
      const Action& a = to_run[i];
      if (interrupted()) {  // between actions: the one under way has finished
        report.failure = Error(ErrorKind::Interrupted,
                               "interrupted by " + interrupt_name() + " after " + std::to_string(i) + " of " +
                                   std::to_string(to_run.size()) + " actions of " + name);
        report.not_done.insert(report.not_done.end(), to_run.begin() + static_cast<long>(i), to_run.end());
        failed = true;
        break;
      }
      if (events.on_action_start) events.on_action_start(a);
      try {
        with_context(name + ": " + a.summary, [&] { plugin.apply(ctx_, a); });
        if (journal) journal->record(run, a, true);
        report.done.push_back(a);
        if (events.on_action_done) events.on_action_done(a, nullptr);
      } catch (const Error& e) {
        if (journal) {
          try {
            journal->record(run, a, false, e.what());
          } catch (const Error& je) {
            note(std::string("could not write the journal: ") + je.what());
          }
        }
        if (events.on_action_done) events.on_action_done(a, &e);
        report.failure = e;
        report.failed_resource = a.resource();
        for (size_t j = i + 1; j < to_run.size(); ++j) report.not_done.push_back(to_run[j]);
        failed = true;
        break;
      }
    }
    if (journal) journal->commit_batch();

    if (!failed) {
      // Verify: the system must now match; whatever a fresh diff still finds did not stick.
      try {
        auto left = plan_plugin(plugin, desired, nullptr);
        std::string msg;
        for (const auto& a : left) {
          if (!a.observe) msg += "\n  " + describe_drift(a);
        }
        if (!msg.empty()) {
          throw Error(ErrorKind::VerificationError, "these changes did not stick:" + msg).with_context(name);
        }
      } catch (const Error& e) {
        report.failure = e;
        failed = true;
      }
    }

    if (failed) {
      if (checkpoint) rollback(name, *checkpoint);
      if (report.failure->kind() == ErrorKind::Interrupted) {
        bool undone = !report.rolled_back.empty() && report.rolled_back.back() == name;
        journal_event(
            name, report.failure->message() + (undone ? "; rolled back to the checkpoint taken before apply"
                                               : checkpoint ? "; ROLLBACK FAILED"
                                                            : "; the actions done stay done"));
      }
      for (size_t pj = pi + 1; pj < plugins.size(); ++pj) {
        note(std::string(plugins[pj]->name()) + ": not applied (an earlier plugin failed)");
      }
      break;
    }
    if (checkpoint) held.emplace_back(name, std::move(checkpoint));
  }

  int timeout = ctx_.options().confirm_timeout;
  if (report.ok() && timeout > 0 && !held.empty()) {
    bool confirmed = events.wait_for_confirm && events.wait_for_confirm(timeout);
    if (!confirmed) {
      report.failure = Error(ErrorKind::VerificationError, "not confirmed within " + std::to_string(timeout) +
                                                               " s (op-dbus confirm); rolled back");
      for (auto it = held.rbegin(); it != held.rend(); ++it) rollback(it->first, *it->second);
      return report;
    }
  }
  for (auto& [name, cp] : held) cp->commit(ctx_);
  return report;
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
