// The storage section as typed values. The document format has shorthands (a partition's "filesystem" and
// "mount", a subvolume's "mount"); normalise() expands them, so check, diff and query each see one filesystem
// per device and one mount per mount point:
//
//   devices.DEV.partitions[i].filesystem  -> filesystems[partition_path(DEV, number)]
//   devices.DEV.partitions[i].mount       -> mounts[mount] = {device: partition_path(DEV, number)}
//   btrfs_subvolumes.DEV[i].mount         -> mounts[mount] = {device: DEV, subvol: name}
//
// A mount point named in several places merges field by field: mounts.* wins over a subvolume's mount, which
// wins over a partition's mount (the roadmap mounts partition 2 at "/" and its subvolume "@" at "/" too: the
// subvolume is what is mounted). Contradictions (two devices for one mount point, two types for one
// filesystem) are errors.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "diagnostic.h"
#include "json.h"
#include "storage/size.h"

namespace opdbus::storage {

// ---- partition types
// ----------------------------------------------------------------------------------------

// The canonical form of a partition type for a table: a GPT type GUID in upper case, or an MBR type code as
// "0x83". Accepts the names (efi, linux, swap, bios_grub, lvm, raid), GUIDs in any case, and "0x83"/"83".
// nullopt when the name has no meaning for that table (bios_grub on msdos) or the text is not a type.
std::optional<std::string> partition_type_code(const std::string& table, const std::string& type);
// The reverse, for show: the name when the code has one, else the code itself.
std::string partition_type_name(const std::string& table, const std::string& code);

// "/dev/sda" + 2 -> "/dev/sda2"; "/dev/nvme0n1" -> "/dev/nvme0n1p2"; "/dev/disk/by-id/X" -> ".../X-part2".
std::string partition_path(const std::string& disk, int number);

// Filesystem types op-dbus creates.
bool creatable_filesystem(const std::string& type);
// The longest label each type stores (vfat 11, xfs 12, ext4 16, swap 16, btrfs 255).
size_t max_label_length(const std::string& type);

// ---- the desired section
// ------------------------------------------------------------------------------------

struct PartitionSpec {
  int number = 0;
  Size size;
  std::optional<uint64_t> start;
  std::string type = "linux";  // as written (a name or a code)
  std::optional<std::string> label;
  size_t index = 0;  // position in the document's list
  bool observe = false;
};

struct DeviceSpec {
  std::string key;
  std::string table = "gpt";  // "gpt" or "msdos"
  bool has_table = false;     // "partition_table" or "partitions" given
  bool wipe = false;
  std::optional<uint64_t> size;
  std::vector<PartitionSpec> partitions;
  bool observe = false;
};

struct FilesystemSpec {
  std::string key;  // the device, as the document names it
  std::string type;
  std::optional<std::string> label;
  std::optional<std::string> uuid;
  std::vector<std::string> options;  // extra mkfs arguments
  bool wipe = false;                 // its own "wipe", or its device's when it comes from a partition
  bool observe = false;
  std::vector<std::string> origin;  // pointer tokens of where it is declared (for messages)
};

struct SubvolumeSpec {
  std::string device;
  std::string name;  // normalised: no leading or trailing '/'
  bool absent = false;
  std::optional<std::string> mount;
  bool observe = false;
  size_t index = 0;  // position in the document's list
};

struct MountSpec {
  std::string target;
  std::string device;
  std::optional<std::string> subvol;
  std::vector<std::string> options;  // without subvol= and "defaults"
  std::optional<std::string> fstype;
  std::string state = "mounted";  // mounted, present, unmounted, absent
  bool fstab = true;
  bool observe = false;
  std::vector<std::string> origin;
};

struct Section {
  std::map<std::string, DeviceSpec> devices;
  std::map<std::string, FilesystemSpec> filesystems;
  std::map<std::string, std::vector<SubvolumeSpec>> subvolumes;
  std::map<std::string, MountSpec> mounts;
};

struct Problem {
  std::vector<std::string> tokens;  // pointer into the section
  std::string message;
};

// Expands and checks the section's structure (contradictions, impossible requests).
Section normalise(const JsonValue& section, std::vector<Problem>* problems);

// ---- check.cc: what check() reports; diff() refuses a section with any of these ------------------------

// normalise()'s problems and those of every value that reaches a device, a file line or a tool.
std::vector<Problem> section_problems(const JsonValue& section, Section* normalised);
void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out);
// Each returns why the value is refused, or nullopt. `path_only`: a path under /dev, no LABEL= etc.
std::optional<std::string> device_name_problem(const std::string& spec, bool path_only);
std::optional<std::string> mount_point_problem(const std::string& target);
// `argv`: the label is handed to a tool as an argument.
std::optional<std::string> label_problem(const std::string& label, bool argv);
std::optional<std::string> subvolume_problem(const std::string& name);
std::optional<std::string> fstype_problem(const std::string& type);
std::optional<std::string> mount_option_problem(const std::string& option);
// `previous`: the option before it (a separate value is accepted only after a flag without one).
std::optional<std::string> mkfs_option_problem(const std::string& option, const std::string* previous);
// The first refused option of a list, quoted, with the reason.
std::optional<std::string> mkfs_options_problem(const std::vector<std::string>& options);

// ---- the current section (query output or a saved `show`) ------------------------------------------------

struct CurrentPartition {
  int number = 0;
  uint64_t start = 0;  // bytes; 0 when not reported
  uint64_t size = 0;   // bytes
  std::string type;    // as reported: a name or a code
  std::string label;
};

struct CurrentDevice {
  std::optional<std::string> table;  // "gpt" / "msdos"; nullopt: no partition table
  std::optional<uint64_t> size;
  std::vector<CurrentPartition> partitions;
  const CurrentPartition* find(int number) const;
};

struct CurrentFilesystem {
  std::string type;  // blkid's TYPE, or "<pttype> partition table"
  std::string label;
  std::string uuid;
};

struct CurrentMount {
  std::string device;
  std::optional<std::string> subvol;
  std::vector<std::string> options;
  std::optional<std::string> fstype;
  std::string state = "mounted";  // mounted or unmounted
  bool fstab = true;
};

struct CurrentSection {
  std::map<std::string, CurrentDevice> devices;
  std::map<std::string, CurrentFilesystem> filesystems;
  std::map<std::string, std::set<std::string>> subvolumes;
  std::map<std::string, CurrentMount> mounts;
};

CurrentSection parse_current(const JsonValue& current);

// ---- small shared helpers
// -----------------------------------------------------------------------------------

// "compress=zstd:3,noatime" -> {"compress=zstd:3", "noatime"}; drops "defaults" and empty items; subvol=X is
// removed and returned through `subvol` when given.
std::vector<std::string> split_options(const std::string& options,
                                       std::optional<std::string>* subvol = nullptr);
std::string join_options(const std::vector<std::string>& options);
// Option lists compare as sets.
bool same_options(std::vector<std::string> a, std::vector<std::string> b);
// "@", "/@", "@/" -> "@".
std::string normalise_subvol(std::string name);
// Options the kernel never lists in mountinfo: they are for mount(8), systemd or fstab readers ("nofail",
// "x-systemd.automount", "noauto", ...).
bool userspace_mount_option(const std::string& option);
// A path without "." parts, doubled or trailing slashes, to compare mount points ("/srv/" == "/srv").
std::string normal_path(const std::string& path);
// Path components of a mount point: "/" 0, "/home" 1, "/var/lib/x" 3.
int path_depth(const std::string& path);

}  // namespace opdbus::storage
