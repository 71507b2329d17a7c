#include "systemd/diff.h"

#include <optional>
#include <unordered_map>

#include "systemd/ops.h"
#include "systemd/units.h"
#include "text.h"

namespace opdbus::systemd {
namespace {

std::string bool_text(bool b) {
  return b ? "true" : "false";
}

std::optional<std::string> string_member(const JsonValue* obj, std::string_view key) {
  if (!obj) return std::nullopt;
  const JsonValue* v = member(*obj, key);
  if (!v || !v->IsString()) return std::nullopt;
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<bool> bool_member(const JsonValue* obj, std::string_view key) {
  if (!obj) return std::nullopt;
  const JsonValue* v = member(*obj, key);
  if (!v || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

bool is_masked(std::string_view state) {
  return state == "masked" || state == "masked-runtime";
}

class Differ {
 public:
  Differ(const JsonValue& desired, const JsonValue& current) : desired_(desired), current_(current) {}

  std::vector<Action> run() {
    for_each_item("services", normalize_service_name, &Differ::service);
    for_each_item("timers", normalize_timer_name, &Differ::timer);
    for_each_item("custom_units", normalize_service_name, &Differ::custom_unit);
    if (reload_) add({}, Op::Reload, kOrderReload, "daemon-reload", {}, Reload{});
    if (reload_after_remove_) add({}, Op::Reload, kOrderReloadRemoved, "daemon-reload", {}, Reload{});
    return std::move(actions_);
  }

 private:
  using Item = std::vector<std::string>;
  using ItemFn = void (Differ::*)(const Item&, const std::string& unit, const JsonValue& want,
                                  const JsonValue* have, bool observed);

  // Calls `fn` for every desired item of `kind` with the current item of the same normalised name. The
  // current items are indexed by normalised name once, so this is linear in the number of items.
  void for_each_item(const char* kind, std::string (*normalize)(std::string_view), ItemFn fn) {
    const JsonValue* want_items = member(desired_, kind);
    if (!want_items || !want_items->IsObject()) return;
    const JsonValue* have_items = member(current_, kind);
    std::unordered_map<std::string, const JsonValue*> current;
    if (have_items && have_items->IsObject()) {
      current.reserve(have_items->MemberCount());
      for (const auto& h : have_items->GetObject()) {
        // The first of two names for one unit wins, as a scan in document order would find it.
        current.emplace(normalize(std::string_view(h.name.GetString(), h.name.GetStringLength())), &h.value);
      }
    }
    for (const auto& m : want_items->GetObject()) {
      std::string key(m.name.GetString(), m.name.GetStringLength());
      std::string unit = normalize(key);
      auto found = current.find(unit);
      const JsonValue* have = found == current.end() ? nullptr : found->second;
      // Observe-only items are the engine's business (it marks their actions); the one thing decided here is
      // that they alone never cause a shared daemon-reload, which would otherwise run (and be left over) on
      // every apply.
      bool observed = is_observe(desired_) || is_observe(m.value);
      (this->*fn)({kind, key}, unit, m.value, have, observed);
    }
  }

  static bool is_observe(const JsonValue& v) {
    return string_member(&v, "mode") == std::optional<std::string>("observe");
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
  bool write_file(const Item& item, const std::string& path, const std::string& change_path,
                  const std::optional<std::string>& have, const std::string& want, bool observed) {
    std::string want_text = normalize_content(want);
    if (have && normalize_content(*have) == want_text) return false;
    std::optional<std::string> before;
    if (have) before = json_quoted(*have);
    add(item, have ? Op::Update : Op::Create, kOrderWrite, "write " + path,
        {{change_path, before, json_quoted(want)}}, WriteFile{path, want_text});
    if (!observed) reload_ = true;
    return true;
  }

  // Drop-ins named by the document are made exactly so; others are left alone (merge).
  bool dropins(const Item& item, const std::string& unit, const JsonValue& want, const JsonValue* have,
               bool observed) {
    const JsonValue* wanted = member(want, "dropins");
    if (!wanted || !wanted->IsObject()) return false;
    const JsonValue* current = have ? member(*have, "dropins") : nullptr;
    bool changed = false;
    for (const auto& m : wanted->GetObject()) {
      if (!m.value.IsString()) continue;
      std::string name(m.name.GetString(), m.name.GetStringLength());
      std::string path = std::string(kUnitDir) + "/" + unit + ".d/" + name;
      changed |= write_file(item, path, "dropins/" + name, string_member(current, name),
                            std::string(m.value.GetString(), m.value.GetStringLength()), observed);
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
  static std::optional<bool> have_running(const JsonValue* have) {
    if (!have) return false;
    return bool_member(have, "running");
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
  void removal(const Item& item, const std::string& unit, const JsonValue* have,
               const std::string& have_state, const Change& disabling, bool enabled, bool observed) {
    std::optional<bool> is_running = have_running(have);
    if (is_running && *is_running)
      unit_op<Stop>(item, unit, kOrderStopRemoved, {{"running", "true", "false"}});
    if (enabled) unit_op<Disable>(item, unit, kOrderDisableRemoved, {disabling});
    std::string path = std::string(kUnitDir) + "/" + unit;
    const JsonValue* dropins = have ? member(*have, "dropins") : nullptr;
    bool has_dropins = dropins && dropins->IsObject() && dropins->MemberCount() > 0;
    add(item, Op::Delete, kOrderRemove, "remove " + path + (has_dropins ? " and " + path + ".d/" : ""),
        {{"state", json_quoted(have_state), json_quoted("absent")}}, RemoveFiles{unit, {path, path + ".d"}});
    if (!observed) reload_after_remove_ = true;
  }

  void service(const Item& item, const std::string& unit, const JsonValue& want, const JsonValue* have,
               bool observed) {
    bool changed = dropins(item, unit, want, have, observed);
    if (auto state = string_member(&want, "state")) {
      std::string have_state = string_member(have, "state").value_or("not-found");
      enablement(item, unit, *state, have_state, json_quoted(have_state));
    }
    bool masked = string_member(&want, "state") == std::optional<std::string>("masked");
    running(item, unit, bool_member(&want, "running"), have_running(have), changed,
            bool_member(&want, "restart_on_change").value_or(true) && !masked);
  }

  void timer(const Item& item, const std::string& unit, const JsonValue& want, const JsonValue* have,
             bool observed) {
    std::string want_state = string_member(&want, "state").value_or("enabled");
    std::string have_state = have ? string_member(have, "state").value_or("enabled") : "absent";
    bool exists = have_state != "absent";
    if (want_state == "absent") {
      if (exists) {
        removal(item, unit, have, have_state, {"state", json_quoted(have_state), json_quoted("disabled")},
                have_state == "enabled", observed);
      }
      return;
    }

    TimerSpec spec = canonical_timer(
        unit,
        {string_member(&want, "on_calendar").value_or(""), string_member(&want, "unit").value_or(""),
         string_member(&want, "description").value_or(""), bool_member(&want, "persistent").value_or(false)});
    std::optional<TimerSpec> current;
    if (exists && string_member(have, "on_calendar")) {
      current = canonical_timer(
          unit,
          {string_member(have, "on_calendar").value_or(""), string_member(have, "unit").value_or(""),
           string_member(have, "description").value_or(""), bool_member(have, "persistent").value_or(false)});
    }
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
    std::optional<bool> want_running = bool_member(&want, "running");
    if (!want_running) want_running = want_state == "enabled";
    running(item, unit, want_running, have_running(have), changed, true);
  }

  void custom_unit(const Item& item, const std::string& unit, const JsonValue& want, const JsonValue* have,
                   bool observed) {
    std::optional<std::string> content = string_member(have, "content");
    bool exists = content.has_value();
    bool enabled = bool_member(have, "enabled").value_or(false);
    if (string_member(&want, "state").value_or("present") == "absent") {
      if (exists) removal(item, unit, have, "present", {"enabled", "true", "false"}, enabled, observed);
      return;
    }
    bool changed = false;
    if (auto want_content = string_member(&want, "content")) {
      changed |=
          write_file(item, std::string(kUnitDir) + "/" + unit, "content", content, *want_content, observed);
    }
    changed |= dropins(item, unit, want, have, observed);
    if (auto want_enabled = bool_member(&want, "enabled")) {
      if (*want_enabled != enabled) {
        std::optional<std::string> before;
        if (exists) before = bool_text(enabled);
        std::vector<Change> change = {{"enabled", before, bool_text(*want_enabled)}};
        if (*want_enabled)
          unit_op<Enable>(item, unit, kOrderEnablement, std::move(change));
        else
          unit_op<Disable>(item, unit, kOrderEnablement, std::move(change));
      }
    }
    running(item, unit, bool_member(&want, "running"), have_running(have), changed,
            bool_member(&want, "restart_on_change").value_or(true));
  }

  const JsonValue& desired_;
  const JsonValue& current_;
  std::vector<Action> actions_;
  bool reload_ = false;
  bool reload_after_remove_ = false;
};

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current) {
  return Differ(desired, current).run();
}

}  // namespace opdbus::systemd
