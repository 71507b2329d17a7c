#include "systemd/query.h"

#include <map>
#include <optional>
#include <set>
#include <unordered_set>

#include "systemd/model.h"
#include "systemd/units.h"

namespace opdbus::systemd {
namespace {

class Reader {
 public:
  explicit Reader(Backend& backend) : b_(backend), out_(rapidjson::kObjectType) {}

  // Three passes so the backend is asked in bulk: the files the items name, then one unit-file-state call
  // for every unit that needs one, then (live) one active-state call for the units whose `running` matters.
  JsonDoc named(const Section& desired) {
    std::vector<Named> items;
    for (const auto& s : desired.services.list())
      items.push_back({"services", s.unit, service_needs_running(s), {}});
    // Timers run by default when enabled; custom units may need a restart or a stop before removal.
    for (const auto& t : desired.timers.list()) items.push_back({"timers", t.unit, true, {}});
    for (const auto& c : desired.custom_units.list()) items.push_back({"custom_units", c.unit, true, {}});

    std::vector<std::string> need_state, need_running;
    for (auto& it : items) {
      if (it.kind != std::string_view("services"))
        it.file = b_.read_file(std::string(kUnitDir) + "/" + it.unit);
      if (it.kind == std::string_view("services") || it.file) need_state.push_back(it.unit);
      if (it.needs_running) need_running.push_back(it.unit);
    }
    states_ = b_.unit_file_states(need_state);
    if (b_.sees_runtime() && !need_running.empty()) {
      active_ = b_.active_of(need_running);
      asked_running_.insert(need_running.begin(), need_running.end());
    }
    for (const auto& it : items) {
      if (it.kind == std::string_view("services"))
        put("services", it.unit, service(it.unit, states_.at(it.unit)));
      else if (it.kind == std::string_view("timers"))
        put("timers", it.unit, timer(it.unit, it.file));
      else
        put("custom_units", it.unit, custom_unit(it.unit, it.file));
    }
    return std::move(out_);
  }

  JsonDoc all() {
    if (b_.sees_runtime()) {
      active_ = b_.active_units();  // one ListUnits call instead of one LoadUnit per unit
      all_running_ = true;
    }
    std::set<std::string> in_config_dir;
    for (const auto& e : b_.list_dir(std::string(kUnitDir))) {
      if (e.kind != FileKind::File || !valid_unit_name(e.name)) continue;
      in_config_dir.insert(e.name);
      auto text = b_.read_file(std::string(kUnitDir) + "/" + e.name);
      if (!text) continue;
      std::string state = b_.unit_file_state(e.name);
      if (unit_suffix(e.name) == ".timer" && (state == "enabled" || state == "disabled")) {
        if (auto spec = parse_managed_timer(e.name, *text)) {
          put("timers", e.name, timer_fields(e.name, *spec, state));
          continue;
        }
      }
      put("custom_units", e.name, custom_unit_fields(e.name, *text, state));
    }
    for (const auto& f : b_.list_unit_files(".service")) {
      if (is_template(f.name) || in_config_dir.count(f.name)) continue;
      if (f.state != "enabled" && f.state != "disabled" && f.state != "masked") continue;
      put("services", f.name, service(f.name, f.state));
    }
    return std::move(out_);
  }

 private:
  struct Named {
    const char* kind;  // "services", "timers", "custom_units"
    std::string unit;
    bool needs_running;               // the diff can use its active state
    std::optional<std::string> file;  // the unit file op-dbus writes (timers, custom units)
  };

  // Whether the diff can use a service's active state: it says `running`, or it can restart the unit after
  // changing its drop-ins.
  static bool service_needs_running(const Service& s) {
    if (s.running) return true;
    bool writes = s.dropins && !s.dropins->empty();
    return writes && s.restart_on_change.value_or(true);
  }

  JsonAlloc& alloc() { return out_.GetAllocator(); }

  void put(const char* kind, const std::string& name, JsonValue value) {
    JsonValue* section = nullptr;
    auto it = out_.FindMember(kind);
    if (it == out_.MemberEnd()) {
      out_.AddMember(rapidjson::StringRef(kind), JsonValue(rapidjson::kObjectType), alloc());
      section = &out_[kind];
    } else {
      section = &it->value;
    }
    // "ssh" and "ssh.service" both asked for: one answer. A set, not HasMember: that scans the members.
    if (!put_names_[kind].insert(name).second) return;
    section->AddMember(str_value(name, alloc()), value, alloc());
  }

