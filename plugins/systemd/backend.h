// What the systemd plugin needs from a host, as one small interface. Two real implementations:
//   live     the running systemd over D-Bus (src/sys/systemd.h); files under "/"
//   offline  a mounted tree (--root DIR): unit files and enablement symlinks exactly as `systemctl --root`
//            makes them; nothing runs there, so running state is not seen and start/stop are refused
// Tests hand the plugin a fake that records the calls it got.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace opdbus {
class Context;
}

namespace opdbus::systemd {

struct UnitFile {
  std::string name;   // "ssh.service"
  std::string state;  // "enabled", "disabled", "masked", "static", "alias", ...
};

struct DirEntry {
  enum class Kind { File, Symlink, Directory, Other };
  std::string name;
  Kind kind = Kind::Other;
};

class SystemdBackend {
 public:
  virtual ~SystemdBackend() = default;

  // One line for `op-dbus plugins` ("systemd 252 on the system bus"). Throws Unavailable when the backend
  // cannot work here (no system bus, no DIR/etc/systemd).
  virtual std::string describe() = 0;
  // False offline: nothing runs in a tree, so `running` is neither reported nor acted on.
  virtual bool sees_runtime() const = 0;

  // Unit file state as `systemctl is-enabled` says it; "not-found" when no unit file has the name.
  virtual std::string unit_file_state(const std::string& unit) = 0;
  // Every unit file whose name ends in `suffix`, with its state.
  virtual std::vector<UnitFile> list_unit_files(const std::string& suffix) = 0;
  // Active (or reloading) right now. Only asked when sees_runtime().
  virtual bool is_active(const std::string& unit) = 0;
  // Names of all active units. Only asked when sees_runtime().
  virtual std::set<std::string> active_units() = 0;

  // Files by in-system path ("/etc/systemd/system/x.service"), joined under the backend's root.
  // read_file gives nullopt unless the path is a regular file.
  virtual std::optional<std::string> read_file(const std::string& path) = 0;
  virtual std::vector<DirEntry> list_dir(const std::string& path) = 0;
  virtual void write_file(const std::string& path, const std::string& content) = 0;
  // A file or a whole directory; absent is fine.
  virtual void remove_path(const std::string& path) = 0;

  virtual void enable(const std::string& unit) = 0;
  virtual void disable(const std::string& unit) = 0;
  virtual void mask(const std::string& unit) = 0;
  virtual void unmask(const std::string& unit) = 0;
  virtual void daemon_reload() = 0;
  // Queue the job and wait for it; a failed job throws with systemd's own reason.
  virtual void start(const std::string& unit) = 0;
  virtual void stop(const std::string& unit) = 0;
  virtual void restart(const std::string& unit) = 0;
};

// Files under a root directory: the part both real backends share.
class RootedFiles {
 public:
  explicit RootedFiles(std::filesystem::path root) : root_(std::move(root)) {}
  const std::filesystem::path& root() const { return root_; }
  // The in-system path joined under the root, lexically (never above it).
  std::filesystem::path host_path(const std::string& path) const;

  std::optional<std::string> read_file(const std::string& path) const;
  std::vector<DirEntry> list_dir(const std::string& path) const;
  void write_file(const std::string& path, const std::string& content) const;
  void remove_path(const std::string& path) const;

 private:
  std::filesystem::path root_;
};

std::unique_ptr<SystemdBackend> make_live_backend(Context& ctx);
std::unique_ptr<SystemdBackend> make_offline_backend(const std::filesystem::path& root);

}  // namespace opdbus::systemd
