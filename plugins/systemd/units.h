// Pure knowledge about unit names and unit files: name normalisation, the [Install] section that enabling
// acts on, and the timer units op-dbus writes. No I/O; everything here is unit-tested directly.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opdbus::systemd {

// Where op-dbus writes unit files and drop-ins (in-system paths).
inline constexpr std::string_view kUnitDir = "/etc/systemd/system";

// True when `name` ends in one of systemd's unit type suffixes (".service", ".timer", ...).
bool has_unit_suffix(std::string_view name);
// The suffix including the dot (".service"), or "" when there is none.
std::string_view unit_suffix(std::string_view name);
// "ssh" -> "ssh.service"; names that already carry a unit suffix are returned unchanged.
std::string normalize_unit_name(std::string_view name, std::string_view default_suffix);
inline std::string normalize_service_name(std::string_view name) {
  return normalize_unit_name(name, ".service");
}
inline std::string normalize_timer_name(std::string_view name) {
  return normalize_unit_name(name, ".timer");
}

// systemd's own rules (unit_name_is_valid): at most 255 bytes; only [A-Za-z0-9:_.\-@] before the suffix; the
// part after the last '.' a known unit type; not starting with '@'. Plain names, templates ("foo@.service")
// and instances ("foo@bar.service") are valid.
bool valid_unit_name(std::string_view name);
// A drop-in file name systemd reads: ends in ".conf" (with something before it), at most 255 bytes, no '/',
// no control characters (so no newline), not hidden (systemd skips names starting with '.').
bool valid_dropin_name(std::string_view name);
bool is_template(std::string_view name);  // "foo@.service"
bool is_instance(std::string_view name);  // "foo@bar.service"
// "foo@bar.service" -> "foo@.service"; "" for names that are not instances.
std::string template_of(std::string_view name);
// "foo@.service" + "bar" -> "foo@bar.service".
std::string with_instance(std::string_view template_name, std::string_view instance);

// Text as op-dbus writes it: exactly one trailing newline (none for empty text). Used on both sides of every
// content comparison, so "a" and "a\n" compare equal.
std::string normalize_content(std::string_view text);

// The [Install] section, as `systemctl enable` reads it.
struct InstallInfo {
  std::vector<std::string> wanted_by;
  std::vector<std::string> required_by;
  std::vector<std::string> alias;
  std::vector<std::string> also;
  std::string default_instance;

  // Something that enabling creates a symlink for.
  bool has_rules() const { return !wanted_by.empty() || !required_by.empty() || !alias.empty(); }
};

// Reads the [Install] section of a unit file: comments, continuation lines, space-separated lists, and an
// empty assignment ("WantedBy=") resetting a list are handled as systemd does.
InstallInfo parse_install_section(std::string_view unit_file);

// Expands the specifiers allowed in [Install] (%n %N %p %i %j %%) for `unit_name`. Returns nullopt for a
// specifier op-dbus does not know, so callers can refuse rather than guess.
std::optional<std::string> expand_specifiers(std::string_view text, std::string_view unit_name);

// A timer op-dbus writes.
struct TimerSpec {
  std::string on_calendar;
  std::string unit;  // empty: the timer's own name with ".service" (systemd's default)
  std::string description;
  bool persistent = false;
};

// The first line of every timer file op-dbus writes.
extern const std::string_view kManagedHeader;

// Drops `unit` when it names the timer's default unit, so equivalent specs render identically.
TimerSpec canonical_timer(std::string_view timer_name, TimerSpec spec);
// The complete .timer file for `timer_name` ("backup.timer").
std::string render_timer(std::string_view timer_name, const TimerSpec& spec);
// The spec back from a file op-dbus wrote; nullopt if the file is not exactly what render_timer produces
// (no header, edited by hand, ...).
std::optional<TimerSpec> parse_managed_timer(std::string_view timer_name, std::string_view text);

}  // namespace opdbus::systemd
