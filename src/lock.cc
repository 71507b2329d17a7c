#include "lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "error.h"

namespace opdbus {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int err) {
  throw Error(
      err == EACCES || err == EPERM || err == EROFS ? ErrorKind::PermissionError : ErrorKind::BackendError,
      what + " " + path.string() + ": " + std::strerror(err));
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

std::filesystem::path ApplyLock::default_path() {
  const char* env = std::getenv("OPDBUS_LOCK_FILE");
  if (env && *env) return env;
  return "/run/lock/op-dbus.lock";
}

ApplyLock::ApplyLock(std::filesystem::path path) : path_(std::move(path)) {
  if (path_.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    if (ec) fail("create directory", path_.parent_path(), ec.value());
  }
  int fd = ::open(path_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) fail("open lock file", path_, errno);

  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      std::string pid = read_holder(fd);
      ::close(fd);
      throw Error(ErrorKind::Conflict, "another op-dbus apply is running (pid " +
                                           (pid.empty() ? "unknown" : pid) + ", lock " + path_.string() +
                                           ")");
    }
    ::close(fd);
    fail("lock", path_, err);
  }

  // Only the holder writes the pid, so a reader that lost the race sees the holder's pid, not its own.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int err = errno;
    ::close(fd);
    fail("write pid to", path_, err);
  }
  fd_ = fd;
}

ApplyLock::~ApplyLock() {
  if (fd_ < 0) return;
  // The file stays: unlinking it would let a waiter lock an orphaned inode while a newcomer locks a new one.
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace opdbus
