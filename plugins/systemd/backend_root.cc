// A mounted tree (--root DIR): enablement as `systemctl --root=DIR` does it, by symlinks in
// DIR/etc/systemd/system, read from the units' [Install] sections. The rules followed (systemd 252):
//   enable   Alias=X       -> /etc/systemd/system/X                 -> unit file (refuses to replace another)
//            WantedBy=T    -> /etc/systemd/system/T.wants/NAME      -> unit file (replaces)
//            RequiredBy=T  -> /etc/systemd/system/T.requires/NAME   -> unit file (replaces)
//            Also=U        -> U is enabled too; templates use DefaultInstance= for their wants
//   disable  every symlink below /etc/systemd/system named like the unit (or an instance of it), or resolving
//            to it, goes; then symlinks to removed symlinks; emptied directories go too; Also= units as well
//   mask     /etc/systemd/system/NAME -> /dev/null;  unmask removes that link
// Symlink targets are in-system paths of the unit file as found on the search path. Nothing runs in a tree:
// start/stop are refused and `running` is never reported.
//
// Every file is reached through sys::RootDir (openat2 RESOLVE_IN_ROOT): a tree whose directories are symlinks
// pointing out of DIR is still only ever read and changed inside DIR, where a chroot would see it.
//
// Scale: the search path and every symlink below /etc/systemd/system are listed once, on first use, into an
// index; unit file states are answered from it, and everything this backend changes updates it. So a plan
// walks the tree once, and an apply once more, however many units the document names.
#include <algorithm>
#include <deque>
#include <unordered_map>

#include "error.h"
#include "systemd/backend.h"
#include "systemd/units.h"
#include "text.h"

namespace opdbus::systemd {
namespace {

// systemd's unit search path for the system manager on Debian 12, highest priority first.
const std::vector<std::string> kSearchPath = {"/etc/systemd/system", "/run/systemd/system",
                                              "/usr/local/lib/systemd/system", "/lib/systemd/system",
                                              "/usr/lib/systemd/system"};
const std::string kConfigDir = "/etc/systemd/system";

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dirname_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// "/etc/systemd/system/x.service" -> "x.service"; "" for paths not directly in the config directory.
std::string config_entry(const std::string& path) {
  if (!starts_with(path, kConfigDir + "/")) return {};
  std::string rest = path.substr(kConfigDir.size() + 1);
  return rest.find('/') == std::string::npos ? rest : std::string();
}

// For a link in /etc/systemd/system/T.wants/ (or .requires, .upholds): its name; "" otherwise.
std::string wants_entry(const std::string& path) {
  if (!starts_with(path, kConfigDir + "/")) return {};
  std::string rest = path.substr(kConfigDir.size() + 1);
  size_t slash = rest.find('/');
  if (slash == std::string::npos || rest.find('/', slash + 1) != std::string::npos) return {};
  std::string dir = rest.substr(0, slash);
  if (!ends_with(dir, ".wants") && !ends_with(dir, ".requires") && !ends_with(dir, ".upholds")) return {};
  return rest.substr(slash + 1);
}

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorKind::BackendError, message);
}

// Where a unit's definition was found.
struct Located {
  std::string path;      // in-system path of the file that defines it (after following symlinks)
  bool masked = false;   // a link to /dev/null (or an empty file)
  bool runtime = false;  // found under /run
  bool alias = false;    // reached through a symlink with another name
};

// What the tree holds, listed once.
struct Index {
  // The entries of each search-path directory (kSearchPath order), sorted by name.
  std::vector<std::map<std::string, FileKind>> search;
  // Every symlink below /etc/systemd/system, by in-system path, with its target as stored.
  std::map<std::string, std::string> links;
  // Names of the links in /etc/systemd/system/*.{wants,requires,upholds}/ (counted), and for those that are
  // instances, their templates.
  std::unordered_map<std::string, int> wanted;
  std::unordered_map<std::string, int> wanted_templates;
  // [Install] sections already read, by the path of the unit file.
  std::unordered_map<std::string, InstallInfo> install;
};

void count(std::unordered_map<std::string, int>& m, const std::string& key, int delta) {
  int& n = m[key];
  n += delta;
  if (n <= 0) m.erase(key);
}

class RootBackend : public Backend {
 public:
  explicit RootBackend(std::filesystem::path root) : root_path_(std::move(root)) {}

