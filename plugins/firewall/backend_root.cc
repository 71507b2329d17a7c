// The firewall backend for --root DIR: the table of the installed system is what its boot file loads. Reading
// parses /etc/op-dbus/firewall.json back into a listing; "running" a batch writes it there. Every file is
// reached through sys::RootDir (symlinks in DIR stay inside DIR); the running kernel is never touched.
#include "context.h"
#include "firewall/backend.h"
#include "sys/rootdir.h"

namespace opdbus::firewall {
namespace {

class RootBackend : public Backend {
 public:
  explicit RootBackend(const std::filesystem::path& root) : root_(root) {}

  std::string describe() override {
    return std::string("rendered for boot under ") + root_.path().string() + ": " + kBootFile + ", " +
           kUnitName;
  }
  std::optional<std::string> list_table() override {
    auto batch = root_.read_file(kBootFile);
    if (!batch) return std::nullopt;
    return listing_from_batch(*batch);
  }
  void run_batch(const std::string& batch) override { root_.write_file(kBootFile, batch, 0600); }
  BootFiles read_boot() override { return firewall::read_boot(root_); }
  void write_boot(const std::string& batch) override { firewall::write_boot(root_, batch); }
  void remove_boot() override { firewall::remove_boot(root_); }

 private:
  sys::RootDir root_;
};

}  // namespace

std::unique_ptr<Backend> make_root_backend(Context& ctx) {
  return std::make_unique<RootBackend>(ctx.root());
}

}  // namespace opdbus::firewall
