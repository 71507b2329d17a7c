#include "systemd/diff.h"

#include <optional>

#include "systemd/model.h"
#include "systemd/ops.h"
#include "systemd/units.h"
#include "text.h"

namespace opdbus::systemd {
namespace {

std::string bool_text(bool b) {
  return b ? "true" : "false";
}

bool is_masked(std::string_view state) {
  return state == "masked" || state == "masked-runtime";
}

class Differ {
 public:
  Differ(const Section& desired, const Section& current) : desired_(desired), current_(current) {}

  std::vector<Action> run() {
    for_each_item("services", desired_.services, current_.services, &Differ::service);
    for_each_item("timers", desired_.timers, current_.timers, &Differ::timer);
    for_each_item("custom_units", desired_.custom_units, current_.custom_units, &Differ::custom_unit);
    if (reload_) add({}, Op::Reload, kOrderReload, "daemon-reload", {}, Reload{});
    if (reload_after_remove_) add({}, Op::Reload, kOrderReloadRemoved, "daemon-reload", {}, Reload{});
    return std::move(actions_);
  }

 private:
  using Item = std::vector<std::string>;

  // Calls `fn` for every desired item of `kind` with the current item of the same normalised name (the
  // model indexes them, so this is linear in the number of items).
  template <typename T>
  void for_each_item(const char* kind, const Items<T>& want, const Items<T>& have,
                     void (Differ::*fn)(const Item&, const T&, const T*, bool)) {
    for (const T& w : want.list()) {
      // Observe-only items are the engine's business (it marks their actions); the one thing decided here is
      // that they alone never cause a shared daemon-reload, which would otherwise run (and be left over) on
      // every apply.
      bool observed = desired_.observe || w.observe;
      (this->*fn)({kind, w.key}, w, have.find(w.unit), observed);
    }
  }

  template <typename Operation>
  void add(Item item, Op op, int order, std::string summary, std::vector<Change> changes,
           Operation operation) {
    Action a;
    a.plugin = "systemd";
    a.item = std::move(item);
    a.op = op;
    a.order = order;
    a.summary = std::move(summary);
    a.changes = std::move(changes);
    a.operation = make_operation<Ops>(std::move(operation));
    actions_.push_back(std::move(a));
  }

  template <typename UnitOp>
  void unit_op(const Item& item, const std::string& unit, int order, std::vector<Change> changes) {
    Op kind = Op::Update;
    if constexpr (std::is_same_v<UnitOp, Start>) kind = Op::Start;
    if constexpr (std::is_same_v<UnitOp, Stop>) kind = Op::Stop;
    if constexpr (std::is_same_v<UnitOp, Restart>) kind = Op::Restart;
    add(item, kind, order, std::string(UnitOp::kName) + " " + unit, std::move(changes), UnitOp{{unit}});
  }

  // Writes `path` when its content differs; returns whether it did.
  bool write_file(const Item& item, const std::string& path, const std::string& change_path, const Text* have,
                  const Text& want, bool observed) {
    if (have && *have == want) return false;
    std::optional<std::string> before;
    if (have) before = json_quoted(have->raw);
    add(item, have ? Op::Update : Op::Create, kOrderWrite, "write " + path,
        {{change_path, before, json_quoted(want.raw)}}, WriteFile{path, want.normal});
    if (!observed) reload_ = true;
    return true;
  }

  // Drop-ins named by the document are made exactly so; others are left alone (merge).
  bool dropins(const Item& item, const std::string& unit, const std::optional<Dropins>& want,
               const std::optional<Dropins>* have, bool observed) {
    if (!want) return false;
    bool changed = false;
    for (const auto& [name, text] : want->files) {
      const Text* current = have && *have ? (*have)->find(name) : nullptr;
      std::string path = std::string(kUnitDir) + "/" + unit + ".d/" + name;
      changed |= write_file(item, path, "dropins/" + name, current, text, observed);
    }
    return changed;
  }

  // start / stop, or restart a running unit whose files changed. Nothing when `have` is unknown (offline).
  void running(const Item& item, const std::string& unit, std::optional<bool> want, std::optional<bool> have,
               bool files_changed, bool restart_on_change) {
    if (!have) return;
    if (want && *want && !*have) {
      unit_op<Start>(item, unit, kOrderRun, {{"running", "false", "true"}});
    } else if (want && !*want && *have) {
      unit_op<Stop>(item, unit, kOrderRun, {{"running", "true", "false"}});
    } else if (*have && files_changed && restart_on_change && want.value_or(true)) {
      unit_op<Restart>(item, unit, kOrderRun, {});
    }
  }

  // What the current side says about `running`: the reported value; false for an item the current side does
  // not list at all (not loaded); unknown when it lists the item without `running` (an offline tree).
  template <typename T>
  static std::optional<bool> have_running(const T* have) {
    if (!have) return false;
    return have->running;
  }

  // enabled / disabled / masked from the unit file state. `before` is what the plan shows as the old value.
  void enablement(const Item& item, const std::string& unit, const std::string& want, const std::string& have,
                  const std::optional<std::string>& before) {
    bool masked = is_masked(have);
    std::vector<Change> change = {{"state", before, json_quoted(want)}};
    if (want == "enabled") {
      if (have == "enabled") return;
      if (masked) unit_op<Unmask>(item, unit, kOrderUnmask, {});
      unit_op<Enable>(item, unit, kOrderEnablement, change);
    } else if (want == "disabled") {
      bool enabled =
          have == "enabled" || have == "enabled-runtime" || have == "linked" || have == "linked-runtime";
      if (!enabled && !masked) return;
      // Unmasking can uncover enablement symlinks made before the mask, so disable as well.
      if (masked) unit_op<Unmask>(item, unit, kOrderUnmask, {});
      unit_op<Disable>(item, unit, kOrderEnablement, change);
    } else if (want == "masked") {
      if (have == "masked") return;
      unit_op<Mask>(item, unit, kOrderEnablement, change);
    }
  }