  std::string describe() override {
    std::string where = (root_path_ / "etc/systemd").string();
    std::optional<sys::FileStat> st;
    try {
      st = dir().stat("/etc/systemd");
    } catch (const Error&) {
      throw Error(ErrorKind::Unavailable, where + " does not exist");
    }
    if (!st || st->kind != FileKind::Directory)
      throw Error(ErrorKind::Unavailable, where + " does not exist");
    return "unit files under " + root_path_.string() + " (offline: running state is not managed)";
  }
  bool sees_runtime() const override { return false; }

  std::map<std::string, std::string> unit_file_states(const std::vector<std::string>& units) override {
    std::map<std::string, std::string> out;
    for (const auto& u : units) out[u] = state_of(u);
    return out;
  }

  std::vector<UnitFile> list_unit_files(const std::string& suffix) override {
    std::vector<UnitFile> out;
    std::set<std::string> seen;
    for (const auto& entries : index().search) {
      for (const auto& [name, kind] : entries) {
        if (kind != FileKind::File && kind != FileKind::Symlink) continue;
        if (!ends_with(name, suffix) || !valid_unit_name(name) || !seen.insert(name).second) continue;
        out.push_back({name, state_of(name)});
      }
    }
    return out;
  }

  std::set<std::string> active_of(const std::vector<std::string>&) override { return {}; }
  std::set<std::string> active_units() override { return {}; }

  std::optional<std::string> read_file(const std::string& path) override {
    std::string name = config_entry(path);
    if (!name.empty()) {
      // The index knows what is in the config directory: no system call for files that are not there.
      auto& top = index().search[0];
      auto it = top.find(name);
      if (it == top.end() || it->second != FileKind::File) return std::nullopt;
    } else {
      auto st = dir().lstat(path);
      if (!st || st->kind != FileKind::File) return std::nullopt;
    }
    return dir().read_file(path);
  }

  std::vector<DirEntry> list_dir(const std::string& path) override {
    std::string name = config_entry(path);
    if (!name.empty()) {
      auto& top = index().search[0];
      auto it = top.find(name);
      if (it == top.end() || (it->second != FileKind::Directory && it->second != FileKind::Symlink))
        return {};
    }
    return dir().list_dir(path);
  }

  void write_file(const std::string& path, const std::string& content) override {
    dir().write_file(path, content, 0644);
    if (!index_) return;
    index_->install.erase(path);
    drop_links_under(path);
    std::string name = config_entry(path);
    if (!name.empty()) {
      index_->search[0][name] = FileKind::File;
    } else if (std::string parent = config_entry(dirname_of(path)); !parent.empty()) {
      index_->search[0].emplace(parent, FileKind::Directory);  // a drop-in directory made for the file
    }
  }

  void remove_path(const std::string& path) override {
    dir().remove_all(path);
    if (!index_) return;
    index_->install.erase(path);
    drop_links_under(path);
    std::string name = config_entry(path);
    if (!name.empty()) index_->search[0].erase(name);
  }

  bool enable(const std::vector<std::string>& units) override {
    size_t before = changes_;
    for (const auto& u : units) enable_one(u);
    return changes_ != before;
  }

  bool disable(const std::vector<std::string>& units) override {
    // Every unit is checked before anything is removed, and all their links go in one pass over the index.
    std::set<std::string> marked;
    std::deque<std::string> todo(units.begin(), units.end());
    std::set<std::string> asked(units.begin(), units.end());
    std::set<std::string> done;
    while (!todo.empty()) {
      std::string name = todo.front();
      todo.pop_front();
      if (!done.insert(name).second) continue;
      auto loc = locate(name);
      if (!loc) {
        if (asked.count(name)) fail("Unit file " + name + " does not exist.");
        continue;  // a missing Also= unit is skipped, as systemctl does
      }
      if (loc->masked) continue;  // disabling leaves a mask alone
      marked.insert(name);
      for (const auto& a : install_info(*loc).also) todo.push_back(expand(a, name));
    }
    size_t before = changes_;
    remove_marked_symlinks(marked);
    return changes_ != before;
  }

  bool mask(const std::vector<std::string>& units) override {
    size_t before = changes_;
    for (const auto& unit : units) {
      std::string link = kConfigDir + "/" + unit;
      if (auto st = dir().lstat(link)) {
        auto target = st->kind == FileKind::Symlink ? dir().read_link(link) : std::nullopt;
        if (target && *target == "/dev/null") continue;
        fail("File " + link + " already exists" + (target ? " and is a symlink to " + *target : "") + ".");
      }
      create_symlink("/dev/null", link, false);
    }
    return changes_ != before;
  }

