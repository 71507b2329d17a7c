#include "systemd/check.h"

#include <map>
#include <vector>

#include "systemd/model.h"
#include "systemd/units.h"
#include "text.h"

namespace opdbus::systemd {
namespace {

// Semantic checks beyond the schema: names, duplicates under normalisation, combinations that cannot hold.
// The section is read once into the model (model.h); diagnostics point at the items as the document spells
// them.
class Checker {
 public:
  Checker(const JsonValue& section, const std::string& file, const std::string& pointer, Diagnostics& out)
      : section_(parse_section(section)), report_(file, pointer, out) {}

  void run() {
    auto services = valid("services", section_.services, "");  // any unit type: sockets, packaged timers
    auto timers = valid("timers", section_.timers, ".timer");
    auto customs = valid("custom_units", section_.custom_units, "");
    for (const auto& [unit, s] : services) service(*s);
    for (const auto& [unit, t] : timers) timer(*t);
    for (const auto& [unit, c] : customs) custom_unit(*c);
    for (const auto& [unit, c] : customs) {
      if (auto t = timers.find(unit); t != timers.end()) {
        report(tokens("custom_units", *c), "", "",
               "the timer " + t->second->key + " writes the same file; name it in one place");
      }
      if (auto s = services.find(unit); s != services.end()) {
        const Service& service = *s->second;
        bool present = c->state.value_or("present") == "present";
        if (present && service.state == std::optional<std::string>("masked")) {
          report(tokens("services", service), "", "",
                 "cannot mask a unit whose file op-dbus writes to /etc/systemd/system (custom_units/" +
                     c->key + "); masking replaces that file with a link to /dev/null");
        }
        if (service.state && c->enabled) {
          report(tokens("custom_units", *c), "", "",
                 "enablement is set here and in services/" + service.key + "; set it in one place");
        }
      }
    }
  }

 private:
  static std::vector<std::string> tokens(const char* kind, const ItemBase& it,
                                         std::vector<std::string> more = {}) {
    std::vector<std::string> out = {kind, it.key};
    for (auto& t : more) out.push_back(std::move(t));
    return out;
  }

  void report(const std::vector<std::string>& tokens, std::string expected, std::string found,
              std::string msg) {
    report_.expected(tokens, std::move(expected), std::move(found), std::move(msg));
  }

  // The items with a valid name, by normalised unit name; bad names and duplicates are reported here.
  template <typename T>
  std::map<std::string, const T*> valid(const char* kind, const Items<T>& items,
                                        std::string_view required_suffix) {
    std::map<std::string, const T*> out;
    for (const T& it : items.list()) {
      if (!valid_unit_name(it.unit)) {
        report(tokens(kind, it),
               "a unit name (systemd's rules): at most 255 bytes of letters, digits and \":_.-\\@\", not "
               "starting with '@', with one unit type suffix such as .service",
               json_quoted(it.key), "");
        continue;
      }
      if (!required_suffix.empty() && unit_suffix(it.unit) != required_suffix) {
        report(tokens(kind, it),
               std::string("a name ending in ") + std::string(required_suffix) + " (or no suffix)",
               json_quoted(it.key), "");
        continue;
      }
      auto [pos, inserted] = out.emplace(it.unit, &it);
      if (!inserted) {
        report(tokens(kind, it), "", "",
               "names the same unit as \"" + pos->second->key + "\" (" + it.unit + ")");
      }
    }
    return out;
  }

  void dropins(const char* kind, const ItemBase& it, const std::optional<Dropins>& dropins) {
    if (!dropins) return;
    for (const auto& [name, text] : dropins->files) {
      if (!valid_dropin_name(name)) {
        report(tokens(kind, it, {"dropins", name}),
               "a drop-in file name ending in .conf: at most 255 bytes, no '/', no control characters, "
               "not starting with '.'",
               json_quoted(name), "");
      }
    }
  }

  // Single-line values: they are written into unit files as "Key=value" and read back.
  void single_line(const Timer& it, const char* key, const std::optional<std::string>& value) {
    if (!value) return;
    std::string_view s = *value;
    bool bad = s.find_first_of("\n\r") != std::string_view::npos ||
               (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.back() == ' ' || s.back() == '\t' ||
                               s.back() == '\\'));
    if (bad) {
      report(tokens("timers", it, {key}),
             "a single line without surrounding whitespace or a trailing backslash", json_quoted(s), "");
    }
  }

  void service(const Service& it) {
    dropins("services", it, it.dropins);
    if (it.state == std::optional<std::string>("masked") && it.running.value_or(false)) {
      report(tokens("services", it), "", "",
             "a masked unit cannot be running: drop \"running\": true or the mask");
    }
  }

  void timer(const Timer& it) {
    if (it.state.value_or("enabled") == "absent") return;
    if (it.on_calendar.value_or("").empty()) {
      report(tokens("timers", it), "\"on_calendar\" (the timer's OnCalendar= expression)", "nothing", "");
    }
    single_line(it, "on_calendar", it.on_calendar);
    single_line(it, "unit", it.activates);
    single_line(it, "description", it.description);
    std::string unit = it.activates.value_or("");
    if (!unit.empty() && !valid_unit_name(normalize_service_name(unit))) {
      report(tokens("timers", it, {"unit"}), "a unit name such as backup.service", json_quoted(unit), "");
    }
  }

  void custom_unit(const CustomUnit& it) {
    dropins("custom_units", it, it.dropins);
    if (it.state.value_or("present") == "absent") return;
    if (!it.content || it.content->normal.empty()) {
      report(tokens("custom_units", it), "\"content\": the complete unit file", "nothing", "");
      return;
    }
    if (it.enabled.value_or(false) && !parse_install_section(it.content->raw).has_rules()) {
      report(
          tokens("custom_units", it, {"enabled"}), "", "",
          "the unit cannot be enabled: its content has no [Install] section with WantedBy=, RequiredBy= or "
          "Alias=");
    }
  }

  Section section_;
  SectionReport report_;
};

}  // namespace

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out) {
  Checker(section, file, section_pointer, out).run();
}

}  // namespace opdbus::systemd
