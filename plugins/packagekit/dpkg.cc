#include "packagekit/dpkg.h"

#include <algorithm>

#include "text.h"

namespace opdbus::packagekit {
namespace {

// deb822 stanzas: field name (lower case) -> value of the first line.
template <typename Fn>
void for_each_stanza(std::string_view text, Fn&& fn) {
  std::map<std::string, std::string> fields;
  auto flush = [&] {
    if (!fields.empty()) fn(fields);
    fields.clear();
  };
  for (const auto& line : split(text, '\n')) {
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') continue;  // continuation
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    fields[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  flush();
}

}  // namespace

std::map<std::string, std::string> parse_dpkg_status(std::string_view text) {
  std::map<std::string, std::string> out;
  for_each_stanza(text, [&](const std::map<std::string, std::string>& f) {
    auto p = f.find("package"), s = f.find("status"), v = f.find("version");
    if (p == f.end() || s == f.end() || v == f.end()) return;
    if (!ends_with(s->second, " installed")) return;
    out.emplace(p->second, v->second);
  });
  return out;
}

std::vector<DpkgPackage> parse_dpkg_installed(std::string_view text) {
  std::vector<DpkgPackage> out;
  for_each_stanza(text, [&](const std::map<std::string, std::string>& f) {
    auto p = f.find("package"), s = f.find("status"), v = f.find("version"), a = f.find("architecture");
    if (p == f.end() || s == f.end() || v == f.end()) return;
    if (!ends_with(s->second, " installed")) return;
    out.push_back({p->second, a == f.end() ? std::string() : a->second, v->second});
  });
  return out;
}

DpkgAnswers answer_from_dpkg(const std::map<std::string, PackageSpec>& wanted,
                             const std::vector<DpkgPackage>& installed) {
  DpkgAnswers out;
  for (const auto& [name, spec] : wanted) {
    const auto colon = name.find(':');
    const std::string base = name.substr(0, colon);
    std::optional<std::string> arch;
    if (colon != std::string::npos) arch = name.substr(colon + 1);
    std::vector<std::string> versions;
    for (const auto& p : installed) {
      if (p.name != base) continue;
      if (arch && p.arch != *arch && p.arch != "all") continue;
      if (std::find(versions.begin(), versions.end(), p.version) == versions.end())
        versions.push_back(p.version);
    }
    if (versions.size() > 1 && spec.state != Want::Absent) {
      out.to_resolve.push_back(name);  // which one counts is the package manager's to say
      continue;
    }
    std::optional<std::string> have;
    if (!versions.empty()) have = versions.front();
    switch (spec.state) {
      case Want::Absent:
        out.settled[name] = have;
        break;
      case Want::Latest:
        out.to_resolve.push_back(name);
        break;
      case Want::Present:
        if (have && (!spec.version || *spec.version == *have)) {
          out.settled[name] = have;
        } else {
          out.to_resolve.push_back(name);
        }
        break;
    }
  }
  return out;
}

std::set<std::string> parse_auto_installed(std::string_view text) {
  std::set<std::string> out;
  for_each_stanza(text, [&](const std::map<std::string, std::string>& f) {
    auto p = f.find("package"), a = f.find("auto-installed");
    if (p != f.end() && a != f.end() && a->second == "1") out.insert(p->second);
  });
  return out;
}

std::map<std::string, Resolved> parse_apt_cache_policy(std::string_view text) {
  std::map<std::string, Resolved> out;
  Resolved* cur = nullptr;
  std::string candidate;
  auto finish = [&] {
    if (!cur) return;
    auto& v = cur->available;
    if (!candidate.empty()) {
      v.erase(std::remove(v.begin(), v.end(), candidate), v.end());
      v.insert(v.begin(), candidate);
    }
    if (v.empty() && cur->installed) v.push_back(*cur->installed);
    candidate.clear();
  };
  for (const auto& line : split(text, '\n')) {
    if (line.empty()) continue;
    if (line[0] != ' ') {
      finish();
      cur = nullptr;
      if (line.back() == ':') cur = &out[line.substr(0, line.size() - 1)];
      continue;
    }
    if (!cur) continue;
    std::string t = trim(line);
    if (starts_with(t, "Installed:")) {
      std::string v = trim(t.substr(10));
      if (v != "(none)") cur->installed = v;
    } else if (starts_with(t, "Candidate:")) {
      std::string v = trim(t.substr(10));
      if (v != "(none)") candidate = v;
    } else if (starts_with(line, "     ") && !starts_with(line, "        ") && t != "Version table:") {
      // "     2.10-3 500" or " *** 2.10-3 100": a version and its priority.
      auto words = split(t, ' ');
      words.erase(std::remove(words.begin(), words.end(), ""), words.end());
      if (!words.empty() && words[0] == "***") words.erase(words.begin());
      if (words.size() >= 2) cur->available.push_back(words[0]);
    } else if (starts_with(line, " *** ")) {
      auto words = split(t, ' ');
      words.erase(std::remove(words.begin(), words.end(), ""), words.end());
      if (words.size() >= 3) cur->available.push_back(words[1]);
    }
  }
  finish();
  return out;
}

}  // namespace opdbus::packagekit
