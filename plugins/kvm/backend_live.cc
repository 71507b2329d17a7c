// The live kvm backend: libvirt's C API through src/sys/libvirt.h, connected on first use to
// $LIBVIRT_DEFAULT_URI, else qemu:///system.
#include <chrono>
#include <thread>

#include "kvm/backend.h"

namespace opdbus::kvm {
namespace {

class LiveBackend : public Backend {
 public:
  std::string describe() override { return lv().describe(); }
  std::vector<Domain> list_domains() override { return lv().list_domains(); }
  std::optional<Domain> domain(const std::string& name) override { return lv().domain(name); }
  std::vector<std::string> list_pools() override { return lv().list_pools(); }
  std::vector<Volume> list_volumes(const std::string& pool) override { return lv().list_volumes(pool); }
  void create_volume(const std::string& pool, const std::string& xml) override {
    lv().create_volume(pool, xml);
  }
  void resize_volume(const std::string& pool, const std::string& volume, uint64_t capacity) override {
    lv().resize_volume(pool, volume, capacity);
  }
  void delete_volume(const std::string& pool, const std::string& volume) override {
    lv().delete_volume(pool, volume);
  }
  void define_domain(const std::string& xml) override { lv().define_domain(xml); }
  void start(const std::string& name) override { lv().start(name); }
  void shutdown(const std::string& name) override { lv().shutdown(name); }
  void destroy(const std::string& name) override { lv().destroy(name); }
  void set_autostart(const std::string& name, bool on) override { lv().set_autostart(name, on); }
  void undefine(const std::string& name) override { lv().undefine(name); }
  std::optional<std::string> state(const std::string& name) override { return lv().state(name); }
  void sleep_ms(int ms) override { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

 private:
  sys::Libvirt& lv() {
    if (!conn_) conn_ = sys::Libvirt::open("");
    return *conn_;
  }
  std::unique_ptr<sys::Libvirt> conn_;
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  (void)ctx;
  return std::make_unique<LiveBackend>();
}

}  // namespace opdbus::kvm
