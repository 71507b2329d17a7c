// The live firewall backend: libnftables through src/sys/nftables.h.
#include "error.h"
#include "firewall/backend.h"
#include "firewall/model.h"
#include "sys/nftables.h"
#include "sys/rootdir.h"
#include "text.h"

namespace opdbus::firewall {
namespace {

class LiveBackend : public Backend {
 public:
  // A table that is never there: nft asks the kernel for it alone ("list tables" would fetch every rule and
  // set element of every table first), so the answer says whether nftables works here, cheaply.
  std::string describe() override {
    auto r = sys::nft_run(
        "{\"nftables\":[{\"list\":{\"table\":{\"family\":\"inet\",\"name\":\"op_dbus_probe\"}}}]}");
    if (r.rc != 0 && r.error.find("No such file or directory") == std::string::npos) {
      throw Error(ErrorKind::Unavailable, "nftables: " + trim(r.error));
    }
    return "nftables (libnftables), table inet op_dbus";
  }

  std::optional<std::string> list_table() override {
    std::string cmd = std::string("{\"nftables\":[{\"list\":{\"table\":{\"family\":\"") + kFamily +
                      "\",\"name\":\"" + kTable + "\"}}}]}";
    auto r = sys::nft_run(cmd);
    if (r.rc == 0) return r.output;
    if (r.error.find("No such file or directory") != std::string::npos) return std::nullopt;
    throw Error(ErrorKind::BackendError, "nft list table inet op_dbus: " + trim(r.error));
  }

  void run_batch(const std::string& batch) override {
    sys::nft_run_checked(batch, "nft: replacing table inet op_dbus");
  }

  BootFiles read_boot() override { return firewall::read_boot(root()); }
  void write_boot(const std::string& batch) override { firewall::write_boot(root(), batch); }
  void remove_boot() override { firewall::remove_boot(root()); }

 private:
  const sys::RootDir& root() {
    if (!root_) root_ = std::make_unique<sys::RootDir>("/");
    return *root_;
  }
  std::unique_ptr<sys::RootDir> root_;
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  (void)ctx;
  return std::make_unique<LiveBackend>();
}

}  // namespace opdbus::firewall
