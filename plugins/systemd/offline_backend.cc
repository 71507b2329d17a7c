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
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <system_error>

#include "error.h"
#include "systemd/backend.h"
#include "systemd/units.h"

namespace opdbus::systemd {
namespace {
namespace fs = std::filesystem;

// systemd's unit search path for the system manager on Debian 12, highest priority first.
const std::vector<std::string> kSearchPath = {"/etc/systemd/system", "/run/systemd/system",
                                              "/usr/local/lib/systemd/system", "/lib/systemd/system",
                                              "/usr/lib/systemd/system"};
const std::string kConfigDir = "/etc/systemd/system";

std::string basename_of(const std::string& path) {
  return fs::path(path).filename().string();
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
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

class OfflineBackend : public SystemdBackend {
 public:
  explicit OfflineBackend(fs::path root) : files_(std::move(root)) {}

  std::string describe() override {
    std::error_code ec;
    if (!fs::is_directory(files_.host_path("/etc/systemd"), ec)) {
      throw Error(ErrorKind::Unavailable, files_.host_path("/etc/systemd").string() + " does not exist");
    }
    return "unit files under " + files_.root().string() + " (offline: running state is not managed)";
  }
  bool sees_runtime() const override { return false; }

  std::string unit_file_state(const std::string& unit) override {
    auto loc = locate(unit);
    if (!loc) return "not-found";
    if (loc->masked) return loc->runtime ? "masked-runtime" : "masked";
    if (loc->alias) return "alias";
    InstallInfo info = install_info(*loc);
    if (enabled_by_symlinks(unit, *loc, info)) return "enabled";
    if (info.has_rules()) return "disabled";
    if (!info.also.empty()) return "indirect";
    return "static";
  }

  std::vector<UnitFile> list_unit_files(const std::string& suffix) override {
    std::vector<UnitFile> out;
    std::set<std::string> seen;
    for (const auto& dir : kSearchPath) {
      for (const auto& e : files_.list_dir(dir)) {
        if (e.kind != DirEntry::Kind::File && e.kind != DirEntry::Kind::Symlink) continue;
        if (!ends_with(e.name, suffix) || !valid_unit_name(e.name) || !seen.insert(e.name).second) continue;
        out.push_back({e.name, unit_file_state(e.name)});
      }
    }
    return out;
  }

  bool is_active(const std::string&) override { return false; }
  std::set<std::string> active_units() override { return {}; }

  std::optional<std::string> read_file(const std::string& path) override { return files_.read_file(path); }
  std::vector<DirEntry> list_dir(const std::string& path) override { return files_.list_dir(path); }
  void write_file(const std::string& path, const std::string& content) override {
    files_.write_file(path, content);
  }
  void remove_path(const std::string& path) override { files_.remove_path(path); }

  void enable(const std::string& unit) override {
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

  void disable(const std::string& unit) override {
    std::set<std::string> marked;
    std::deque<std::string> todo = {unit};
    std::set<std::string> done;
    while (!todo.empty()) {
      std::string name = todo.front();
      todo.pop_front();
      if (!done.insert(name).second) continue;
      auto loc = locate(name);
      if (!loc) {
        if (name == unit) fail("Unit file " + name + " does not exist.");
        continue;  // a missing Also= unit is skipped, as systemctl does
      }
      if (loc->masked) continue;  // disabling leaves a mask alone
      marked.insert(name);
      for (const auto& a : install_info(*loc).also) todo.push_back(expand(a, name));
    }
    remove_marked_symlinks(marked);
  }

  void mask(const std::string& unit) override {
    std::string link = kConfigDir + "/" + unit;
    fs::path host = files_.host_path(link);
    std::error_code ec;
    auto st = fs::symlink_status(host, ec);
    if (fs::exists(st)) {
      if (fs::is_symlink(st) && fs::read_symlink(host, ec) == "/dev/null") return;
      fail("File " + link + " already exists" +
           (fs::is_symlink(st) ? " and is a symlink to " + fs::read_symlink(host, ec).string() : "") + ".");
    }
    create_symlink("/dev/null", link, false);
  }

  void unmask(const std::string& unit) override {
    std::string link = kConfigDir + "/" + unit;
    fs::path host = files_.host_path(link);
    std::error_code ec;
    auto st = fs::symlink_status(host, ec);
    bool is_mask = (fs::is_symlink(st) && fs::read_symlink(host, ec) == "/dev/null") ||
                   (fs::is_regular_file(st) && fs::file_size(host, ec) == 0);
    if (is_mask) files_.remove_path(link);
  }

  void daemon_reload() override {}  // nothing runs in a tree; the units are read at its next boot

  void start(const std::string& unit) override { refuse("start", unit); }
  void stop(const std::string& unit) override { refuse("stop", unit); }
  void restart(const std::string& unit) override { refuse("restart", unit); }

 private:
  [[noreturn]] void refuse(const std::string& what, const std::string& unit) {
    throw Error(ErrorKind::NotSupported, "cannot " + what + " " + unit + " in an offline tree (--root)");
  }

  // Resolves symlinks in an in-system path as if the tree were "/": absolute targets stay inside the tree,
  // missing components are kept as they are.
  std::string chase(const std::string& path) const {
    std::deque<std::string> todo;
    for (const auto& part : fs::path(path).relative_path()) todo.push_back(part.string());
    std::vector<std::string> done;
    int links = 0;
    while (!todo.empty()) {
      std::string part = todo.front();
      todo.pop_front();
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (!done.empty()) done.pop_back();
        continue;
      }
      std::string candidate;
      for (const auto& d : done) candidate += "/" + d;
      candidate += "/" + part;
      std::error_code ec;
      fs::path host = files_.host_path(candidate);
      if (!fs::is_symlink(fs::symlink_status(host, ec))) {
        done.push_back(part);
        continue;
      }
      if (++links > 40) fail("too many levels of symbolic links in " + path);
      fs::path target = fs::read_symlink(host, ec);
      if (target.is_absolute()) done.clear();
      std::deque<std::string> more;
      for (const auto& t : target.relative_path()) more.push_back(t.string());
      todo.insert(todo.begin(), more.begin(), more.end());
    }
    std::string out;
    for (const auto& d : done) out += "/" + d;
    return out.empty() ? "/" : out;
  }

  std::optional<Located> locate(const std::string& unit) const {
    std::vector<std::string> names = {unit};
    if (is_instance(unit)) names.push_back(template_of(unit));
    for (const auto& name : names) {
      for (const auto& dir : kSearchPath) {
        std::string path = dir + "/" + name;
        fs::path host = files_.host_path(path);
        std::error_code ec;
        auto st = fs::symlink_status(host, ec);
        if (!fs::exists(st)) continue;
        Located loc;
        loc.runtime = dir.rfind("/run/", 0) == 0;
        if (fs::is_symlink(st)) {
          if (fs::read_symlink(host, ec) == "/dev/null") {
            loc.masked = true;
            loc.path = path;
            return loc;
          }
          std::string resolved = chase(path);
          if (!fs::is_regular_file(files_.host_path(resolved), ec)) continue;  // dangling
          loc.path = resolved;
          loc.alias = basename_of(resolved) != name;
          return loc;
        }
        if (!fs::is_regular_file(st)) continue;
        loc.path = path;
        loc.masked = fs::file_size(host, ec) == 0;  // systemd treats an empty unit file as masked
        return loc;
      }
    }
    return std::nullopt;
  }

  InstallInfo install_info(const Located& loc) const {
    auto text = files_.read_file(chase(loc.path));
    return text ? parse_install_section(*text) : InstallInfo{};
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

  // Names a symlink can carry that make `unit` count as enabled.
  static bool known_name(const std::string& link_name, const std::string& unit, const InstallInfo& info) {
    if (link_name == unit) return true;
    if (!is_template(unit)) return false;
    if (!info.default_instance.empty() && link_name == with_instance(unit, info.default_instance))
      return true;
    return is_instance(link_name) && template_of(link_name) == unit;
  }

  bool enabled_by_symlinks(const std::string& unit, const Located& loc, const InstallInfo& info) const {
    std::set<std::string> aliases;
    for (const auto& a : info.alias) {
      if (auto e = expand_specifiers(a, unit)) aliases.insert(*e);
    }
    for (const auto& e : files_.list_dir(kConfigDir)) {
      if (e.kind == DirEntry::Kind::Directory &&
          (ends_with(e.name, ".wants") || ends_with(e.name, ".requires") || ends_with(e.name, ".upholds"))) {
        for (const auto& link : files_.list_dir(kConfigDir + "/" + e.name)) {
          if (link.kind == DirEntry::Kind::Symlink && known_name(link.name, unit, info)) return true;
        }
      } else if (e.kind == DirEntry::Kind::Symlink && aliases.count(e.name)) {
        std::string dest = chase(kConfigDir + "/" + e.name);
        if (dest == loc.path || basename_of(dest) == basename_of(loc.path)) return true;
      }
    }
    return false;
  }

  // Creates `link` -> `target` (in-system paths). An identical link is fine; a different one is replaced
  // only with `force`, as systemd does for .wants/.requires but not for aliases.
  void create_symlink(const std::string& target, const std::string& link, bool force) const {
    fs::path host = files_.host_path(link);
    std::error_code ec;
    fs::create_directories(host.parent_path(), ec);
    if (ec) fail("create directory " + host.parent_path().string() + ": " + ec.message());
    if (::symlink(target.c_str(), host.c_str()) == 0) return;
    if (errno != EEXIST) fail("create symlink " + link + ": " + std::strerror(errno));
    auto st = fs::symlink_status(host, ec);
    if (fs::is_symlink(st) && fs::read_symlink(host, ec) == target) return;
    if (!force) {
      fail("File " + link + " already exists" +
           (fs::is_symlink(st) ? " and is a symlink to " + fs::read_symlink(host, ec).string() : "") + ".");
    }
    fs::path tmp = host.string() + ".op-dbus-tmp";
    fs::remove(tmp, ec);
    if (::symlink(target.c_str(), tmp.c_str()) != 0 || ::rename(tmp.c_str(), host.c_str()) != 0) {
      fail("replace symlink " + link + ": " + std::strerror(errno));
    }
  }

  // Removes emptied directories from `path`'s parent up to (not including) the config directory.
  void remove_empty_parents(const std::string& path) const {
    fs::path dir = fs::path(path).parent_path();
    while (dir.string().size() > kConfigDir.size() && dir.string().rfind(kConfigDir + "/", 0) == 0) {
      if (::rmdir(files_.host_path(dir.string()).c_str()) != 0) break;
      dir = dir.parent_path();
    }
  }

  void collect_symlinks(const std::string& dir, std::vector<std::string>& out) const {
    for (const auto& e : files_.list_dir(dir)) {
      std::string path = dir + "/" + e.name;
      if (e.kind == DirEntry::Kind::Directory)
        collect_symlinks(path, out);
      else if (e.kind == DirEntry::Kind::Symlink)
        out.push_back(path);
    }
  }

  void remove_marked_symlinks(std::set<std::string> marked) const {
    bool again = true;
    while (again) {
      again = false;
      std::vector<std::string> links;
      collect_symlinks(kConfigDir, links);
      for (const auto& link : links) {
        std::string name = basename_of(link);
        if (!valid_unit_name(name)) continue;
        bool found = marked.count(name) || (is_instance(name) && marked.count(template_of(name)));
        if (!found) {
          std::string dest = chase(link);
          found = marked.count(dest) || marked.count(basename_of(dest));
        }
        if (!found) continue;
        if (::unlink(files_.host_path(link).c_str()) != 0 && errno != ENOENT) {
          fail("remove " + link + ": " + std::strerror(errno));
        }
        remove_empty_parents(link);
        // Links pointing at the link just removed go too.
        if (marked.insert(link).second) again = true;
      }
    }
  }

  RootedFiles files_;
};

}  // namespace

std::unique_ptr<SystemdBackend> make_offline_backend(const std::filesystem::path& root) {
  return std::make_unique<OfflineBackend>(root);
}

}  // namespace opdbus::systemd
