// A directory tree reached the way a chroot would reach it. Every path handed to a RootDir is an in-system
// path ("/etc/systemd/system/web.service") and is resolved inside the root with openat2(RESOLVE_IN_ROOT):
// an absolute symlink inside the tree means <root>/<target>, and ".." never climbs above the root. So a
// `--root DIR` whose directories are symlinks pointing out of DIR still only ever touches DIR.
//
// This is the one way plugins, the journal and the lock reach files under a root (the live system is the
// root "/"). Nothing else builds host paths by joining strings.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opdbus::sys {

// An owned file descriptor (closed on destruction).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

enum class FileKind { None, File, Directory, Symlink, Other };

struct FileStat {
  FileKind kind = FileKind::None;
  mode_t mode = 0;  // permission bits only
  uid_t uid = 0;
  gid_t gid = 0;
  off_t size = 0;
};

struct DirEntry {
  std::string name;
  FileKind kind = FileKind::Other;  // of the entry itself (symlinks are not followed)
};

class RootDir {
 public:
  // Opens `root` (a host path). Throws Error(Unavailable) if it is not a directory.
  explicit RootDir(std::filesystem::path root);

  const std::filesystem::path& path() const { return root_; }
  // True when the root is the running system's "/".
  bool is_host() const { return root_ == "/"; }

  // ---- reading (symlinks are followed, inside the root)
  // The file's contents, or nullopt if it (or a directory on the way) does not exist.
  std::optional<std::string> read_file(std::string_view path) const;
  // The entry itself (a symlink is reported as one), or nullopt if absent.
  std::optional<FileStat> lstat(std::string_view path) const;
  // What the path leads to, following symlinks inside the root; nullopt if absent or dangling.
  std::optional<FileStat> stat(std::string_view path) const;
  std::optional<std::string> read_link(std::string_view path) const;
  // Entries sorted by name; empty if the directory does not exist.
  std::vector<DirEntry> list_dir(std::string_view path) const;
  // The in-system path a path resolves to ("/etc/systemd/system" -> "/srv/units" when it is a symlink there).
  // Only for paths that exist; nullopt otherwise.
  std::optional<std::string> resolve(std::string_view path) const;
  // The host path of an existing directory after resolution inside the root, for the few calls that need one
  // (mount(2) targets, tools run from outside). nullopt if absent.
  std::optional<std::filesystem::path> host_path(std::string_view path) const;

  // ---- writing (parents are created 0755 as needed; every step stays inside the root)
  // temp file in the same directory + fsync + rename + fsync of the directory. A symlink at `path` is
  // replaced, not followed. `mode` is applied exactly (umask does not apply).
  void write_file(std::string_view path, std::string_view content, mode_t mode = 0644) const;
  // Like write_file, but keeps the mode, owner and group of the file it replaces, if there is one.
  void replace_file(std::string_view path, std::string_view content, mode_t mode_if_new = 0644) const;
  void make_dirs(std::string_view path, mode_t mode = 0755) const;
  // Creates or replaces the symlink `link` -> `target` (target is stored verbatim).
  void symlink(std::string_view target, std::string_view link) const;
  // Removes a file or symlink (never follows it). False if it was not there.
  bool remove(std::string_view path) const;
  // Removes a file, symlink or a whole directory tree (never following symlinks). False if absent.
  bool remove_all(std::string_view path) const;
  // Removes a directory if it is empty. False if it was not there or not empty.
  bool remove_empty_dir(std::string_view path) const;
  void rename(std::string_view from, std::string_view to) const;
  void chown(std::string_view path, uid_t uid, gid_t gid) const;
  void chmod(std::string_view path, mode_t mode) const;

  // ---- descriptors, for callers that need more than the above (the journal, the lock)
  // open(2) flags and mode; the path is resolved inside the root. O_CREAT creates the parents first.
  // Throws on failure, except that ENOENT without O_CREAT returns an empty Fd.
  Fd open(std::string_view path, int flags, mode_t mode = 0644) const;
  // A directory (O_PATH) inside the root, created with its parents if `create`; empty Fd if absent.
  Fd open_dir(std::string_view path, bool create = false, mode_t mode = 0755) const;

  // Leftover temporary files ("NAME.op-dbus-tmp-PID") of processes that no longer run, in one directory;
  // removed, and their names returned.
  std::vector<std::string> clean_stale_temporaries(std::string_view dir) const;

 private:
  // The directory holding `path`'s last component (created if `create`), and that component.
  std::pair<Fd, std::string> parent_of(std::string_view path, bool create) const;
  // An O_PATH descriptor of what `path` leads to inside the root; empty if absent or dangling.
  Fd open_existing(std::string_view path) const;

  std::filesystem::path root_;
  Fd root_fd_;
};

// The suffix of temporary files written by RootDir (and anything else in op-dbus that writes atomically).
inline constexpr std::string_view kTempMarker = ".op-dbus-tmp-";

}  // namespace opdbus::sys
