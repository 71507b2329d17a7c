#include "systemd/units.h"

#include <algorithm>
#include <array>

#include "text.h"

namespace opdbus::systemd {
namespace {

constexpr std::array<std::string_view, 11> kSuffixes = {".service", ".socket", ".target",    ".timer",
                                                        ".path",    ".mount",  ".automount", ".swap",
                                                        ".slice",   ".scope",  ".device"};

// Splits a unit file into logical lines: comments dropped, "\" continuations joined (systemd joins them with
// a space), surrounding whitespace trimmed.
std::vector<std::string> logical_lines(std::string_view text) {
  std::vector<std::string> out;
  std::string pending;
  bool continuing = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line = trim(text.substr(pos, nl - pos));
    std::string_view raw = line;
    pos = nl + 1;
    if (!continuing && (raw.empty() || raw[0] == '#' || raw[0] == ';')) continue;
    if (continuing && (!raw.empty() && (raw[0] == '#' || raw[0] == ';'))) continue;
    bool cont = !raw.empty() && raw.back() == '\\';
    if (cont) raw.remove_suffix(1);
    if (continuing) pending += ' ';
    pending += raw;
    continuing = cont;
    if (!continuing) {
      out.push_back(std::move(pending));
      pending.clear();
    }
    if (nl == text.size()) break;
  }
  if (continuing && !pending.empty()) out.push_back(std::move(pending));
  return out;
}

// systemd's word splitting for list settings: whitespace separates, double or single quotes group.
std::vector<std::string> split_words(std::string_view value) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char c : value) {
    if (quote) {
      if (c == quote)
        quote = 0;
      else
        cur += c;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(std::move(cur));
  return out;
}

void assign_list(std::vector<std::string>& list, std::string_view value) {
  if (trim(value).empty()) {
    list.clear();  // "WantedBy=" resets, as in systemd
    return;
  }
  for (auto& w : split_words(value)) list.push_back(std::move(w));
}

std::string_view stem(std::string_view name) {
  std::string_view suffix = unit_suffix(name);
  return name.substr(0, name.size() - suffix.size());
}

}  // namespace

std::string_view unit_suffix(std::string_view name) {
  for (auto s : kSuffixes) {
    if (name.size() > s.size() && name.substr(name.size() - s.size()) == s) return s;
  }
  return {};
}

bool has_unit_suffix(std::string_view name) {
  return !unit_suffix(name).empty();
}

std::string normalize_unit_name(std::string_view name, std::string_view default_suffix) {
  if (has_unit_suffix(name)) return std::string(name);
  return std::string(name) + std::string(default_suffix);
}

// systemd's unit_name_is_valid(): shorter than UNIT_NAME_MAX (256), a known type after the last '.', only
// VALID_CHARS_WITH_AT before it, not starting with '@'; a plain name, a template ("foo@.service") or an
// instance ("foo@bar.service").
bool valid_unit_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  std::string_view type = name.substr(dot);
  if (std::find(kSuffixes.begin(), kSuffixes.end(), type) == kSuffixes.end()) return false;
  std::string_view prefix = name.substr(0, dot);
  if (prefix.front() == '@') return false;
  for (char c : prefix) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
              c == '_' || c == '.' || c == '-' || c == '\\' || c == '@';
    if (!ok) return false;
  }
  return true;
}

