// Mounts through libmount: what is mounted (this process's mount namespace), mounting, remounting and
// unmounting, and a private scratch mount for work on a filesystem that is not mounted where we need it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace opdbus::sys {

struct MountInfo {
  std::string source;  // "/dev/vdc2"
  std::string target;  // "/mnt/x"
  std::string root;    // the mounted directory inside the filesystem: "/" or, for a btrfs subvolume, "/@home"
  std::string fstype;
  std::string options;  // VFS and filesystem options together: "rw,relatime,compress=zstd:3,subvol=/@home"
};

// /proc/self/mountinfo, in mount order (a later entry for the same target is on top).
std::vector<MountInfo> read_mountinfo();

// Mounts `source` on `target`. Options are a comma-separated string as in fstab; fstype may be empty (probe).
// Errors carry libmount's explanation ("wrong fs type, bad option, bad superblock ...").
void mount_fs(const std::string& source, const std::string& target, const std::string& fstype,
              const std::string& options);
// Changes the options of what is mounted on `target`.
void remount_fs(const std::string& target, const std::string& options);
void unmount(const std::string& target);

// A filesystem mounted on a fresh directory under /run/op-dbus for as long as the object lives. The directory
// is first bind-mounted onto itself and made private, so the mount does not propagate into other mount
// namespaces (a host with shared propagation never sees it), and it is unmounted and removed on destruction.
class PrivateMount {
 public:
  PrivateMount(const std::string& source, const std::string& fstype, const std::string& options);
  ~PrivateMount();
  PrivateMount(const PrivateMount&) = delete;
  PrivateMount& operator=(const PrivateMount&) = delete;

  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
  bool bound_ = false;
  bool mounted_ = false;
};

}  // namespace opdbus::sys
