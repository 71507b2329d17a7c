#include "lxc/host.h"

#include <algorithm>

#include "text.h"

namespace opdbus::lxc {
namespace {

bool plain_url(const std::string& u) {
  if (!starts_with(u, "http://") && !starts_with(u, "https://")) return false;
  if (u.size() > 512) return false;
  return std::all_of(u.begin(), u.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~:/@%+").find(c) != std::string_view::npos;
  });
}

void take(Mirrors& m, const std::string& uri, const std::string& suite) {
  std::string u = uri;
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (!plain_url(u)) return;
  if (suite.find("-security") != std::string::npos || suite.find("/updates") != std::string::npos) {
    if (m.security.empty()) m.security = u;
  } else if (m.main.empty()) {
    m.main = u;
  }
}

}  // namespace

Mirrors parse_mirrors(const std::string& deb822, const std::string& list) {
  Mirrors m;
  // deb822: stanzas separated by blank lines; Types, URIs, Suites fields.
  std::vector<std::string> uris, suites;
  bool deb = false;
  auto flush = [&] {
    if (deb) {
      for (const auto& u : uris)
        for (const auto& s : suites) take(m, u, s);
    }
    uris.clear(), suites.clear(), deb = false;
  };
  for (const auto& raw : split(deb822 + "\n", '\n')) {
    std::string line = trim(raw);
    if (line.empty()) {
      flush();
      continue;
    }
    if (line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = lower(trim(line.substr(0, colon)));
    auto words = split(trim(line.substr(colon + 1)), ' ');
    words.erase(std::remove(words.begin(), words.end(), ""), words.end());
    if (key == "types") deb = std::find(words.begin(), words.end(), "deb") != words.end();
    if (key == "uris") uris = words;
    if (key == "suites") suites = words;
  }
  flush();
  for (const auto& raw : split(list, '\n')) {
    auto words = split(trim(raw), ' ');
    words.erase(std::remove(words.begin(), words.end(), ""), words.end());
    if (words.size() < 3 || words[0] != "deb") continue;
    size_t i = 1;
    if (starts_with(words[i], "[")) {
      while (i < words.size() && words[i].back() != ']') ++i;
      ++i;
    }
    if (i + 1 < words.size()) take(m, words[i], words[i + 1]);
  }
  return m;
}

Mirrors host_mirrors(const sys::RootDir& root) {
  std::string deb822;
  for (const auto& e : root.list_dir("/etc/apt/sources.list.d")) {
    if (ends_with(e.name, ".sources"))
      deb822 += root.read_file("/etc/apt/sources.list.d/" + e.name).value_or("") + "\n\n";
  }
  return parse_mirrors(deb822, root.read_file("/etc/apt/sources.list").value_or(""));
}

}  // namespace opdbus::lxc
