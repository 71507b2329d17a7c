#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "context.h"
#include "error.h"
#include "storage/backend.h"
#include "sys/btrfs.h"
#include "sys/process.h"
#include "sys/rootdir.h"

namespace opdbus::storage {
namespace {

namespace fs = std::filesystem;

class LiveBackend : public Backend {
 public:
  explicit LiveBackend(Context& ctx) : ctx_(ctx) {}

  std::string describe() override {
    if (!fs::is_directory("/sys/class/block")) {
      throw Error(ErrorKind::Unavailable, "/sys/class/block is missing: no sysfs here");
    }
    std::string where = ctx_.offline() ? "; mount points and fstab under " + ctx_.root().string() : "";
    return "libfdisk, libblkid, libmount, libbtrfsutil" + where;
  }

  // Only block devices: a regular file (an image) or a directory named as a device is refused.
  std::optional<std::string> resolve(const std::string& spec) override {
    auto dev = sys::resolve_device(spec);
    if (dev && !sys::is_block_device(*dev)) {
      throw Error(ErrorKind::InvalidArgument,
                  spec + (*dev != spec ? " (" + *dev + ")" : "") +
                      " is not a block device; op-dbus partitions and formats block devices only (attach an "
                      "image with losetup first)");
    }
    return dev;
  }
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

  void check_unused(const std::string& device, const std::string& doing) override {
    try {
      sys::open_exclusive(device, O_RDONLY);
    } catch (const Error& e) {
      throw Error(e.kind(), std::string(e.what()) + "; refusing to " + doing);
    }
  }

  // From an empty directory of its own, so that no relative name among the options can reach a file.
  void run(const std::vector<std::string>& argv) override {
    std::string dir = "/tmp/op-dbus-tool-XXXXXX";
    if (!::mkdtemp(dir.data())) {
      throw Error(ErrorKind::BackendError,
                  "cannot create a directory under /tmp: " + std::string(std::strerror(errno)));
    }
    std::vector<std::string> in_dir{"env", "-C", dir, "--"};
    in_dir.insert(in_dir.end(), argv.begin(), argv.end());
    try {
      sys::run_checked(in_dir);
    } catch (...) {
      ::rmdir(dir.c_str());
      throw;
    }
    ::rmdir(dir.c_str());
  }

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

  // The root is opened afresh for every call: a filesystem mounted on the root (or on a directory on the way)
  // since the last call is then seen, as a chroot would see it.
  std::optional<std::string> mount_point(const std::string& target) override {
    if (!root_exists()) return std::nullopt;
    auto p = root().host_path(target);
    if (!p) return std::nullopt;
    return p->string();
  }
  std::string make_mount_point(const std::string& target) override {
    sys::RootDir r = root(true);
    r.make_dirs(target);
    auto p = r.host_path(target);
    if (!p) throw Error(ErrorKind::BackendError, "mount point " + target + " vanished after it was created");
    return p->string();
  }
  void mount(const std::string& source, const std::string& host_target, const std::string& fstype,
             const std::string& options) override {
    sys::mount_fs(source, host_target, fstype, options);
  }
  void remount(const std::string& host_target, const std::string& options) override {
    sys::remount_fs(host_target, options);
  }
  void unmount(const std::string& host_target) override { sys::unmount(host_target); }

  std::optional<std::string> read_file(const std::string& system_path) override {
    if (!root_exists()) return std::nullopt;
    return root().read_file(system_path);
  }
  void write_file(const std::string& system_path, const std::string& content) override {
    root(true).replace_file(system_path, content, 0644);
  }

 private:
  // The directory given as --root may not exist yet (bootstrap's target: mounting "/" there makes it); it is
  // the operator's own path, so it is created as named, and everything under it through the RootDir.
  bool root_exists() const { return fs::is_directory(ctx_.root()); }
  sys::RootDir root(bool create = false) const {
    if (create && !root_exists()) {
      std::error_code ec;
      fs::create_directories(ctx_.root(), ec);
      if (ec) throw Error(ErrorKind::BackendError, "creating " + ctx_.root().string() + ": " + ec.message());
    }
    return sys::RootDir(ctx_.root());
  }

  Context& ctx_;
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  return std::make_unique<LiveBackend>(ctx);
}

}  // namespace opdbus::storage
