// What the storage plugin needs from a host, as one small interface. The live implementation uses the
// wrappers in src/sys (libblkid, libfdisk, libmount, libbtrfsutil) and runs mkfs.* tools; mount points and
// /etc/fstab are joined under --root. Tests hand the plugin a fake that records what it was asked to do.
#pragma once

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

class StorageHost {
 public:
  virtual ~StorageHost() = default;

  // One line for `op-dbus plugins`. Throws Unavailable when the plugin cannot work here.
  virtual std::string describe() = 0;

  // ---- block devices
  // The canonical path of a device named by path, LABEL=, UUID=, PARTLABEL= or PARTUUID=; nullopt if none.
  virtual std::optional<std::string> resolve(const std::string& spec) = 0;
  virtual std::vector<sys::BlockDevice> block_devices() = 0;
  // The node of partition `number` of the disk at canonical path `disk`, once the kernel has it.
  virtual std::optional<std::string> partition_node(const std::string& disk, int number) = 0;
  virtual sys::Signature probe(const std::string& device) = 0;
  virtual sys::PartitionTable read_table(const std::string& device) = 0;
  virtual void write_table(const std::string& device, const sys::TableEdit& edit) = 0;
  // Waits until the kernel (and udev, when it runs) show the partitions just written.
  virtual void settle(const std::string& disk, const std::vector<int>& numbers) = 0;
  virtual std::vector<std::string> wipe(const std::string& device) = 0;
  // mkfs.* and the label tools; a failure throws with the tool's own output.
  virtual void run(const std::vector<std::string>& argv) = 0;

  // ---- btrfs (the filesystem's top level is mounted privately for the call)
  virtual std::vector<std::string> subvolumes(const std::string& device) = 0;
  virtual void create_subvolume(const std::string& device, const std::string& name) = 0;
  virtual void delete_subvolume(const std::string& device, const std::string& name) = 0;

  // ---- mounts; targets are host paths (already under --root)
  virtual std::vector<sys::MountInfo> mounts() = 0;
  virtual void mount(const std::string& source, const std::string& target, const std::string& fstype,
                     const std::string& options) = 0;
  virtual void remount(const std::string& target, const std::string& options) = 0;
  virtual void unmount(const std::string& target) = 0;
  virtual void make_directory(const std::string& path) = 0;

  // ---- the target system's files, by in-system path ("/etc/fstab")
  virtual std::string host_path(const std::string& system_path) = 0;
  virtual std::optional<std::string> read_file(const std::string& system_path) = 0;
  virtual void write_file(const std::string& system_path, const std::string& content) = 0;
};

std::unique_ptr<StorageHost> make_live_host(Context& ctx);

}  // namespace opdbus::storage
