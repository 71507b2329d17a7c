// What the packagekit plugin needs from a system. Live (backend_live.cc): PackageKit over D-Bus
// (src/sys/packagekit.h). Offline, --root DIR (backend_root.cc): the tree's own apt-get under chroot
// (src/sys/apt.h). Both read the dpkg database and the repository files of their root through
// sys::RootDir. Tests hand the plugin a fake that records what it was asked.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "packagekit/ops.h"
#include "sys/rootdir.h"

namespace opdbus {
class Context;
}

namespace opdbus::packagekit {

// What the package manager says about one name.
struct Resolved {
  std::optional<std::string> installed;  // version
  std::vector<std::string> available;    // installable versions, the candidate first; empty = unknown name
};

class Backend {
 public:
  virtual ~Backend() = default;
  // One line for `op-dbus plugins`; throws Unavailable when the package manager cannot be used here.
  virtual std::string describe() = 0;
  // The files of the root (live "/" or --root DIR): repositories, keys, the dpkg database.
  virtual const sys::RootDir& root() = 0;
  // A transaction without progress for this long fails (seconds).
  virtual void set_stall_timeout(int seconds) = 0;
  // Every name in one query.
  virtual std::map<std::string, Resolved> resolve(const std::vector<std::string>& names) = 0;
  virtual void refresh_cache() = 0;
  // One transaction each; a failure throws Error(BackendError) with the package manager's own reason.
  // install() first checks every name is known (after a refresh) and installs nothing otherwise.
  virtual void install(const std::vector<PackageRef>& packages, bool allow_downgrade) = 0;
  virtual void remove(const std::vector<std::string>& names) = 0;
  virtual void upgrade(const std::vector<std::string>& names) = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_live_backend(Context& ctx);
std::unique_ptr<Backend> make_root_backend(Context& ctx);

// Reports the progress of a transaction on stderr: a progress bar on a terminal, otherwise one line per
// step and status (progress.cc).
class ProgressReporter {
 public:
  ProgressReporter(bool terminal, bool quiet);
  ~ProgressReporter();
  void update(const std::string& step, const std::string& status, int percentage, const std::string& package);
  // A line of its own (apt's "Setting up hello ..."), clearing a bar first.
  void line(const std::string& text);
  void finish();

 private:
  bool terminal_, quiet_;
  bool bar_shown_ = false;
  std::string last_;
};

}  // namespace opdbus::packagekit
