// Block devices through libblkid and sysfs: what is on a device (filesystem, partition table, label, UUID),
// wiping those signatures, the devices the kernel knows, and finding a device by LABEL=, UUID=, PARTLABEL= or
// PARTUUID=.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sys/rootdir.h"

namespace opdbus::sys {

struct Signature {
  std::string type;    // blkid TYPE: "ext4", "btrfs", "vfat", "swap", "xfs", "LVM2_member", ...; "" if none
  std::string label;   // LABEL
  std::string uuid;    // UUID ("ABCD-1234" for vfat)
  std::string pttype;  // "gpt" / "dos" when the device carries a partition table
  std::string part_name;    // PART_ENTRY_NAME (GPT partition name) when the device is a partition
  std::string part_uuid;    // PART_ENTRY_UUID
  bool ambivalent = false;  // several filesystem signatures: blkid will not say which one is real

  bool empty() const { return type.empty() && pttype.empty() && !ambivalent; }
};

// Everything blkid finds on `path` (a block device or an image file), read-only. Throws BackendError if the
// device cannot be opened.
Signature probe_signature(const std::string& path);

// Erases every signature blkid finds (filesystems, RAID and LVM labels, partition tables), like `wipefs -a`.
// Returns what was erased, for the log.
std::vector<std::string> wipe_signatures(const std::string& path);

struct BlockDevice {
  std::string name;   // kernel name: "vda", "vda2", "loop0", "nvme0n1p1"
  std::string path;   // "/dev/vda2"
  uint64_t size = 0;  // bytes
  bool partition = false;
  std::string parent;  // for a partition: the disk's kernel name
  int number = 0;      // for a partition: its number
};

// Every block device in /sys/class/block with a size, except RAM disks, zram, floppies and optical drives.
// Sorted by name.
std::vector<BlockDevice> list_block_devices();

// The kernel device node of partition `number` of `disk` (found through sysfs), or nullopt.
std::optional<std::string> partition_node(const std::string& disk, int number);

// A device named as the storage section allows: a path (symlinks such as /dev/disk/by-id/... are resolved),
// LABEL=, UUID=, PARTLABEL= or PARTUUID=. Returns the canonical path, or nullopt when nothing matches.
// Throws Conflict when a tag matches more than one device.
std::optional<std::string> resolve_device(const std::string& spec);

// Size in bytes of a block device or a regular file.
uint64_t device_size(const std::string& path);

bool is_block_device(const std::string& path);

// Opens a block device with O_EXCL added to `flags`: the kernel refuses while it (or, for a disk, any of its
// partitions) is mounted in any mount namespace or held by another exclusive opener (mkfs, a device mapper
// or md holder). A refusal throws Conflict saying by what the device is used, when that can be found
// (device_users). A regular file is opened without O_EXCL (image files have no such guard).
Fd open_exclusive(const std::string& path, int flags);

// What is known to use a block device and its partitions: holders in sysfs ("held by dm-0") and mounts in
// this mount namespace ("/dev/loop3 mounted on /mnt"); "" when nothing is visible from here.
std::string device_users(const std::string& path);

// False where the kernel keeps no partitions for `disk`: an image file, or a loop device without partition
// scanning. Writing a table there changes the table only; no partition devices appear.
bool kernel_partitions(const std::string& disk);

}  // namespace opdbus::sys
