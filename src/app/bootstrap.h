// `op-dbus bootstrap DEVICE STATE`: a blank disk becomes an installed, configured Debian system.
// Stages (bootstrap_model.h): check -> storage -> base -> configure -> chroot -> packages -> plugins ->
// op-dbus -> bootloader -> finish. Each is printed when it starts and ends, with its duration; a failure
// names the stage and the tool's own output, and everything mounted under the target is unmounted on every
// exit path. See docs/bootstrap.md.
#pragma once

#include <string>

#include "state.h"

namespace opdbus {

struct BootstrapOptions {
  std::string device;      // DEVICE from the command line ("" = bootstrap.device)
  std::string state_file;  // STATE
  bool dry_run = false;    // print the stages and their plans, write nothing
  bool allow_destructive = false;
  std::string deb;             // the op-dbus .deb installed into the target
  std::string cache_dir;       // downloaded .debs, kept between runs ("" = /var/cache/op-dbus/bootstrap)
  bool no_cache = false;       // neither use nor write the base-system and installed-system caches
  bool prepare_cache = false;  // only make the cache entries for STATE, in a scratch tree (no disk)
  std::string target;          // where the target is mounted ("" = /run/op-dbus/bootstrap/target)
  bool no_finish = false;      // skip the document's poweroff/reboot (tests, a manual check first)
  bool json = false;
  bool color = false;
  int verbosity = 0;
  LoadLimits limits;
};

// Returns the exit code: 0 installed (or dry run printed), 1 error (the failed stage is named).
int run_bootstrap(const BootstrapOptions& options);

}  // namespace opdbus