  bool unmask(const std::vector<std::string>& units) override {
    size_t before = changes_;
    for (const auto& unit : units) {
      std::string link = kConfigDir + "/" + unit;
      auto st = dir().lstat(link);
      if (!st) continue;
      bool is_mask = (st->kind == FileKind::Symlink &&
                      dir().read_link(link) == std::optional<std::string>("/dev/null")) ||
                     (st->kind == FileKind::File && st->size == 0);
      if (!is_mask) continue;
      dir().remove(link);
      forget(link);
      ++changes_;
    }
    return changes_ != before;
  }

  void daemon_reload() override {}  // nothing runs in a tree; the units are read at its next boot

  Failures start(const std::vector<std::string>& units) override { refuse("start", units); }
  Failures stop(const std::vector<std::string>& units) override { refuse("stop", units); }
  Failures restart(const std::vector<std::string>& units) override { refuse("restart", units); }

 private:
  [[noreturn]] void refuse(const std::string& what, const std::vector<std::string>& units) {
    throw Error(ErrorKind::NotSupported,
                "cannot " + what + " " + join(units, " ") + " in an offline tree (--root)");
  }

  sys::RootDir& dir() {
    if (!dir_) dir_.emplace(root_path_);
    return *dir_;
  }

  // The one walk: every search-path directory, and every symlink below the config directory.
  Index& index() {
    if (index_) return *index_;
    index_.emplace();
    for (const auto& d : kSearchPath) {
      auto& entries = index_->search.emplace_back();
      for (auto& e : dir().list_dir(d)) entries.emplace(std::move(e.name), e.kind);
    }
    tidy(kConfigDir, index_->search[0]);
    collect_links(kConfigDir, index_->search[0]);
    return *index_;
  }

  // The walk above, removing on the way the temporaries of dead writers from the config directory and every
  // directory below it that it lists. A directory is listed a second time only when its listing shows a
  // temporary, so the usual apply walks the tree once, as before.
  std::vector<std::string> clean_stale_temporaries() override {
    index_.reset();
    cleaned_.clear();
    cleaning_ = true;
    try {
      index();
    } catch (...) {
      cleaning_ = false;
      index_.reset();
      throw;
    }
    cleaning_ = false;
    return std::move(cleaned_);
  }

  void tidy(const std::string& d, std::map<std::string, FileKind>& entries) {
    if (!cleaning_) return;
    bool any = std::any_of(entries.begin(), entries.end(),
                           [](const auto& e) { return e.first.find(sys::kTempMarker) != std::string::npos; });
    if (!any) return;
    for (auto& path : dir().clean_stale_temporaries(d)) {
      entries.erase(basename_of(path));
      cleaned_.push_back(std::move(path));
    }
  }

  void collect_links(const std::string& d, const std::map<std::string, FileKind>& entries) {
    for (const auto& [name, kind] : entries) {
      std::string path = d + "/" + name;
      bool wants_dir =
          ends_with(name, ".wants") || ends_with(name, ".requires") || ends_with(name, ".upholds");
      if (kind == FileKind::Symlink) {
        if (auto target = dir().read_link(path)) remember(path, *target);
        // A .wants directory may itself be a link (systemctl follows it): its links count too. Only at the
        // top, so a link back up cannot loop.
        auto st = wants_dir && d == kConfigDir ? dir().stat(path) : std::nullopt;
        if (!st || st->kind != FileKind::Directory) continue;
      }
      if (kind == FileKind::Symlink || kind == FileKind::Directory) {
        std::map<std::string, FileKind> sub;
        for (auto& e : dir().list_dir(path)) sub.emplace(std::move(e.name), e.kind);
        tidy(path, sub);
        collect_links(path, sub);
      }
    }
  }

