// Reading what apt and dpkg keep in a root: var/lib/dpkg/status, var/lib/apt/extended_states (the auto
// marks), and `apt-cache policy` output. Pure parsers; the files are read through sys::RootDir by callers.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "packagekit/backend.h"
#include "packagekit/model.h"

namespace opdbus::packagekit {

inline constexpr std::string_view kDpkgStatus = "var/lib/dpkg/status";
inline constexpr std::string_view kExtendedStates = "var/lib/apt/extended_states";

// Installed packages (Status: ... installed) -> version.
std::map<std::string, std::string> parse_dpkg_status(std::string_view text);
// Installed packages with their architecture, in the database's order (a Multi-Arch: same library can be
// installed for several architectures).
struct DpkgPackage {
  std::string name, arch, version;
  bool operator==(const DpkgPackage&) const = default;
};
std::vector<DpkgPackage> parse_dpkg_installed(std::string_view text);

// What the dpkg database settles on its own for the packages a document names, so that a converged
// document plans without a single package manager transaction (PackageKit's Resolve can spend minutes
// loading its cache): `settled` holds each name whose current state the database alone decides (its
// installed version, or nullopt for "not installed"); `to_resolve` the names the package manager must
// still be asked about, in order:
//   absent                       never asked: installed -> removed, not installed -> nothing to do
//   present, installed           settled, when unpinned or pinned to exactly the installed version
//   present, pinned to another   asked (is the pinned version available?)
//   present, not installed       asked (an unknown package must fail the plan)
//   latest                       always asked (is there a newer candidate?)
// "NAME:ARCH" matches only that architecture (or "all"); a plain name any one installed architecture, and
// is asked about when several architectures are installed in different versions.
struct DpkgAnswers {
  std::map<std::string, std::optional<std::string>> settled;
  std::vector<std::string> to_resolve;
};
DpkgAnswers answer_from_dpkg(const std::map<std::string, PackageSpec>& wanted,
                             const std::vector<DpkgPackage>& installed);

// Packages marked "Auto-Installed: 1".
std::set<std::string> parse_auto_installed(std::string_view text);
// `apt-cache policy NAME...`: each name apt knows -> installed version and installable versions (the
// candidate first). Names apt does not know are missing.
std::map<std::string, Resolved> parse_apt_cache_policy(std::string_view text);

}  // namespace opdbus::packagekit
