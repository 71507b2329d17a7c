#include "sys/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "error.h"

namespace opdbus::sys {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int err) {
  fail_errno(what, path.string(), err);
}

void make_parents(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) fail("create directory", path.parent_path(), ec.value());
}

}  // namespace

void fail_errno(const std::string& what, const std::string& where, int err) {
  throw Error(
      err == EACCES || err == EPERM || err == EROFS ? ErrorKind::PermissionError : ErrorKind::BackendError,
      what + " " + where + ": " + std::strerror(err));
}

void write_all(int fd, std::string_view data, const std::string& where) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("write", where, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void atomic_write(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  make_parents(path);
  std::string tmp = path.string() + ".op-dbus-tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("create", tmp, errno);
  try {
    write_all(fd, content, tmp);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("sync", tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("rename into", path, err);
  }
  int dfd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT || !std::filesystem::exists(path)) return std::nullopt;
    fail("open", path, errno);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void append_line(const std::filesystem::path& path, std::string_view line, mode_t mode) {
  make_parents(path);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
  if (fd < 0) fail("open", path, errno);
  std::string buf(line);
  buf += '\n';
  try {
    write_all(fd, buf, path.string());
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    fail("sync", path, err);
  }
  ::close(fd);
}

}  // namespace opdbus::sys