  // Index upkeep for a link made or removed under the config directory.
  void remember(const std::string& link, const std::string& target) {
    auto [it, added] = index_->links.insert_or_assign(link, target);
    (void)it;
    if (!added) return;
    if (std::string w = wants_entry(link); !w.empty()) {
      count(index_->wanted, w, 1);
      if (is_instance(w)) count(index_->wanted_templates, template_of(w), 1);
    }
  }
  void forget(const std::string& link) {
    if (!index_) return;
    std::string name = config_entry(link);
    if (!name.empty()) index_->search[0].erase(name);
    if (index_->links.erase(link) == 0) return;
    if (std::string w = wants_entry(link); !w.empty()) {
      count(index_->wanted, w, -1);
      if (is_instance(w)) count(index_->wanted_templates, template_of(w), -1);
    }
  }
  void drop_links_under(const std::string& path) {
    auto it = index_->links.lower_bound(path);
    while (it != index_->links.end() && (it->first == path || starts_with(it->first, path + "/"))) {
      std::string link = (it++)->first;
      forget(link);
    }
  }

  // The in-system path `path` leads to, following symlinks inside the tree; for a dangling link, its target.
  std::string chase(const std::string& path) {
    if (auto r = dir().resolve(path)) return *r;
    auto target = dir().read_link(path);
    if (!target) return path;
    return (*target)[0] == '/' ? *target : dirname_of(path) + "/" + *target;
  }

  std::optional<Located> locate(const std::string& unit) {
    Index& ix = index();
    std::vector<std::string> names = {unit};
    if (is_instance(unit)) names.push_back(template_of(unit));
    for (const auto& name : names) {
      for (size_t i = 0; i < kSearchPath.size(); ++i) {
        auto e = ix.search[i].find(name);
        if (e == ix.search[i].end()) continue;
        std::string path = kSearchPath[i] + "/" + name;
        Located loc;
        loc.runtime = starts_with(kSearchPath[i], "/run/");
        if (e->second == FileKind::Symlink) {
          std::optional<std::string> target;
          if (auto l = ix.links.find(path); l != ix.links.end())
            target = l->second;
          else
            target = dir().read_link(path);
          if (target == std::optional<std::string>("/dev/null")) {
            loc.masked = true;
            loc.path = path;
            return loc;
          }
          std::string resolved = chase(path);
          auto st = dir().lstat(resolved);
          if (!st || st->kind != FileKind::File) continue;  // dangling
          loc.path = resolved;
          loc.alias = basename_of(resolved) != name;
          return loc;
        }
        if (e->second != FileKind::File) continue;
        loc.path = path;
        auto st = dir().lstat(path);
        loc.masked = st && st->size == 0;  // systemd treats an empty unit file as masked
        return loc;
      }
    }
    return std::nullopt;
  }

  const InstallInfo& install_info(const Located& loc) {
    auto& cache = index().install;
    if (auto it = cache.find(loc.path); it != cache.end()) return it->second;
    auto text = dir().read_file(loc.path);
    return cache.emplace(loc.path, text ? parse_install_section(*text) : InstallInfo{}).first->second;
  }

  std::string state_of(const std::string& unit) {
    auto loc = locate(unit);
    if (!loc) return "not-found";
    if (loc->masked) return loc->runtime ? "masked-runtime" : "masked";
    if (loc->alias) return "alias";
    const InstallInfo& info = install_info(*loc);
    if (enabled_by_symlinks(unit, *loc, info)) return "enabled";
    if (info.has_rules()) return "disabled";
    if (!info.also.empty()) return "indirect";
    return "static";
  }

  std::string expand(const std::string& text, const std::string& unit) const {
    auto out = expand_specifiers(text, unit);
    if (!out) fail("unsupported specifier in [Install] of " + unit + ": '" + text + "'");
    return *out;
  }

  std::string target_name(const std::string& text, const std::string& unit) const {
    std::string name = expand(text, unit);
    if (!valid_unit_name(name)) fail("invalid unit name '" + name + "' in [Install] of " + unit + ".");
    return name;
  }

  // Enabled when a link in a .wants/.requires/.upholds directory carries the unit's name (for a template:
  // its DefaultInstance= or any instance), or an Alias= link leads to the unit file.
  bool enabled_by_symlinks(const std::string& unit, const Located& loc, const InstallInfo& info) {
    Index& ix = index();
    if (ix.wanted.count(unit)) return true;
    if (is_template(unit)) {
      if (!info.default_instance.empty() && ix.wanted.count(with_instance(unit, info.default_instance)))
        return true;
      if (ix.wanted_templates.count(unit)) return true;
    }
    for (const auto& a : info.alias) {
      auto name = expand_specifiers(a, unit);
      if (!name) continue;
      std::string link = kConfigDir + "/" + *name;
      if (!ix.links.count(link) || config_entry(link).empty()) continue;
      std::string dest = chase(link);
      if (dest == loc.path || basename_of(dest) == basename_of(loc.path)) return true;
    }
    return false;
  }

