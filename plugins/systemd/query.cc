#include "systemd/query.h"

#include <set>

#include "systemd/units.h"

namespace opdbus::systemd {
namespace {

class Reader {
 public:
  explicit Reader(SystemdBackend& backend) : b_(backend), out_(rapidjson::kObjectType) {}

  JsonDoc named(const JsonValue& desired) {
    if (const JsonValue* items = member(desired, "services"); items && items->IsObject()) {
      for (const auto& m : items->GetObject()) {
        std::string unit = normalize_service_name(name_of(m));
        put("services", unit, service(unit, b_.unit_file_state(unit)));
      }
    }
    if (const JsonValue* items = member(desired, "timers"); items && items->IsObject()) {
      for (const auto& m : items->GetObject()) {
        std::string unit = normalize_timer_name(name_of(m));
        put("timers", unit, timer(unit));
      }
    }
    if (const JsonValue* items = member(desired, "custom_units"); items && items->IsObject()) {
      for (const auto& m : items->GetObject()) {
        std::string unit = normalize_service_name(name_of(m));
        put("custom_units", unit, custom_unit(unit));
      }
    }
    return std::move(out_);
  }

  JsonDoc all() {
    if (b_.sees_runtime()) {
      active_ = b_.active_units();  // one ListUnits call instead of one LoadUnit per unit
      cached_all_ = true;
    }
    std::set<std::string> in_config_dir;
    for (const auto& e : b_.list_dir(std::string(kUnitDir))) {
      if (e.kind != DirEntry::Kind::File || !valid_unit_name(e.name)) continue;
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
  static std::string name_of(const JsonValue::Member& m) {
    return {m.name.GetString(), m.name.GetStringLength()};
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
    if (section->HasMember(name.c_str())) return;  // "ssh" and "ssh.service" both asked for: one answer
    section->AddMember(str_value(name, alloc()), value, alloc());
  }

  void set(JsonValue& obj, const char* key, std::string_view value) {
    obj.AddMember(rapidjson::StringRef(key), str_value(value, alloc()), alloc());
  }

  bool running(const std::string& unit) {
    if (cached_all_) return active_.count(unit) > 0;
    return b_.is_active(unit);
  }

  void add_running(JsonValue& obj, const std::string& unit) {
    if (b_.sees_runtime()) obj.AddMember("running", running(unit), alloc());
  }

  void add_dropins(JsonValue& obj, const std::string& unit) {
    std::string dir = std::string(kUnitDir) + "/" + unit + ".d";
    JsonValue dropins(rapidjson::kObjectType);
    for (const auto& e : b_.list_dir(dir)) {
      if (e.kind != DirEntry::Kind::File || e.name.size() <= 5 ||
          e.name.substr(e.name.size() - 5) != ".conf") {
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

  JsonValue timer(const std::string& unit) {
    auto text = b_.read_file(std::string(kUnitDir) + "/" + unit);
    if (!text) {
      JsonValue obj(rapidjson::kObjectType);
      set(obj, "state", "absent");
      add_running(obj, unit);
      return obj;
    }
    std::string state = b_.unit_file_state(unit);
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

  JsonValue custom_unit(const std::string& unit) {
    auto text = b_.read_file(std::string(kUnitDir) + "/" + unit);
    if (text) return custom_unit_fields(unit, *text, b_.unit_file_state(unit));
    JsonValue obj(rapidjson::kObjectType);
    set(obj, "state", "absent");
    add_running(obj, unit);
    return obj;
  }

  SystemdBackend& b_;
  JsonDoc out_;
  std::set<std::string> active_;
  bool cached_all_ = false;
};

}  // namespace

JsonDoc query_named(SystemdBackend& backend, const JsonValue& desired) {
  return Reader(backend).named(desired);
}

JsonDoc query_all(SystemdBackend& backend) {
  return Reader(backend).all();
}

}  // namespace opdbus::systemd
