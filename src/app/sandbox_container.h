// One sandbox container: a copy-on-write copy of the cached image booted with systemd-nspawn in its own
// network namespace, commands run inside with nsenter, and everything torn down again.
//
// Process layout: op-dbus forks a *keeper* (own session, so a terminal's Ctrl-C goes to op-dbus only) whose
// single child is systemd-nspawn. The keeper forwards SIGTERM to nspawn (which then shuts the container
// down), escalates to SIGKILL, and when op-dbus is gone (--keep, or op-dbus was killed) unmounts and removes
// the run directory itself once the container has stopped. So nothing is ever killed by name, and no run
// directory outlives its container.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "app/sandbox_support.h"

namespace opdbus::sandbox {

struct BindRo {
  std::filesystem::path host;  // absolute
  std::string dest;            // absolute path inside; empty = same as host
  std::string nspawn_arg() const;
};

// "HOST[:DEST]": HOST must exist (made absolute), DEST must be absolute. Throws Error(InvalidArgument).
BindRo parse_bind(const std::string& spec);

struct ContainerConfig {
  std::filesystem::path image;     // the cached rootfs: the read-only lower layer
  std::filesystem::path self_exe;  // copied to /usr/local/bin/op-dbus
  std::string state_file;          // copied to /root/state.json when set
  std::vector<BindRo> binds;
  // --keep: the container may outlive op-dbus. Otherwise it is stopped even if op-dbus itself is killed.
  bool keep = false;
  // --nat NAME: a veth pair (host side NAME, eth0 inside) and masquerading through the nft table `ip NAME`,
  // so the container reaches what the host reaches; the host's resolv.conf is copied in. Empty: only lo.
  std::string nat;
};

class Container {
 public:
  static constexpr const char* kStateInside = "/root/state.json";
  static constexpr const char* kBinaryInside = "/usr/local/bin/op-dbus";

  Container(ContainerConfig config, const Reporter& report);
  ~Container();  // stop(), unless kept
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  // The run directory, the writable root and the files inside it.
  void create();
  // Starts nspawn and waits until systemd inside reports running or degraded.
  void boot(int timeout_seconds);
  // Runs argv inside the container as root in /root, with a clean environment (plus OPDBUS_STATE).
  ChildResult exec(const std::vector<std::string>& argv, const ChildOptions& options = {});
  // Leaves the container running after op-dbus exits (needs config.keep).
  void detach() { kept_ = true; }
  // Shuts the container down and removes the run directory. Never throws; problems become warnings.
  void stop() noexcept;

  const std::string& name() const { return name_; }
  pid_t nspawn_pid() const { return nspawn_pid_; }
  pid_t leader() const { return leader_; }
  std::filesystem::path root() const { return run_dir_ / "root"; }
  const std::filesystem::path& run_dir() const { return run_dir_; }

 private:
  void setup_root();
  void setup_nat();
  void write_files();
  void start_keeper();
  bool keeper_exited();
  void reap_orphans();
  std::string console_tail(size_t lines) const;
  std::string system_state();

  ContainerConfig config_;
  const Reporter& report_;
  std::string name_;
  std::filesystem::path run_dir_;
  bool overlay_ = false;
  pid_t keeper_pid_ = 0;
  pid_t nspawn_pid_ = 0;
  pid_t leader_ = 0;
  bool kept_ = false;
};

// Whether processes that nsenter started are still inside the container whose PID 1 is `leader`.
bool has_entered_processes(pid_t leader);

// --nat names: a lower-case letter, then letters, digits and '-', at most 15 (a network interface name).
bool valid_nat_name(const std::string& name);
// Undoes what --nat set up for the run directory `run_dir` (its nft table, the veth if still there, and
// ip_forward when this sandbox switched it on and no other running one needs it). Never throws.
void release_nat(const std::filesystem::path& run_dir) noexcept;

// Removes run directories under /var/tmp whose op-dbus and keeper are both gone (after a crash or power
// loss).
void remove_stale_run_dirs(const Reporter& report);

}  // namespace opdbus::sandbox
