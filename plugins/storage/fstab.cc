#include "storage/fstab.h"

#include <cstdlib>

namespace opdbus::storage {
namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t nl = text.find('\n', i);
    if (nl == std::string_view::npos) {
      out.push_back(text.substr(i));
      break;
    }
    out.push_back(text.substr(i, nl - i));
    i = nl + 1;
  }
  return out;
}

std::vector<std::string> fields(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size() || line[i] == '#') break;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    out.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// The unescaped mount point of an entry line, or "" for comments, blank and malformed lines.
std::string line_target(std::string_view line) {
  auto f = fields(line);
  if (f.size() < 2) return "";
  return fstab_unescape(f[1]);
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

int to_int(const std::string& s) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  return end && *end == '\0' ? static_cast<int>(v) : 0;
}

}  // namespace

std::string fstab_unescape(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      std::string_view oct = field.substr(i + 1, 3);
      bool ok = true;
      int v = 0;
      for (char c : oct) {
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::string fstab_escape(std::string_view field) {
  std::string out;
  for (char c : field) {
    switch (c) {
      case ' ':
        out += "\\040";
        break;
      case '\t':
        out += "\\011";
        break;
      case '\n':
        out += "\\012";
        break;
      case '\\':
        out += "\\134";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<FstabEntry> parse_fstab(std::string_view text) {
  std::vector<FstabEntry> out;
  for (auto line : split_lines(text)) {
    auto f = fields(line);
    if (f.size() < 3) continue;
    FstabEntry e;
    e.spec = fstab_unescape(f[0]);
    e.target = fstab_unescape(f[1]);
    e.fstype = f[2];
    e.options = f.size() > 3 ? fstab_unescape(f[3]) : "defaults";
    e.freq = f.size() > 4 ? to_int(f[4]) : 0;
    e.passno = f.size() > 5 ? to_int(f[5]) : 0;
    out.push_back(std::move(e));
  }
  return out;
}

std::string format_fstab_line(const FstabEntry& e) {
  return fstab_escape(e.spec) + "\t" + fstab_escape(e.target) + "\t" + fstab_escape(e.fstype) + "\t" +
         fstab_escape(e.options.empty() ? "defaults" : e.options) + "\t" + std::to_string(e.freq) + "\t" +
         std::to_string(e.passno);
}

std::string fstab_set(std::string_view text, const std::string& target, const std::string& line) {
  std::vector<std::string> out;
  bool placed = false;
  for (auto l : split_lines(text)) {
    if (line_target(l) == target) {
      if (!placed) out.push_back(line);
      placed = true;
      continue;
    }
    out.emplace_back(l);
  }
  if (!placed) out.push_back(line);
  return join_lines(out);
}

std::string fstab_remove(std::string_view text, const std::string& target) {
  std::vector<std::string> out;
  for (auto l : split_lines(text)) {
    if (line_target(l) == target) continue;
    out.emplace_back(l);
  }
  return join_lines(out);
}

}  // namespace opdbus::storage
