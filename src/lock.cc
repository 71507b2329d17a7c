#include "lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "error.h"
#include "sys/fs.h"
#include "sys/rootdir.h"

namespace opdbus {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int err) {
  sys::fail_errno(what, path.string(), err);
}

[[noreturn]] void refuse(const std::string& message) {
  throw Error(ErrorKind::PermissionError, message);
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool ours(uid_t uid) {
  return uid == ::geteuid() || uid == 0;
}

// The lock directory decides who can put things at the lock path: it must be ours and writable by nobody
// else, or another user could plant a symlink or a file there between two runs.
void check_dir(int fd, const std::filesystem::path& dir) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) refuse("lock directory " + dir.string() + " is not a directory");
  if (!ours(st.st_uid)) {
    refuse("lock directory " + dir.string() + " belongs to uid " + std::to_string(st.st_uid) +
           ", not to this user or root; another user could replace the lock there. Remove it (or give it to "
           "root) and run again");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    refuse("lock directory " + dir.string() + " is writable by other users (mode " + octal(st.st_mode) +
           "); make it 0700 (chmod 0700 " + dir.string() + ") and run again");
  }
}

// The holder's pid as written in the lock file; empty when it cannot be read (it may be mid-write).
std::string read_holder(int fd) {
  char buf[32];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  std::string text(buf, static_cast<size_t>(n));
  size_t end = text.find_first_not_of("0123456789");
  return text.substr(0, end);
}

}  // namespace

std::filesystem::path ApplyLock::live_path() {
  const char* env = std::getenv("OPDBUS_LOCK_FILE");
  if (env && *env) return env;
  return "/run/op-dbus/apply.lock";
}

ApplyLock::ApplyLock(const sys::RootDir& root) {
  if (root.is_host()) {
    lock_path(live_path());
    return;
  }
  // The journal directory of the tree: private, like the journal itself.
  root.make_dirs("/var/lib", 0755);
  root.make_dirs("/var/lib/op-dbus", 0700);
  sys::Fd dir = root.open_dir("/var/lib/op-dbus");
  std::filesystem::path shown = root.path() / "var/lib/op-dbus";
  if (!dir) fail("open lock directory", shown, ENOENT);
  check_dir(dir.get(), shown);
  path_ = shown / "apply.lock";
  lock_in(dir.get(), "apply.lock");
}

ApplyLock::ApplyLock(const std::filesystem::path& path) {
  lock_path(path);
}

void ApplyLock::lock_path(const std::filesystem::path& path) {
  path_ = path;
  std::filesystem::path dir = path_.parent_path().empty() ? "." : path_.parent_path();
  std::string name = path_.filename().string();
  if (name.empty() || name == "." || name == "..") {
    throw Error(ErrorKind::InvalidArgument, "lock path " + path_.string() + " names no file");
  }
  // A missing directory is created private; an existing one is checked, never changed.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail("create lock directory", dir, errno);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail("open lock directory", dir, errno);
  sys::Fd guard(dfd);
  check_dir(dfd, dir);
  lock_in(dfd, name);
}

void ApplyLock::lock_in(int dir_fd, const std::string& name) {
  // O_NOFOLLOW: a symlink at the lock path is refused, its target never opened. O_NONBLOCK: a FIFO there must
  // not hang us. No O_TRUNC: whatever the file is, its contents are not destroyed before it is checked.
  int fd = ::openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP) {
      refuse("lock file " + path_.string() +
             " is a symbolic link, not a lock file (left there by someone else?). Its target was not "
             "touched; remove the link (rm " +
             path_.string() + ") and run again");
    }
    fail("open lock file", path_, err);
  }
  sys::Fd guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("stat", path_, errno);
  if (!S_ISREG(st.st_mode)) {
    refuse("lock file " + path_.string() + " is not a regular file; remove it and run again");
  }
  if (st.st_uid != ::geteuid()) {
    refuse("lock file " + path_.string() + " belongs to uid " + std::to_string(st.st_uid) +
           ", not to this user (created by someone else?); remove it (rm " + path_.string() +
           ") and run again");
  }
  if (st.st_nlink != 1) {
    refuse("lock file " + path_.string() + " has " + std::to_string(st.st_nlink) +
           " hard links (it is another file too); remove it and run again");
  }

  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      std::string pid = read_holder(fd);
      std::string holder = pid.empty() ? "pid unknown" : "pid " + pid;
      if (!pid.empty() && ::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH) {
        // The writer is gone but the lock is held: a child that inherited it, or another process.
        holder = "held by another process; pid " + pid + " that wrote it has exited, see `fuser " +
                 path_.string() + "`";
      }
      throw Error(ErrorKind::Conflict,
                  "another op-dbus apply is running (" + holder + ", lock " + path_.string() + ")");
    }
    fail("lock", path_, err);
  }

  // Only the holder writes its pid, so a reader that lost the race sees the holder's, not its own. Nothing is
  // truncated: a longer old pid leaves digits after the newline, which readers ignore.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    fail("write pid to", path_, errno);
  }
  fd_ = guard.release();
}

ApplyLock::~ApplyLock() {
  if (fd_ < 0) return;
  // The file stays: unlinking it would let a waiter lock an orphaned inode while a newcomer locks a new one.
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace opdbus
