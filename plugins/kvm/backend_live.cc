// The live kvm backend: libvirt's C API through src/sys/libvirt.h, connected on first use to
// $LIBVIRT_DEFAULT_URI, else qemu:///system.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "error.h"
#include "kvm/backend.h"
#include "sys/process.h"
#include "sys/rootdir.h"

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
  // The files go to a private directory beside the ISO; genisoimage writes NAME.tmp, renamed over NAME.
  void write_seed(const std::string& path, const SeedFiles& files) override {
    sys::RootDir host("/");
    auto slash = path.rfind('/');
    std::string dir = path.substr(0, slash), base = path.substr(slash + 1);
    host.make_dirs(dir, 0711);
    std::string work = dir + "/." + base + ".d";
    host.remove_all(work);
    host.make_dirs(work, 0700);
    host.write_file(work + "/meta-data", files.meta_data, 0600);
    host.write_file(work + "/user-data", files.user_data, 0600);
    std::vector<std::string> argv{
        "genisoimage", "-quiet",  "-output", path + ".tmp",       "-volid",
        "cidata",      "-joliet", "-rock",   work + "/meta-data", work + "/user-data"};
    if (!files.network_config.empty()) {
      host.write_file(work + "/network-config", files.network_config, 0600);
      argv.push_back(work + "/network-config");
    }
    try {
      sys::run_checked(argv);
    } catch (const Error& e) {
      host.remove_all(work);
      throw e.with_context("writing the cloud-init seed " + path);
    }
    host.remove_all(work);
    host.chmod(path + ".tmp", 0644);
    host.rename(path + ".tmp", path);
  }
  void remove_seed(const std::string& path) override { sys::RootDir("/").remove(path); }
  bool file_exists(const std::string& path) override {
    auto st = sys::RootDir("/").stat(path);
    return st && st->kind == sys::FileKind::File;
  }
  std::optional<Image> image(const std::string& path) override {
    sys::RootDir host("/");
    auto st = host.stat(path);
    if (!st || st->kind != sys::FileKind::File) return std::nullopt;
    sys::Fd fd = host.open(path, O_RDONLY | O_CLOEXEC);
    if (!fd) return std::nullopt;
    unsigned char h[32] = {};
    ssize_t n = ::pread(fd.get(), h, sizeof h, 0);
    Image image{"raw", static_cast<uint64_t>(st->size)};
    // A qcow2 header: "QFI\xfb", then the virtual size as a big-endian 64-bit number at byte 24.
    if (n == static_cast<ssize_t>(sizeof h) && h[0] == 'Q' && h[1] == 'F' && h[2] == 'I' && h[3] == 0xfb) {
      image.format = "qcow2";
      image.size = 0;
      for (int i = 24; i < 32; ++i) image.size = (image.size << 8) | h[i];
    }
    return image;
  }
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
