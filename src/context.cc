#include "context.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include "error.h"
#include "sys/bus.h"
#include "sys/netlink.h"
#include "sys/rootdir.h"
#include "text.h"

namespace opdbus {

Context::Context(Options options) : options_(std::move(options)) {
  bus_factory_ = [] { return sys::Bus::connect_system(); };
  netlink_factory_ = [] { return sys::Netlink::open(); };
}

Context::~Context() = default;

bool Context::offline() const {
  return options_.root != "/" && !options_.root.empty();
}

std::optional<std::string> Context::hostname() const {
  if (!offline()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    return std::string(host);
  }
  sys::RootDir tree(options_.root);
  // Only a small regular file: in a tree being bootstrapped, /dev may be the host's (a link to /dev/zero).
  auto st = tree.stat("/etc/hostname");
  if (!st || st->kind != sys::FileKind::File || st->size > 4096) return std::nullopt;
  std::string text = tree.read_file("/etc/hostname").value_or("");
  for (const auto& line : split(text, '\n')) {
    std::string name = trim(line);
    if (!name.empty() && name[0] != '#') return name;
  }
  return std::nullopt;
}

spdlog::logger& Context::logger(const std::string& name) {
  auto it = loggers_.find(name);
  if (it != loggers_.end()) return *it->second;
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (options_.color) {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto log = std::make_shared<spdlog::logger>(name, sink);
  log->set_pattern("%^%l%$ %n: %v");
  switch (options_.verbosity) {
    case -1:
      log->set_level(spdlog::level::warn);
      break;
    case 0:
      log->set_level(spdlog::level::info);
      break;
    case 1:
      log->set_level(spdlog::level::debug);
      break;
    default:
      log->set_level(spdlog::level::trace);
      break;
  }
  loggers_[name] = log;
  return *log;
}

sys::Bus& Context::system_bus() {
  if (!bus_) bus_ = bus_factory_();
  return *bus_;
}

void Context::set_bus_factory(std::function<std::unique_ptr<sys::Bus>()> factory) {
  bus_factory_ = std::move(factory);
  bus_.reset();
}

sys::Netlink& Context::netlink() {
  if (!netlink_) netlink_ = netlink_factory_();
  return *netlink_;
}

void Context::set_netlink_factory(std::function<std::unique_ptr<sys::Netlink>()> factory) {
  netlink_factory_ = std::move(factory);
  netlink_.reset();
}

}  // namespace opdbus