  // stop -> disable -> remove the file and its drop-ins -> (one) daemon-reload.
  void removal(const Item& item, const std::string& unit, std::optional<bool> is_running, bool has_dropins,
               const std::string& have_state, const Change& disabling, bool enabled, bool observed) {
    if (is_running && *is_running)
      unit_op<Stop>(item, unit, kOrderStopRemoved, {{"running", "true", "false"}});
    if (enabled) unit_op<Disable>(item, unit, kOrderDisableRemoved, {disabling});
    std::string path = std::string(kUnitDir) + "/" + unit;
    add(item, Op::Delete, kOrderRemove, "remove " + path + (has_dropins ? " and " + path + ".d/" : ""),
        {{"state", json_quoted(have_state), json_quoted("absent")}}, RemoveFiles{unit, {path, path + ".d"}});
    if (!observed) reload_after_remove_ = true;
  }

  static bool has_dropins(const std::optional<Dropins>& dropins) { return dropins && !dropins->empty(); }

  void service(const Item& item, const Service& want, const Service* have, bool observed) {
    const std::string& unit = want.unit;
    bool changed = dropins(item, unit, want.dropins, have ? &have->dropins : nullptr, observed);
    if (want.state) {
      std::string have_state = have ? have->state.value_or("not-found") : "not-found";
      enablement(item, unit, *want.state, have_state, json_quoted(have_state));
    }
    bool masked = want.state == std::optional<std::string>("masked");
    running(item, unit, want.running, have_running(have), changed,
            want.restart_on_change.value_or(true) && !masked);
  }

  void timer(const Item& item, const Timer& want, const Timer* have, bool observed) {
    const std::string& unit = want.unit;
    std::string want_state = want.state.value_or("enabled");
    std::string have_state = have ? have->state.value_or("enabled") : "absent";
    bool exists = have_state != "absent";
    if (want_state == "absent") {
      if (exists) {
        removal(item, unit, have_running(have), false, have_state,
                {"state", json_quoted(have_state), json_quoted("disabled")}, have_state == "enabled",
                observed);
      }
      return;
    }

    const TimerSpec& spec = want.spec;
    std::optional<TimerSpec> current;
    if (exists && have->on_calendar) current = have->spec;
    bool changed = false;
    if (!current || render_timer(unit, spec) != render_timer(unit, *current)) {
      std::vector<Change> changes;
      auto field = [&](const char* name, const std::string& before, const std::string& after, bool quote) {
        if (current && before == after) return;
        std::optional<std::string> b;
        if (current && !before.empty()) b = quote ? json_quoted(before) : before;
        if (after.empty()) {
          if (b) changes.push_back({name, b, std::nullopt});
          return;
        }
        changes.push_back({name, b, quote ? json_quoted(after) : after});
      };
      TimerSpec old = current.value_or(TimerSpec{});
      field("on_calendar", old.on_calendar, spec.on_calendar, true);
      field("unit", old.unit, spec.unit, true);
      field("description", old.description, spec.description, true);
      field("persistent", old.persistent ? "true" : "", spec.persistent ? "true" : "", false);
      std::string path = std::string(kUnitDir) + "/" + unit;
      // An existing file without a parsable spec was not written by op-dbus (or was edited): it is replaced.
      std::string summary =
          "write " + path + (exists && !current ? " (replacing a file op-dbus did not write)" : "");
      add(item, exists ? Op::Update : Op::Create, kOrderWrite, summary, std::move(changes),
          WriteFile{path, render_timer(unit, spec)});
      if (!observed) reload_ = true;
      changed = true;
    }
    std::optional<std::string> before;
    if (exists) before = json_quoted(have_state);
    enablement(item, unit, want_state, have_state, before);
    std::optional<bool> want_running = want.running;
    if (!want_running) want_running = want_state == "enabled";
    running(item, unit, want_running, have_running(have), changed, true);
  }

  void custom_unit(const Item& item, const CustomUnit& want, const CustomUnit* have, bool observed) {
    const std::string& unit = want.unit;
    const Text* content = have && have->content ? &*have->content : nullptr;
    bool exists = content != nullptr;
    bool enabled = have ? have->enabled.value_or(false) : false;
    if (want.state.value_or("present") == "absent") {
      if (exists) {
        removal(item, unit, have_running(have), has_dropins(have->dropins), "present",
                {"enabled", "true", "false"}, enabled, observed);
      }
      return;
    }
    bool changed = false;
    if (want.content) {
      changed |=
          write_file(item, std::string(kUnitDir) + "/" + unit, "content", content, *want.content, observed);
    }
    changed |= dropins(item, unit, want.dropins, have ? &have->dropins : nullptr, observed);
    if (want.enabled && *want.enabled != enabled) {
      std::optional<std::string> before;
      if (exists) before = bool_text(enabled);
      std::vector<Change> change = {{"enabled", before, bool_text(*want.enabled)}};
      if (*want.enabled)
        unit_op<Enable>(item, unit, kOrderEnablement, std::move(change));
      else
        unit_op<Disable>(item, unit, kOrderEnablement, std::move(change));
    }
    running(item, unit, want.running, have_running(have), changed, want.restart_on_change.value_or(true));
  }

  const Section& desired_;
  const Section& current_;
  std::vector<Action> actions_;
  bool reload_ = false;
  bool reload_after_remove_ = false;
};

}  // namespace

std::vector<Action> diff_section(const Section& desired, const Section& current) {
  return Differ(desired, current).run();
}

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current) {
  return diff_section(parse_section(desired), parse_section(current));
}

}  // namespace opdbus::systemd