  void set(JsonValue& obj, const char* key, std::string_view value) {
    obj.AddMember(rapidjson::StringRef(key), str_value(value, alloc()), alloc());
  }

  // `running` is reported only where it was read: for `show`, every unit (one ListUnits); for a plan, the
  // units whose active state the diff can use (one batched read). Elsewhere it is left out, which the diff
  // reads as "not known" and leaves alone.
  void add_running(JsonValue& obj, const std::string& unit) {
    if (!b_.sees_runtime() || !(all_running_ || asked_running_.count(unit))) return;
    obj.AddMember("running", active_.count(unit) > 0, alloc());
  }

  void add_dropins(JsonValue& obj, const std::string& unit) {
    std::string dir = std::string(kUnitDir) + "/" + unit + ".d";
    JsonValue dropins(rapidjson::kObjectType);
    for (const auto& e : b_.list_dir(dir)) {
      if (e.kind != FileKind::File || e.name.size() <= 5 || e.name.substr(e.name.size() - 5) != ".conf") {
        continue;
      }
      if (auto text = b_.read_file(dir + "/" + e.name)) {
        dropins.AddMember(str_value(e.name, alloc()), str_value(*text, alloc()), alloc());
      }
    }
    if (dropins.MemberCount() > 0) obj.AddMember("dropins", dropins, alloc());
  }

  JsonValue service(const std::string& unit, const std::string& state) {
    JsonValue obj(rapidjson::kObjectType);
    set(obj, "state", state);
    add_running(obj, unit);
    add_dropins(obj, unit);
    return obj;
  }

  JsonValue timer_fields(const std::string& unit, const TimerSpec& spec, const std::string& state) {
    JsonValue obj(rapidjson::kObjectType);
    set(obj, "on_calendar", spec.on_calendar);
    if (!spec.unit.empty()) set(obj, "unit", spec.unit);
    if (!spec.description.empty()) set(obj, "description", spec.description);
    if (spec.persistent) obj.AddMember("persistent", true, alloc());
    set(obj, "state", state);
    add_running(obj, unit);
    return obj;
  }

  JsonValue timer(const std::string& unit, const std::optional<std::string>& text) {
    if (!text) {
      JsonValue obj(rapidjson::kObjectType);
      set(obj, "state", "absent");
      add_running(obj, unit);
      return obj;
    }
    std::string state = states_.at(unit);
    if (auto spec = parse_managed_timer(unit, *text)) return timer_fields(unit, *spec, state);
    // A file op-dbus did not write (or that was edited): reported without a spec, so the diff rewrites it.
    JsonValue obj(rapidjson::kObjectType);
    set(obj, "state", state);
    add_running(obj, unit);
    return obj;
  }

  JsonValue custom_unit_fields(const std::string& unit, const std::string& content,
                               const std::string& state) {
    JsonValue obj(rapidjson::kObjectType);
    set(obj, "content", content);
    obj.AddMember("enabled", state == "enabled", alloc());
    add_running(obj, unit);
    add_dropins(obj, unit);
    return obj;
  }

  JsonValue custom_unit(const std::string& unit, const std::optional<std::string>& text) {
    if (text) return custom_unit_fields(unit, *text, states_.at(unit));
    JsonValue obj(rapidjson::kObjectType);
    set(obj, "state", "absent");
    add_running(obj, unit);
    return obj;
  }

  Backend& b_;
  JsonDoc out_;
  std::map<std::string, std::string> states_;
  std::map<std::string, std::unordered_set<std::string>> put_names_;
  std::set<std::string> active_;
  std::set<std::string> asked_running_;
  bool all_running_ = false;  // active_ was read for every unit (show)
};

}  // namespace

JsonDoc query_named(Backend& backend, const JsonValue& desired) {
  return Reader(backend).named(parse_section(desired));
}

JsonDoc query_all(Backend& backend) {
  return Reader(backend).all();
}

}  // namespace opdbus::systemd
