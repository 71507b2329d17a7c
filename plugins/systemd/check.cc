#include "systemd/check.h"

#include <map>
#include <vector>

#include "systemd/units.h"
#include "text.h"

namespace opdbus::systemd {
namespace {

// Semantic checks beyond the schema: names, duplicates under normalisation, combinations that cannot hold.
class Checker {
 public:
  Checker(const JsonValue& section, const std::string& file, const std::string& pointer, Diagnostics& out)
      : section_(section), report_(file, pointer, out) {}

  void run() {
    auto services = items("services", normalize_service_name, "");  // any unit type: sockets, packaged timers
    auto timers = items("timers", normalize_timer_name, ".timer");
    auto customs = items("custom_units", normalize_service_name, "");
    for (const auto& [unit, it] : services) service(it);
    for (const auto& [unit, it] : timers) timer(it);
    for (const auto& [unit, it] : customs) custom_unit(it);
    for (const auto& [unit, it] : customs) {
      if (auto t = timers.find(unit); t != timers.end()) {
        report(it.tokens, "", "",
               "the timer " + t->second.key + " writes the same file; name it in one place");
      }
      if (auto s = services.find(unit); s != services.end()) {
        bool present = get_string(*it.value, "state", "present") == "present";
        if (present && get_string(*s->second.value, "state") == "masked") {
          report(s->second.tokens, "", "",
                 "cannot mask a unit whose file op-dbus writes to /etc/systemd/system (custom_units/" +
                     it.key + "); masking replaces that file with a link to /dev/null");
        }
        if (member(*s->second.value, "state") && member(*it.value, "enabled")) {
          report(it.tokens, "", "",
                 "enablement is set here and in services/" + s->second.key + "; set it in one place");
        }
      }
    }
  }

 private:
  struct Item {
    std::string key;
    std::vector<std::string> tokens;
    const JsonValue* value;
  };

  void report(const std::vector<std::string>& tokens, std::string expected, std::string found,
              std::string msg) {
    report_.expected(tokens, std::move(expected), std::move(found), std::move(msg));
  }

  // The section's items by normalised unit name; bad names and duplicates are reported here.
  std::map<std::string, Item> items(const char* kind, std::string (*normalize)(std::string_view),
                                    std::string_view required_suffix) {
    std::map<std::string, Item> out;
    const JsonValue* obj = member(section_, kind);
    if (!obj || !obj->IsObject()) return out;
    for (const auto& m : obj->GetObject()) {
      std::string key(m.name.GetString(), m.name.GetStringLength());
      std::string unit = normalize(key);
      Item it{key, {kind, key}, &m.value};
      if (!valid_unit_name(unit)) {
        report(it.tokens,
               "a unit name (systemd's rules): at most 255 bytes of letters, digits and \":_.-\\@\", not "
               "starting with '@', with one unit type suffix such as .service",
               json_quoted(key), "");
        continue;
      }
      if (!required_suffix.empty() && unit_suffix(unit) != required_suffix) {
        report(it.tokens, std::string("a name ending in ") + std::string(required_suffix) + " (or no suffix)",
               json_quoted(key), "");
        continue;
      }
      auto [pos, inserted] = out.emplace(unit, it);
      if (!inserted)
        report(it.tokens, "", "", "names the same unit as \"" + pos->second.key + "\" (" + unit + ")");
    }
    return out;
  }

  void dropins(const Item& it) {
    const JsonValue* d = member(*it.value, "dropins");
    if (!d || !d->IsObject()) return;
    for (const auto& m : d->GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      if (!valid_dropin_name(name)) {
        auto tokens = it.tokens;
        tokens.push_back("dropins");
        tokens.push_back(name);
        report(tokens,
               "a drop-in file name ending in .conf: at most 255 bytes, no '/', no control characters, "
               "not starting with '.'",
               json_quoted(name), "");
      }
    }
  }

  // Single-line values: they are written into unit files as "Key=value" and read back.
  void single_line(const Item& it, const char* key) {
    const JsonValue* v = member(*it.value, key);
    if (!v || !v->IsString()) return;
    std::string_view s(v->GetString(), v->GetStringLength());
    bool bad = s.find_first_of("\n\r") != std::string_view::npos ||
               (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.back() == ' ' || s.back() == '\t' ||
                               s.back() == '\\'));
    if (bad) {
      auto tokens = it.tokens;
      tokens.push_back(key);
      report(tokens, "a single line without surrounding whitespace or a trailing backslash", json_quoted(s),
             "");
    }
  }

  void service(const Item& it) {
    dropins(it);
    if (get_string(*it.value, "state") == "masked" && get_bool(*it.value, "running", false)) {
      report(it.tokens, "", "", "a masked unit cannot be running: drop \"running\": true or the mask");
    }
  }

  void timer(const Item& it) {
    if (get_string(*it.value, "state", "enabled") == "absent") return;
    if (get_string(*it.value, "on_calendar").empty()) {
      report(it.tokens, "\"on_calendar\" (the timer's OnCalendar= expression)", "nothing", "");
    }
    for (const char* key : {"on_calendar", "unit", "description"}) single_line(it, key);
    std::string unit = get_string(*it.value, "unit");
    if (!unit.empty() && !valid_unit_name(normalize_service_name(unit))) {
      auto tokens = it.tokens;
      tokens.push_back("unit");
      report(tokens, "a unit name such as backup.service", json_quoted(unit), "");
    }
  }

  void custom_unit(const Item& it) {
    dropins(it);
    if (get_string(*it.value, "state", "present") == "absent") return;
    std::string content = get_string(*it.value, "content");
    if (normalize_content(content).empty()) {
      report(it.tokens, "\"content\": the complete unit file", "nothing", "");
      return;
    }
    if (get_bool(*it.value, "enabled", false) && !parse_install_section(content).has_rules()) {
      auto tokens = it.tokens;
      tokens.push_back("enabled");
      report(
          tokens, "", "",
          "the unit cannot be enabled: its content has no [Install] section with WantedBy=, RequiredBy= or "
          "Alias=");
    }
  }

  const JsonValue& section_;
  SectionReport report_;
};

}  // namespace

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out) {
  Checker(section, file, section_pointer, out).run();
}

}  // namespace opdbus::systemd
