// One apply at a time per tree: an exclusive flock held for the life of the object.
//   the live system   /run/op-dbus/apply.lock ($OPDBUS_LOCK_FILE overrides it, for tests)
//   --root DIR        DIR/var/lib/op-dbus/apply.lock, beside DIR's journal, reached through sys::RootDir
// so two trees never block each other nor a live apply. (Not DIR/run: bootstrap bind-mounts the host's /run
// there, which would make the tree's lock the host's.)
//
// The lock directory must belong to us (or root) and be writable by nobody else; the lock file is opened with
// O_NOFOLLOW, must be a regular file of ours with one link, and is never truncated. Anything else (a symlink
// planted at the lock path, a file created first by another user, a FIFO) is refused with a message that says
// what was found and what to do, and nothing it points to is touched.
#pragma once

#include <filesystem>
#include <string>

namespace opdbus {

namespace sys {
class RootDir;
}

class ApplyLock {
 public:
  // The lock of the tree `root` (see above). Takes it without waiting; throws Error(Conflict) naming the
  // holder's pid if another apply holds it, Error(PermissionError) for a foreign or unsafe lock file.
  explicit ApplyLock(const sys::RootDir& root);
  // A lock at an explicit host path (its directory is checked the same way).
  explicit ApplyLock(const std::filesystem::path& path);
  ~ApplyLock();
  ApplyLock(const ApplyLock&) = delete;
  ApplyLock& operator=(const ApplyLock&) = delete;

  // Where the lock is, for messages (a host path).
  const std::filesystem::path& path() const { return path_; }

  // $OPDBUS_LOCK_FILE or /run/op-dbus/apply.lock: the live system's lock.
  static std::filesystem::path live_path();
  // In-tree path of an offline tree's lock.
  static constexpr const char* kTreeLock = "/var/lib/op-dbus/apply.lock";

 private:
  void lock_path(const std::filesystem::path& path);
  // Locks `name` inside the directory `dir_fd` (already checked); `path_` is set for messages.
  void lock_in(int dir_fd, const std::string& name);

  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace opdbus