  void enable_one(const std::string& unit) {
    std::deque<std::string> todo = {unit};
    std::set<std::string> done;
    while (!todo.empty()) {
      std::string name = todo.front();
      todo.pop_front();
      if (!done.insert(name).second) continue;
      auto loc = locate(name);
      if (!loc) fail("Unit file " + name + " does not exist.");
      if (loc->masked) fail("Unit file " + name + " is masked.");
      InstallInfo info = install_info(*loc);
      for (const auto& a : info.alias) {
        std::string alias = expand(a, name);
        if (unit_suffix(alias) != unit_suffix(name))
          fail("Invalid unit alias '" + alias + "' for " + name + ".");
        create_symlink(loc->path, kConfigDir + "/" + alias, false);
      }
      std::string wants_name = name;
      bool can_want = true;
      if (is_template(name)) {
        // A bare template is wanted through its DefaultInstance=; without one there is nothing to link.
        can_want = !info.default_instance.empty();
        if (can_want) wants_name = with_instance(name, info.default_instance);
      }
      if (can_want) {
        for (const auto& t : info.wanted_by) {
          create_symlink(loc->path, kConfigDir + "/" + target_name(t, name) + ".wants/" + wants_name, true);
        }
        for (const auto& t : info.required_by) {
          create_symlink(loc->path, kConfigDir + "/" + target_name(t, name) + ".requires/" + wants_name,
                         true);
        }
      }
      for (const auto& a : info.also) todo.push_back(expand(a, name));
    }
  }

  // Creates `link` -> `target` (in-system paths). An identical link is fine; a different one is replaced
  // only with `force`, as systemd does for .wants/.requires but not for aliases.
  void create_symlink(const std::string& target, const std::string& link, bool force) {
    Index& ix = index();
    if (auto l = ix.links.find(link); l != ix.links.end()) {
      if (l->second == target) return;
      if (!force) fail("File " + link + " already exists and is a symlink to " + l->second + ".");
    } else if (dir().lstat(link) && !force) {
      fail("File " + link + " already exists.");
    }
    std::string parent = dirname_of(link);
    if (std::string top = config_entry(parent); !top.empty() && !ix.search[0].count(top)) {
      dir().make_dirs(parent);
      ix.search[0][top] = FileKind::Directory;
    }
    dir().symlink(target, link);
    ++changes_;
    remember(link, target);
    if (std::string name = config_entry(link); !name.empty()) ix.search[0][name] = FileKind::Symlink;
  }

  // Removes emptied directories from `path`'s parent up to (not including) the config directory.
  void remove_empty_parents(const std::string& path) {
    std::string d = dirname_of(path);
    while (d.size() > kConfigDir.size() && starts_with(d, kConfigDir + "/")) {
      if (!dir().remove_empty_dir(d)) break;
      if (std::string top = config_entry(d); !top.empty()) index().search[0].erase(top);
      d = dirname_of(d);
    }
  }

  void remove_marked_symlinks(std::set<std::string> marked) {
    bool again = true;
    while (again) {
      again = false;
      std::vector<std::string> links;
      for (const auto& [link, target] : index().links) links.push_back(link);
      for (const auto& link : links) {
        std::string name = basename_of(link);
        if (!valid_unit_name(name)) continue;
        bool found = marked.count(name) || (is_instance(name) && marked.count(template_of(name)));
        if (!found) {
          std::string dest = chase(link);
          found = marked.count(dest) || marked.count(basename_of(dest));
        }
        if (!found) continue;
        dir().remove(link);
        forget(link);
        ++changes_;
        remove_empty_parents(link);
        // Links pointing at the link just removed go too.
        if (marked.insert(link).second) again = true;
      }
    }
  }

  std::filesystem::path root_path_;
  std::optional<sys::RootDir> dir_;
  std::optional<Index> index_;
  bool cleaning_ = false;             // the walk removes stale temporaries (clean_stale_temporaries())
  std::vector<std::string> cleaned_;  // what it removed
  size_t changes_ = 0;                // links made or removed, to tell callers whether anything changed
};

}  // namespace

std::unique_ptr<Backend> make_root_backend(const std::filesystem::path& root) {
  return std::make_unique<RootBackend>(root);
}

}  // namespace opdbus::systemd
