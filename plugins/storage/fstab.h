// /etc/fstab as text: parsed for reading, edited line by line so that every line op-dbus does not own (other
// mounts, comments, blank lines, their spacing) stays byte for byte as it was. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace opdbus::storage {

struct FstabEntry {
  std::string spec;    // "UUID=...", "/dev/vda1", "LABEL=x", "proc"
  std::string target;  // unescaped ("\040" is a space)
  std::string fstype;
  std::string options;  // "defaults" when the field is missing
  int freq = 0;
  int passno = 0;
};

// The entries, in file order; comments, blank and malformed lines are skipped.
std::vector<FstabEntry> parse_fstab(std::string_view text);

// One line (without '\n'), fields separated by a tab, special characters escaped as fstab(5) wants.
std::string format_fstab_line(const FstabEntry& e);

// `text` with the first entry for `target` replaced by `line` and any further entries for it removed, or with
// `line` appended when there is none. Adds a final newline where the text lacked one.
std::string fstab_set(std::string_view text, const std::string& target, const std::string& line);

// `text` without the entries for `target`.
std::string fstab_remove(std::string_view text, const std::string& target);

std::string fstab_unescape(std::string_view field);
std::string fstab_escape(std::string_view field);

}  // namespace opdbus::storage