bool valid_dropin_name(std::string_view name) {
  if (name.size() <= 5 || name.size() > 255 || !ends_with(name, ".conf") || name.front() == '.') return false;
  for (unsigned char c : name) {
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool is_template(std::string_view name) {
  std::string_view prefix = stem(name);
  return !prefix.empty() && prefix.back() == '@';
}

bool is_instance(std::string_view name) {
  std::string_view prefix = stem(name);
  size_t at = prefix.find('@');
  return at != std::string_view::npos && at + 1 < prefix.size();
}

std::string template_of(std::string_view name) {
  if (!is_instance(name)) return {};
  std::string_view prefix = stem(name);
  return std::string(prefix.substr(0, prefix.find('@') + 1)) + std::string(unit_suffix(name));
}

std::string with_instance(std::string_view template_name, std::string_view instance) {
  std::string_view prefix = stem(template_name);
  return std::string(prefix) + std::string(instance) + std::string(unit_suffix(template_name));
}

std::string normalize_content(std::string_view text) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (text.empty()) return {};
  return std::string(text) + "\n";
}

InstallInfo parse_install_section(std::string_view unit_file) {
  InstallInfo info;
  bool in_install = false;
  for (const auto& line : logical_lines(unit_file)) {
    if (line.front() == '[') {
      in_install = line == "[Install]";
      continue;
    }
    if (!in_install) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(std::string_view(line).substr(0, eq));
    std::string value = trim(std::string_view(line).substr(eq + 1));
    if (key == "WantedBy")
      assign_list(info.wanted_by, value);
    else if (key == "RequiredBy")
      assign_list(info.required_by, value);
    else if (key == "Alias")
      assign_list(info.alias, value);
    else if (key == "Also")
      assign_list(info.also, value);
    else if (key == "DefaultInstance")
      info.default_instance = std::string(value);
  }
  return info;
}

std::optional<std::string> expand_specifiers(std::string_view text, std::string_view unit_name) {
  std::string_view prefix = stem(unit_name);
  std::string_view instance;
  size_t at = prefix.find('@');
  if (at != std::string_view::npos) {
    instance = prefix.substr(at + 1);
    prefix = prefix.substr(0, at);
  }
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;
    char spec = text[++i];
    switch (spec) {
      case '%':
        out += '%';
        break;
      case 'n':
        out += unit_name;
        break;
      case 'N':
        out += stem(unit_name);
        break;
      case 'p':
        out += prefix;
        break;
      case 'i':
        out += instance;
        break;
      case 'j': {
        size_t dash = prefix.rfind('-');
        out += dash == std::string_view::npos ? prefix : prefix.substr(dash + 1);
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return out;
}

const std::string_view kManagedHeader = "# Managed by op-dbus: changes made here are overwritten.";

TimerSpec canonical_timer(std::string_view timer_name, TimerSpec spec) {
  if (!spec.unit.empty()) {
    spec.unit = normalize_service_name(spec.unit);
    if (spec.unit == std::string(stem(timer_name)) + ".service") spec.unit.clear();
  }
  return spec;
}

std::string render_timer(std::string_view timer_name, const TimerSpec& raw) {
  TimerSpec spec = canonical_timer(timer_name, raw);
  std::string out(kManagedHeader);
  out += "\n";
  if (!spec.description.empty()) out += "[Unit]\nDescription=" + spec.description + "\n\n";
  out += "[Timer]\nOnCalendar=" + spec.on_calendar + "\n";
  if (!spec.unit.empty()) out += "Unit=" + spec.unit + "\n";
  if (spec.persistent) out += "Persistent=true\n";
  out += "\n[Install]\nWantedBy=timers.target\n";
  return out;
}

std::optional<TimerSpec> parse_managed_timer(std::string_view timer_name, std::string_view text) {
  if (text.substr(0, kManagedHeader.size()) != kManagedHeader) return std::nullopt;
  TimerSpec spec;
  std::string section;
  for (const auto& line : logical_lines(text)) {
    if (line.front() == '[') {
      section = line;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) return std::nullopt;
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (section == "[Unit]" && key == "Description")
      spec.description = value;
    else if (section == "[Timer]" && key == "OnCalendar")
      spec.on_calendar = value;
    else if (section == "[Timer]" && key == "Unit")
      spec.unit = value;
    else if (section == "[Timer]" && key == "Persistent")
      spec.persistent = value == "true";
  }
  // Anything render_timer would not have produced means the file is no longer ours as written.
  if (render_timer(timer_name, spec) != text) return std::nullopt;
  return spec;
}

}  // namespace opdbus::systemd
