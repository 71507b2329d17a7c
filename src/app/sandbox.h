// `op-dbus sandbox`: a throwaway Debian 12 container (systemd-nspawn, its own network namespace, a real
// systemd and system bus) built from a cached rootfs; op-dbus and the state are copied in and run there.
#pragma once

#include <string>
#include <vector>

namespace opdbus {

struct SandboxOptions {
  std::string state_file;            // may be empty with --exec or --prepare
  bool keep = false;                 // leave the container running and print how to enter/stop it
  bool shell = false;                // after the run, open an interactive shell inside
  std::vector<std::string> exec;     // run these shell commands inside instead of plan -> apply -> plan
  std::vector<std::string> bind_ro;  // "HOST[:DEST]" read-only binds into the container
  bool prepare_only = false;         // build/refresh the cached rootfs and print its path
  std::vector<std::string> include;  // extra Debian packages installed into the image (part of its key)
  std::string nat;                   // --nat NAME: a way out through the host (veth + NAT), see sandbox.md
  bool json = false;                 // machine-readable verdict on stdout
  bool color = false;
  int verbosity = 0;
  std::string self_exe;  // the op-dbus binary to copy in (default /proc/self/exe)
};

// Returns the process exit code: 0 verdict ok, 1 failure (with the reason printed), or the --exec status.
int run_sandbox(const SandboxOptions& options);

}  // namespace opdbus
