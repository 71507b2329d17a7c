// What the firewall plugin needs from a system: read table inet op_dbus, run one nftables batch, and keep the
// boot files. The live implementation (backend_live.cc) goes through libnftables (src/sys/nftables.h), the
// --root one (backend_root.cc) renders for boot only; tests hand the plugin a fake.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "firewall/model.h"
#include "firewall/persist.h"

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
  // The table read without libnftables' listing (decode_table in model.h: straight from the kernel's
  // nf_tables dump, a fraction of the listing's cost): present or not, and the section it holds. nullopt
  // when it cannot be read so (a shape the decoder does not read, a ruleset changing while it is read):
  // the caller then lists the table (list_table) and parses that.
  virtual std::optional<CurrentTable> decode_table() { return std::nullopt; }
  // Runs one JSON batch as one transaction; a refusal throws Error(BackendError) with nft's own message and
  // changes nothing.
  virtual void run_batch(const std::string& batch) = 0;
  // The boot files (persist.h): what is there, writing them (the batch, the unit, enabled), removing them.
  virtual BootFiles read_boot() = 0;
  virtual void write_boot(const std::string& batch) = 0;
  virtual void remove_boot() = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_live_backend(Context& ctx);
// With --root DIR: the table is the boot file under DIR (what the installed system loads at boot); nothing
// reaches the running kernel.
std::unique_ptr<Backend> make_root_backend(Context& ctx);

}  // namespace opdbus::firewall
