// A small typed wrapper over liblxc's C API (lxc/lxccontainer.h): containers of one lxcpath, their config
// items, state, cgroup items and addresses, and the calls that create, clone, start, stop and destroy them.
// Nothing of liblxc's types leaks out. A refused call throws Error(BackendError) with liblxc's own error
// string when it gives one (and, for create, the template's last lines of output).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace opdbus::sys::lxc {

// liblxc's version ("5.0.2"), and its configured default lxcpath ("/var/lib/lxc").
std::string version();
std::string default_lxcpath();

// Names of the containers defined under `lxcpath` (sorted); empty when the directory does not exist.
std::vector<std::string> list_defined(const std::string& lxcpath);

// True when `path` is on a btrfs filesystem (a clone there can be a snapshot).
bool on_btrfs(const std::string& path);

// One id range of an unprivileged container: container ids [container, container+count) are host ids
// [host, host+count).
struct IdRange {
  bool uid = true;  // false: a gid range
  uint32_t container = 0;
  uint32_t host = 0;
  uint32_t count = 0;
};

// Moves the owners of every file under `dir` into the host ids of `maps` (a file owned by container id N is
// then owned by the host id N maps to; ids outside every range are left as they are), keeping setuid and
// setgid bits. Never follows a symlink and never crosses into another mount: a hostile tree cannot make it
// touch anything outside `dir`. File capabilities (security.capability) are dropped by the kernel on chown.
// Returns the number of entries changed.
size_t shift_ownership(const std::string& dir, const std::vector<IdRange>& maps);

// 1 when the host's memory controller is a cgroup v1 hierarchy (/sys/fs/cgroup/memory), else 2.
int cgroup_version();

struct CreateSpec {
  std::string template_name;               // "debian" or an absolute path to a template script
  std::string bdevtype;                    // "dir", "btrfs", ...; "" = liblxc's default
  std::vector<std::string> template_args;  // after "--": {"-r", "bookworm", "--mirror=..."}
};

class Container {
 public:
  Container(const std::string& lxcpath, const std::string& name);
  ~Container();
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  const std::string& name() const { return name_; }
  bool defined();
  bool running();
  std::string state();  // "RUNNING", "STOPPED", ...
  pid_t init_pid();     // -1 when not running

  // A config item as liblxc prints it (multi-valued keys: one value per line); nullopt when unset.
  std::optional<std::string> config_item(const std::string& key);
  // The value the running container uses (asks its monitor); nullopt when unset or not running.
  std::optional<std::string> running_config_item(const std::string& key);
  void set_config_item(const std::string& key, const std::string& value);
  void clear_config_item(const std::string& key);
  void save_config();

  // A cgroup file of the running container ("memory.limit_in_bytes"); nullopt when it cannot be read.
  std::optional<std::string> cgroup_item(const std::string& key);
  void set_cgroup_item(const std::string& key, const std::string& value);

  // Runs the template (its output is captured, never printed) and writes the container's config.
  void create(const CreateSpec& spec);
  // A new container `new_name` in the same lxcpath from this one; `snapshot` asks for a copy-on-write
  // snapshot (btrfs), otherwise the root filesystem is copied.
  void clone_to(const std::string& new_name, bool snapshot);
  // Starts in the background (daemonized, no file descriptor of ours inherited) and waits for RUNNING.
  void start(int timeout_seconds);
  // Clean shutdown (init's halt signal) within `timeout_seconds`, then a forced stop. True when the clean
  // shutdown was enough.
  bool shutdown_or_stop(int timeout_seconds);
  void destroy();
  // Addresses configured inside the container (read in its network namespace), e.g. {"10.0.3.5"}.
  std::vector<std::string> addresses(const std::string& family);

 private:
  std::string log_to_temporary(std::string* path);
  [[noreturn]] void fail(const std::string& what, const std::string& detail = "");
  std::string lxcpath_;
  std::string name_;
  struct Impl;
  Impl* c_;
};

}  // namespace opdbus::sys::lxc
