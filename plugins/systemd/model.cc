#include "systemd/model.h"

namespace opdbus::systemd {
namespace {

bool is_observe(const JsonValue& obj) {
  return opt_string(obj, "mode") == std::optional<std::string>("observe");
}

std::optional<Dropins> opt_dropins(const JsonValue& obj) {
  const JsonValue* v = member(obj, "dropins");
  if (!v || !v->IsObject()) return std::nullopt;
  Dropins out;
  for (const auto& m : v->GetObject()) {
    if (!m.value.IsString()) continue;
    out.files.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                           Text(std::string(m.value.GetString(), m.value.GetStringLength())));
  }
  return out;
}

template <typename T>
void base(T& item, const std::string& key, std::string (*normalize)(std::string_view), const JsonValue& v) {
  item.key = key;
  item.unit = normalize(key);
  item.observe = is_observe(v);
}

Service parse_service(const std::string& key, const JsonValue& v) {
  Service s;
  base(s, key, normalize_service_name, v);
  s.state = opt_string(v, "state");
  s.running = opt_bool(v, "running");
  s.restart_on_change = opt_bool(v, "restart_on_change");
  s.dropins = opt_dropins(v);
  return s;
}

Timer parse_timer(const std::string& key, const JsonValue& v) {
  Timer t;
  base(t, key, normalize_timer_name, v);
  t.state = opt_string(v, "state");
  t.running = opt_bool(v, "running");
  t.on_calendar = opt_string(v, "on_calendar");
  t.activates = opt_string(v, "unit");
  t.description = opt_string(v, "description");
  t.persistent = opt_bool(v, "persistent");
  t.spec = canonical_timer(t.unit, {t.on_calendar.value_or(""), t.activates.value_or(""),
                                    t.description.value_or(""), t.persistent.value_or(false)});
  return t;
}

CustomUnit parse_custom_unit(const std::string& key, const JsonValue& v) {
  CustomUnit c;
  base(c, key, normalize_service_name, v);
  if (auto content = opt_string(v, "content")) c.content = Text(std::move(*content));
  c.state = opt_string(v, "state");
  c.enabled = opt_bool(v, "enabled");
  c.running = opt_bool(v, "running");
  c.restart_on_change = opt_bool(v, "restart_on_change");
  c.dropins = opt_dropins(v);
  return c;
}

template <typename T>
void parse_items(const JsonValue& section, const char* kind, T (*parse)(const std::string&, const JsonValue&),
                 Items<T>& out) {
  const JsonValue* obj = member(section, kind);
  if (!obj || !obj->IsObject()) return;
  for (const auto& m : obj->GetObject()) {
    out.add(parse(std::string(m.name.GetString(), m.name.GetStringLength()), m.value));
  }
}

}  // namespace

Section parse_section(const JsonValue& section) {
  Section s;
  s.observe = is_observe(section);
  parse_items(section, "services", parse_service, s.services);
  parse_items(section, "timers", parse_timer, s.timers);
  parse_items(section, "custom_units", parse_custom_unit, s.custom_units);
  return s;
}

}  // namespace opdbus::systemd
