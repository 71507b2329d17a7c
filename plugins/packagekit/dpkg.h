// Reading what apt and dpkg keep in a root: var/lib/dpkg/status, var/lib/apt/extended_states (the auto
// marks), and `apt-cache policy` output. Pure parsers; the files are read through sys::RootDir by callers.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "packagekit/backend.h"

namespace opdbus::packagekit {

inline constexpr std::string_view kDpkgStatus = "var/lib/dpkg/status";
inline constexpr std::string_view kExtendedStates = "var/lib/apt/extended_states";

// Installed packages (Status: ... installed) -> version.
std::map<std::string, std::string> parse_dpkg_status(std::string_view text);
// Packages marked "Auto-Installed: 1".
std::set<std::string> parse_auto_installed(std::string_view text);
// `apt-cache policy NAME...`: each name apt knows -> installed version and installable versions (the
// candidate first). Names apt does not know are missing.
std::map<std::string, Resolved> parse_apt_cache_policy(std::string_view text);

}  // namespace opdbus::packagekit
