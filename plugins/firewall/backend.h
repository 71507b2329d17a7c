// What the firewall plugin needs from a system: read table inet op_dbus and run one nftables batch. The live
// implementation (backend_live.cc) goes through libnftables (src/sys/nftables.h); tests hand the plugin a
// fake.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace opdbus {
class Context;
}

namespace opdbus::firewall {

class Backend {
 public:
  virtual ~Backend() = default;
  // One line for `op-dbus plugins`. Throws Unavailable when nftables cannot be used here.
  virtual std::string describe() = 0;
  // `list table inet op_dbus` as nft's JSON; nullopt when the table does not exist.
  virtual std::optional<std::string> list_table() = 0;
  // Runs one JSON batch as one transaction; a refusal throws Error(BackendError) with nft's own message and
  // changes nothing.
  virtual void run_batch(const std::string& batch) = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_live_backend(Context& ctx);

}  // namespace opdbus::firewall
