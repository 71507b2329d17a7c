// The live firewall backend: libnftables through src/sys/nftables.h.
#include "error.h"
#include "firewall/backend.h"
#include "firewall/model.h"
#include "sys/nftables.h"
#include "text.h"

namespace opdbus::firewall {
namespace {

class LiveBackend : public Backend {
 public:
  std::string describe() override {
    auto r = sys::nft_run("{\"nftables\":[{\"list\":{\"tables\":{\"family\":\"inet\"}}}]}");
    if (r.rc != 0) throw Error(ErrorKind::Unavailable, "nftables: " + trim(r.error));
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
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  (void)ctx;
  return std::make_unique<LiveBackend>();
}

}  // namespace opdbus::firewall
