// What the systemd plugin needs from a host, as one small interface. Two real implementations:
//   backend_live.cc  the running systemd over D-Bus (src/sys/systemd.h); files under "/"
//   backend_root.cc  a mounted tree (--root DIR): unit files and enablement symlinks exactly as
//                    `systemctl --root` makes them; nothing runs there, so running state is not seen and
//                    start/stop are refused
// Every file is reached through sys::RootDir, so symlinks in the tree never lead outside it. Calls that can
// be batched take many units at once: a plan reads unit file states and active states in one call each, and
// apply enables many units with one call. Tests hand the plugin a fake that records the calls it got.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sys/rootdir.h"

namespace opdbus {
class Context;
}

namespace opdbus::systemd {

struct UnitFile {
  std::string name;   // "ssh.service"
  std::string state;  // "enabled", "disabled", "masked", "static", "alias", ...
};

using sys::DirEntry;
using sys::FileKind;

class Backend {
 public:
  virtual ~Backend() = default;

  // One line for `op-dbus plugins` ("systemd 252 on the system bus"). Throws Unavailable when the backend
  // cannot work here (no system bus, no DIR/etc/systemd).
  virtual std::string describe() = 0;
  // False offline: nothing runs in a tree, so `running` is neither reported nor acted on.
  virtual bool sees_runtime() const = 0;

  // Unit file states as `systemctl is-enabled` says them, for every unit asked ("not-found" when no unit
  // file has the name), in as few calls as the backend allows.
  virtual std::map<std::string, std::string> unit_file_states(const std::vector<std::string>& units) = 0;
  std::string unit_file_state(const std::string& unit) { return unit_file_states({unit}).at(unit); }
  // Every unit file whose name ends in `suffix`, with its state.
  virtual std::vector<UnitFile> list_unit_files(const std::string& suffix) = 0;
  // Which of `units` are active (or reloading) right now, in one call. Only asked when sees_runtime().
  virtual std::set<std::string> active_of(const std::vector<std::string>& units) = 0;
  // Names of all active units. Only asked when sees_runtime().
  virtual std::set<std::string> active_units() = 0;

  // Files by in-system path ("/etc/systemd/system/x.service"), inside the backend's root.
  // read_file gives nullopt unless the path is a regular file (a symlink is not followed).
  virtual std::optional<std::string> read_file(const std::string& path) = 0;
  // A directory's entries (a symlinked directory is followed, inside the root); empty when absent.
  virtual std::vector<DirEntry> list_dir(const std::string& path) = 0;
  virtual void write_file(const std::string& path, const std::string& content) = 0;
  // A file or a whole directory; absent is fine.
  virtual void remove_path(const std::string& path) = 0;

  // Enablement, for many units in one call where the backend allows. True when something changed on disk
  // (a running manager then needs a daemon-reload to see it).
  virtual bool enable(const std::vector<std::string>& units) = 0;
  virtual bool disable(const std::vector<std::string>& units) = 0;
  virtual bool mask(const std::vector<std::string>& units) = 0;
  virtual bool unmask(const std::vector<std::string>& units) = 0;
  virtual void daemon_reload() = 0;
  // Queue a job for every unit (all before waiting, as `systemctl start A B` does) and wait for them. Returns
  // the units whose job failed, each with systemd's own reason; throws when the calls themselves fail.
  using Failures = std::map<std::string, std::string>;
  virtual Failures start(const std::vector<std::string>& units) = 0;
  virtual Failures stop(const std::vector<std::string>& units) = 0;
  virtual Failures restart(const std::vector<std::string>& units) = 0;

  // Removes what a killed writer left behind in /etc/systemd/system and its subdirectories: the temporary
  // files and links ("NAME.op-dbus-tmp-PID", sys::kTempMarker) of processes that no longer run. Returns their
  // in-system paths. Only the --root backend has any (apply calls it offline, never a plan); the default does
  // nothing.
  virtual std::vector<std::string> clean_stale_temporaries() { return {}; }
};

// How the plugin reaches the host; the default picks the live backend, or the --root one.
using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_live_backend(Context& ctx);
std::unique_ptr<Backend> make_root_backend(const std::filesystem::path& root);

}  // namespace opdbus::systemd
