// `op-dbus manifest`: a package manifest (the format packagekit.manifest reads, docs/plugins/packagekit.md)
// from package names resolved against Debian Packages indexes (a repository or a mounted Debian/Proxmox ISO:
// dists/*/*/binary-ARCH/Packages[.gz|.xz]; apt's lists directory), following Pre-Depends, Depends and (as apt
// does by default) Recommends: the first satisfiable alternative, virtual packages through Provides, a
// dependency already met by a chosen package kept. Without names, every package of the indexes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"

namespace opdbus::manifest {

struct Relation {
  std::string name;
  std::string op;  // "", "<<", "<=", "=", ">=", ">>"
  std::string version;
};
using Alternatives = std::vector<Relation>;

struct Package {
  std::string name, version, architecture;
  std::vector<Alternatives> pre_depends, depends, recommends;
  std::vector<Relation> provides;  // op "=" when versioned
};

// dpkg's version order: <0, 0, >0.
int compare_versions(std::string_view a, std::string_view b);
bool satisfies(std::string_view version, const Relation& r);
// "libc6 (>= 2.34), perl:any | foo" -> groups of alternatives (architecture qualifiers dropped).
std::vector<Alternatives> parse_relations(std::string_view field);

class Index {
 public:
  // Adds the stanzas of one Packages file for `arch` (and "all"); a name seen twice keeps its newest version.
  void add(std::string_view packages_text, const std::string& arch);
  const Package* find(const std::string& name) const;
  const std::map<std::string, Package>& packages() const { return packages_; }
  // Packages providing `name`, sorted by name.
  std::vector<const Package*> providers(const Relation& r) const;

 private:
  std::map<std::string, Package> packages_;
};

struct Entry {
  std::string name, version;
  bool requested = false;
};

// The closure of `names` in `index`. Throws Error(InvalidArgument) naming an unknown requested name or a
// dependency nothing in the index satisfies (with the package that needs it).
std::vector<Entry> resolve(const Index& index, const std::vector<std::string>& names, bool recommends);

JsonDoc to_json(const std::vector<Entry>& entries, const std::string& arch,
                const std::vector<std::string>& sources);

struct Options {
  std::vector<std::string> indexes;  // files or directories
  std::vector<std::string> names;
  std::string output;  // "" or "-" = stdout
  std::string arch;    // "" = the host's
  bool no_recommends = false;
};

// The command: reads the indexes, resolves, writes the manifest. Returns the exit code.
int run(const Options& options);

}  // namespace opdbus::manifest
