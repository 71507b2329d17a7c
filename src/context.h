// The one object every pass and every plugin receives: options, the target root, loggers, and the handles to
// the live system. No globals: a test builds a Context with a private bus address or a temporary root.
#pragma once

#include <spdlog/logger.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace opdbus {

namespace sys {
class Bus;
class Netlink;
}  // namespace sys

struct Options {
  std::filesystem::path root = "/";  // "/" = the live system; anything else = offline tree
  bool allow_destructive = false;
  bool json = false;
  bool color = false;                     // decided once from the terminal and --color
  int verbosity = 0;                      // -1 quiet, 0 normal, 1 verbose (-v), 2 trace (-vv)
  std::vector<std::string> only_plugins;  // --plugin, empty = all
  int confirm_timeout = 0;  // seconds to wait for `op-dbus confirm` before rolling back; 0 = no wait
};

class Context {
 public:
  explicit Context(Options options);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Options& options() const { return options_; }
  // True when acting on a mounted tree (--root) rather than the running system.
  bool offline() const;
  const std::filesystem::path& root() const { return options_.root; }
  // Files under the root are reached through sys::RootDir (src/sys/rootdir.h), never by joining paths.

  // The host name of the system acted on: gethostname() live; with --root, the first line of DIR/etc/hostname
  // (through sys::RootDir), or nullopt when the tree has none.
  std::optional<std::string> hostname() const;

  // Per-plugin logger writing to stderr at the configured verbosity; the name prefixes every line.
  spdlog::logger& logger(const std::string& name);

  // The system bus, connected on first use. Honours DBUS_SYSTEM_BUS_ADDRESS. Throws Unavailable.
  sys::Bus& system_bus();
  // Tests (and the daemon) replace how the bus is obtained.
  void set_bus_factory(std::function<std::unique_ptr<sys::Bus>()> factory);

  // An rtnetlink socket in this process's network namespace, opened on first use. Throws like
  // Netlink::open().
  sys::Netlink& netlink();
  void set_netlink_factory(std::function<std::unique_ptr<sys::Netlink>()> factory);

 private:
  Options options_;
  std::map<std::string, std::shared_ptr<spdlog::logger>> loggers_;
  std::function<std::unique_ptr<sys::Bus>()> bus_factory_;
  std::unique_ptr<sys::Bus> bus_;
  std::function<std::unique_ptr<sys::Netlink>()> netlink_factory_;
  std::unique_ptr<sys::Netlink> netlink_;
};

}  // namespace opdbus
