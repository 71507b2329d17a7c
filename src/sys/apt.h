// apt inside a mounted tree (offline installs under --root, where no packagekitd runs): the tree's own
// apt-get run under chroot(8) with /proc, /sys and /dev mounted for the duration and a policy-rc.d that
// refuses every service start, all undone on every exit path (an exception, a failed command, SIGINT).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sys/process.h"

namespace opdbus::sys {

class RootDir;

class AptChroot {
 public:
  // Mounts proc, sysfs and a bind of /dev inside `root` (directories resolved inside it, never following a
  // symlink out), and installs usr/sbin/policy-rc.d (exit 101), keeping aside one that was there. Whatever
  // was done is undone if a later step throws.
  explicit AptChroot(const RootDir& root);
  // Unmounts in reverse order and restores policy-rc.d.
  ~AptChroot();
  AptChroot(const AptChroot&) = delete;
  AptChroot& operator=(const AptChroot&) = delete;

  // `chroot ROOT argv...` with DEBIAN_FRONTEND=noninteractive, stdin /dev/null.
  CommandResult run(const std::vector<std::string>& argv,
                    const std::function<void(const std::string&)>& on_line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `chroot ROOT argv...` without mounts, for read-only queries (apt-cache policy).
CommandResult run_in_chroot(const RootDir& root, const std::vector<std::string>& argv);

}  // namespace opdbus::sys
