// What the storage plugin needs from a system, as one small interface. The live implementation
// (backend_live.cc) uses the wrappers in src/sys (libblkid, libfdisk, libmount, libbtrfsutil) and runs mkfs.*
// tools; mount points and /etc/fstab are reached through sys::RootDir, inside --root. Tests hand the plugin a
// fake that records what it was asked to do.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sys/blockdev.h"
#include "sys/mounts.h"
#include "sys/partition.h"

namespace opdbus {
class Context;
}

namespace opdbus::storage {

class Backend {
 public:
  virtual ~Backend() = default;

  // One line for `op-dbus plugins`. Throws Unavailable when the plugin cannot work here.
  virtual std::string describe() = 0;

  // ---- block devices
  // The canonical path of a device named by path, LABEL=, UUID=, PARTLABEL= or PARTUUID=; nullopt if none.
  // Throws InvalidArgument when the name leads to something that is not a block device.
  virtual std::optional<std::string> resolve(const std::string& spec) = 0;
  virtual std::vector<sys::BlockDevice> block_devices() = 0;
  // The node of partition `number` of the disk at canonical path `disk`, once the kernel has it.
  virtual std::optional<std::string> partition_node(const std::string& disk, int number) = 0;
  virtual sys::Signature probe(const std::string& device) = 0;
  virtual sys::PartitionTable read_table(const std::string& device) = 0;
  // Writes through a descriptor opened with O_EXCL (refused while the device is mounted or held anywhere).
  virtual void write_table(const std::string& device, const sys::TableEdit& edit) = 0;
  // Waits until the kernel (and udev, when it runs) show the partitions just written.
  virtual void settle(const std::string& disk, const std::vector<int>& numbers) = 0;
  // Erases every signature, through an O_EXCL descriptor.
  virtual std::vector<std::string> wipe(const std::string& device) = 0;
  // Throws Conflict, saying by what when that can be found, if `device` is mounted or held anywhere (an
  // O_EXCL open fails). Called just before a tool that writes the device runs.
  virtual void check_unused(const std::string& device, const std::string& doing) = 0;
  // mkfs.* and the label tools; a failure throws with the tool's own output.
  virtual void run(const std::vector<std::string>& argv) = 0;

  // ---- btrfs (the filesystem's top level is mounted privately for the call)
  virtual std::vector<std::string> subvolumes(const std::string& device) = 0;
  virtual void create_subvolume(const std::string& device, const std::string& name) = 0;
  virtual void delete_subvolume(const std::string& device, const std::string& name) = 0;

  // ---- mounts. `target`s here are in-system paths ("/home"); mount(2) takes host paths.
  virtual std::vector<sys::MountInfo> mounts() = 0;
  // The host path the in-system `target` resolves to inside the root, as a chroot would resolve it; nullopt
  // when it does not exist (then nothing can be mounted there).
  virtual std::optional<std::string> mount_point(const std::string& target) = 0;
  // Creates `target` (and its parents) inside the root and returns its host path.
  virtual std::string make_mount_point(const std::string& target) = 0;
  virtual void mount(const std::string& source, const std::string& host_target, const std::string& fstype,
                     const std::string& options) = 0;
  virtual void remount(const std::string& host_target, const std::string& options) = 0;
  virtual void unmount(const std::string& host_target) = 0;

  // ---- the target system's files, by in-system path ("/etc/fstab"), resolved inside the root
  virtual std::optional<std::string> read_file(const std::string& system_path) = 0;
  virtual void write_file(const std::string& system_path, const std::string& content) = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_live_backend(Context& ctx);

}  // namespace opdbus::storage
