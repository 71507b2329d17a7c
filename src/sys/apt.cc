#include "sys/apt.h"

#include <sys/mount.h>

#include "error.h"
#include "sys/mounts.h"
#include "sys/rootdir.h"

namespace opdbus::sys {
namespace {

constexpr const char* kPolicy = "usr/sbin/policy-rc.d";
constexpr const char* kPolicyAside = "usr/sbin/policy-rc.d.op-dbus-saved";
constexpr const char* kPolicyScript =
    "#!/bin/sh\n# op-dbus: no service starts inside a tree being installed offline\nexit 101\n";

const std::vector<std::string> kEnv = {"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8",
                                       "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};

}  // namespace

struct AptChroot::Impl {
  const RootDir& root;
  std::vector<std::filesystem::path> mounted;  // host paths, in mount order
  bool policy_written = false, policy_saved = false;

  explicit Impl(const RootDir& r) : root(r) {}

  void mount_one(const std::string& dir, const std::string& source, const std::string& fstype,
                 const std::string& options) {
    root.make_dirs(dir);
    auto target = root.host_path(dir);
    if (!target)
      throw Error(ErrorKind::BackendError, "cannot reach /" + dir + " inside " + root.path().string());
    // Already mounted there (op-dbus bootstrap binds /proc, /sys and /dev for all its stages): used as it
    // is, and left for whoever mounted it.
    for (const auto& m : read_mountinfo()) {
      if (m.target == target->string()) return;
    }
    mount_fs(source, target->string(), fstype, options);
    mounted.push_back(*target);
  }

  void undo() noexcept {
    for (auto it = mounted.rbegin(); it != mounted.rend(); ++it) {
      try {
        unmount(it->string());
      } catch (...) {
        ::umount2(it->c_str(), MNT_DETACH);  // busy (a daemon the package left running): detach it
      }
    }
    mounted.clear();
    try {
      if (policy_written) root.remove(kPolicy);
      if (policy_saved) root.rename(kPolicyAside, kPolicy);
    } catch (...) {
    }
    policy_written = policy_saved = false;
  }
};

AptChroot::AptChroot(const RootDir& root) : impl_(std::make_unique<Impl>(root)) {
  try {
    impl_->mount_one("proc", "proc", "proc", "nosuid,nodev,noexec");
    impl_->mount_one("sys", "sysfs", "sysfs", "ro,nosuid,nodev,noexec");
    impl_->mount_one("dev", "/dev", "", "bind");
    if (root.lstat(kPolicy)) {
      root.rename(kPolicy, kPolicyAside);
      impl_->policy_saved = true;
    }
    impl_->policy_written = true;
    root.write_file(kPolicy, kPolicyScript, 0755);
  } catch (...) {
    impl_->undo();
    throw;
  }
}

AptChroot::~AptChroot() {
  impl_->undo();
}

CommandResult AptChroot::run(const std::vector<std::string>& argv,
                             const std::function<void(const std::string&)>& on_line) {
  std::vector<std::string> full = {"chroot", impl_->root.path().string()};
  full.insert(full.end(), argv.begin(), argv.end());
  RunOptions o;
  o.env = kEnv;
  o.on_line = on_line;
  return sys::run(full, o);
}

CommandResult run_in_chroot(const RootDir& root, const std::vector<std::string>& argv) {
  std::vector<std::string> full = {"chroot", root.path().string()};
  full.insert(full.end(), argv.begin(), argv.end());
  RunOptions o;
  o.env = kEnv;
  return sys::run(full, o);
}

}  // namespace opdbus::sys
