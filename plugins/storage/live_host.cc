#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "context.h"
#include "error.h"
#include "storage/host.h"
#include "sys/btrfs.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace opdbus::storage {
namespace {

namespace fs = std::filesystem;

class LiveHost : public StorageHost {
 public:
  explicit LiveHost(Context& ctx) : ctx_(ctx) {}

  std::string describe() override {
    if (!fs::is_directory("/sys/class/block")) {
      throw Error(ErrorKind::Unavailable, "/sys/class/block is missing: no sysfs here");
    }
    std::string where = ctx_.offline() ? "; mount points and fstab under " + ctx_.root().string() : "";
    return "libfdisk, libblkid, libmount, libbtrfsutil" + where;
  }

  std::optional<std::string> resolve(const std::string& spec) override { return sys::resolve_device(spec); }
  std::vector<sys::BlockDevice> block_devices() override { return sys::list_block_devices(); }
  std::optional<std::string> partition_node(const std::string& disk, int number) override {
    return sys::partition_node(disk, number);
  }
  sys::Signature probe(const std::string& device) override { return sys::probe_signature(device); }
  sys::PartitionTable read_table(const std::string& device) override {
    return sys::read_partition_table(device);
  }
  void write_table(const std::string& device, const sys::TableEdit& edit) override {
    sys::write_partition_table(device, edit);
  }

  void settle(const std::string& disk, const std::vector<int>& numbers) override {
    if (!sys::kernel_partitions(disk)) return;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (int n : numbers) {
      while (!sys::partition_node(disk, n)) {
        if (std::chrono::steady_clock::now() > deadline) {
          throw Error(ErrorKind::BackendError, disk + ": partition " + std::to_string(n) +
                                                   " did not appear in /dev after the table was written");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    // udev makes the /dev/disk/by-* links; wait for it when it runs, and never fail because it does not.
    if (fs::exists("/run/udev/control")) {
      try {
        sys::run({"udevadm", "settle", "--timeout=15"});
      } catch (const Error&) {
      }
    }
  }

  std::vector<std::string> wipe(const std::string& device) override { return sys::wipe_signatures(device); }

  void run(const std::vector<std::string>& argv) override { sys::run_checked(argv); }

  std::vector<std::string> subvolumes(const std::string& device) override {
    // Read-only is enough to list; a filesystem mounted read-write elsewhere may refuse a read-only twin.
    std::unique_ptr<sys::PrivateMount> top;
    try {
      top = std::make_unique<sys::PrivateMount>(device, "btrfs", "ro,subvolid=5");
    } catch (const Error&) {
      top = std::make_unique<sys::PrivateMount>(device, "btrfs", "subvolid=5");
    }
    return sys::list_subvolumes(top->path());
  }
  void create_subvolume(const std::string& device, const std::string& name) override {
    sys::PrivateMount top(device, "btrfs", "subvolid=5");
    fs::path p = top.path() / name;
    if (sys::is_subvolume(p)) return;
    sys::create_subvolume(p);
  }
  void delete_subvolume(const std::string& device, const std::string& name) override {
    sys::PrivateMount top(device, "btrfs", "subvolid=5");
    fs::path p = top.path() / name;
    if (!fs::exists(p)) return;
    sys::delete_subvolume(p);
  }

  std::vector<sys::MountInfo> mounts() override { return sys::read_mountinfo(); }
  void mount(const std::string& source, const std::string& target, const std::string& fstype,
             const std::string& options) override {
    sys::mount_fs(source, target, fstype, options);
  }
  void remount(const std::string& target, const std::string& options) override {
    sys::remount_fs(target, options);
  }
  void unmount(const std::string& target) override { sys::unmount(target); }
  void make_directory(const std::string& path) override {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) throw Error(ErrorKind::BackendError, "creating " + path + ": " + ec.message());
  }

  std::string host_path(const std::string& system_path) override {
    return ctx_.in_root(system_path).string();
  }
  std::optional<std::string> read_file(const std::string& system_path) override {
    return sys::read_file(ctx_.in_root(system_path));
  }
  void write_file(const std::string& system_path, const std::string& content) override {
    sys::atomic_write(ctx_.in_root(system_path), content, 0644);
  }

 private:
  Context& ctx_;
};

}  // namespace

std::unique_ptr<StorageHost> make_live_host(Context& ctx) {
  return std::make_unique<LiveHost>(ctx);
}

}  // namespace opdbus::storage
