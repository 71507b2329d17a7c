#include "network/resolv_conf.h"

#include <algorithm>
#include <sstream>

namespace opdbus::network {
namespace {

constexpr const char* kMarker = "# op-dbus dns ";
constexpr const char* kHeader = "# Written by op-dbus (network plugin) from the interfaces' \"dns\" servers.";

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

}  // namespace

std::map<std::string, std::vector<std::string>> resolv_conf_servers(const std::optional<std::string>& text) {
  std::map<std::string, std::vector<std::string>> out;
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(kMarker, 0) != 0) continue;
    std::string rest = line.substr(std::string(kMarker).size());
    size_t colon = rest.find(':');
    if (colon == std::string::npos) continue;
    out[rest.substr(0, colon)] = split_words(rest.substr(colon + 1));
  }
  return out;
}

std::string render_resolv_conf(const std::optional<std::string>& text, const std::string& link,
                               const std::vector<std::string>& servers) {
  auto by_link = resolv_conf_servers(text);
  if (servers.empty())
    by_link.erase(link);
  else
    by_link[link] = servers;

  std::vector<std::string> kept;
  if (text) {
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(kMarker, 0) == 0 || line == kHeader) continue;
      auto w = split_words(line);
      if (!w.empty() && w[0] == "nameserver") continue;
      kept.push_back(line);
    }
  }
  while (!kept.empty() && kept.back().empty()) kept.pop_back();

  std::ostringstream out;
  out << kHeader << "\n";
  std::vector<std::string> all;
  for (const auto& [name, list] : by_link) {
    out << kMarker << name << ":";
    for (const auto& s : list) out << " " << s;
    out << "\n";
    for (const auto& s : list) {
      if (std::find(all.begin(), all.end(), s) == all.end()) all.push_back(s);
    }
  }
  for (const auto& s : all) out << "nameserver " << s << "\n";
  for (const auto& k : kept) out << k << "\n";
  return out.str();
}

}  // namespace opdbus::network
