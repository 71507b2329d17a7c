// The packagekit section as typed values (docs/plugins/packagekit.md):
//   "manifest": "FILE"                          packages listed in a manifest (`op-dbus manifest` writes one)
//   "additional_packages": ["vim", ...]         installed as well
//   "packages": {"NAME": {"state": "present" | "installed" | "absent" | "latest", "version": "V"}}
//   "repositories": {"NAME": {"types", "uris", "suites", "components", "architectures", "key", "state"}}
//   "stall_timeout": SECONDS                    a transaction without progress for this long fails (300)
// "installed" is a synonym of "present". A name in `packages` wins over the manifest and
// additional_packages. A current section (query's) also carries "x-available": {"NAME": ["V", ...]}, the
// versions the package manager can install for each named package (newest first; [] = no such package).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostic.h"
#include "json.h"

namespace opdbus::packagekit {

enum class Want { Present, Absent, Latest };
std::string_view to_string(Want w);

struct PackageSpec {
  Want state = Want::Present;
  std::optional<std::string> version;
  bool observe = false;
  bool operator==(const PackageSpec&) const = default;
};

struct Repository {
  bool absent = false;
  std::vector<std::string> types{"deb"};
  std::vector<std::string> uris, suites, components, architectures;
  std::string key;  // ASCII-armoured OpenPGP public key, normalised to end with one newline
  bool observe = false;
};

constexpr int kDefaultStallTimeout = 300;

struct Section {
  bool observe = false;
  std::optional<std::string> manifest;
  std::map<std::string, PackageSpec> packages;  // additional_packages and packages merged
  std::map<std::string, Repository> repositories;
  int stall_timeout = kDefaultStallTimeout;
  // Current sections only (query): versions installable per named package; nullopt when not known (a
  // saved `show` output).
  std::optional<std::map<std::string, std::vector<std::string>>> available;
  // Current sections only: the installed version of each installed package in `packages`.
  std::map<std::string, std::string> installed_versions;
};

// The shape is guaranteed by the schema; `manifest_packages` are the names the manifest lists (read by
// check(); see plugin.cc).
Section parse_section(const JsonValue& section, const std::vector<std::string>& manifest_packages = {});

// ---- names and values that reach argv, file names and file lines (check.cc)
bool valid_package_name(std::string_view s);  // Debian policy 5.6.7 (+ ":arch")
bool valid_version(std::string_view s);       // Debian policy 5.6.12
bool valid_repository_name(std::string_view s);
bool valid_uri(std::string_view s);
bool valid_suite(std::string_view s);
bool valid_component(std::string_view s);
bool valid_architecture(std::string_view s);
// An ASCII-armoured public key block: BEGIN/END lines, nothing outside them.
bool valid_key(std::string_view s);
std::string normalise_key(std::string_view s);

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   const std::vector<std::string>& manifest_packages, Diagnostics& out);

// ---- manifests (`op-dbus manifest` writes the first form)
//   {"format": "op-dbus-manifest", "version": 1, "packages": [{"name": "hello", "version": "2.10-3",
//    "requested": true}, ...]}
// or a plain array of names ["hello", ...]. Throws Error(InvalidArgument) saying what is wrong.
std::vector<std::string> parse_manifest(std::string_view text);

// ---- repository files
inline constexpr std::string_view kSourcesDir = "etc/apt/sources.list.d";
inline constexpr std::string_view kKeyringDir = "etc/apt/keyrings";
inline constexpr std::string_view kManagedMarker = "# Managed by op-dbus (packagekit plugin)";
std::string sources_path(const std::string& name);  // "etc/apt/sources.list.d/NAME.sources"
std::string key_path(const std::string& name);      // "etc/apt/keyrings/NAME.asc"
// The deb822 file for a repository (Signed-By: /etc/apt/keyrings/NAME.asc).
std::string render_sources(const std::string& name, const Repository& repo);
// A file written by render_sources (the marker line first) back into a Repository (without its key);
// nullopt for any other file.
std::optional<Repository> parse_sources(std::string_view content);

}  // namespace opdbus::packagekit
