// Reading the host (through a Backend) into the section's own format, so diff() can compare it with the
// document and `show` can print it.
//
//   devices.DEV           {partition_table, size, partitions: [{number, start, size, type, label}]}
//   filesystems.DEV       {type, label, uuid}: whatever blkid finds, including signatures op-dbus does not
//                         create ("LVM2_member", "gpt partition table") so the diff can refuse to destroy
//                         them
//   btrfs_subvolumes.DEV  [{name}] for a btrfs filesystem
//   mounts.MOUNTPOINT     {device, subvol, options, fstype, state: mounted|unmounted, fstab: false when only
//                         mounted}
//
// With a desired section, items are reported under the document's own names: a device the document calls
// "LABEL=root" is reported as "LABEL=root", and an fstab line "UUID=..." for that filesystem reports its
// device as "LABEL=root" -- equivalent names compare equal, so the plan does not flap. Partitioned devices
// that do not exist are an error; filesystems, subvolumes and mounts that do not exist yet are simply not
// reported.
//
// Without one (show): every disk with its table, every filesystem of a type op-dbus creates, every btrfs
// filesystem's subvolumes, and every fstab entry for a block device. Schema-valid, and plans to nothing.
#pragma once

#include "json.h"
#include "storage/backend.h"

namespace opdbus::storage {

JsonDoc query_section(Backend& host, const JsonValue* desired);

// The type string the diff compares: blkid's TYPE, "<table> partition table", or "" when nothing is there.
std::string signature_type(const sys::Signature& s);

}  // namespace opdbus::storage
