// The one backend, live ("/") and offline (--root DIR) alike: files through sys::RootDir.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "error.h"
#include "sys/process.h"
#include "users/backend.h"

namespace opdbus::users {
namespace {

class FcntlLock : public DbLock {
 public:
  explicit FcntlLock(sys::Fd fd) : fd_(std::move(fd)) {}
  ~FcntlLock() override {
    struct flock fl {};
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    (void)::fcntl(fd_.get(), F_OFD_SETLK, &fl);
  }

 private:
  sys::Fd fd_;
};

// nscd's pid file names a running process.
bool nscd_runs() {
  sys::RootDir host("/");
  auto text = host.read_file("/run/nscd/nscd.pid");
  if (!text) return false;
  try {
    long pid = std::stol(*text);
    return pid > 1 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
  } catch (const std::exception&) {
    return false;
  }
}

class RootBackend : public Backend {
 public:
  explicit RootBackend(const std::filesystem::path& root) : root_(root) {}

  std::string describe() override {
    auto st = root_.stat("/etc/passwd");
    if (!st || st->kind != sys::FileKind::File) {
      throw Error(ErrorKind::Unavailable, "no /etc/passwd under " + root_.path().string());
    }
    return "account databases under " + root_.path().string();
  }

  const sys::RootDir& root() override { return root_; }

  void databases_changed(bool users, bool groups) override {
    if (!root_.is_host() || !nscd_runs()) return;
    // Best effort: nscd also notices the files itself (inotify) in current glibc.
    try {
      if (users) sys::run({"nscd", "-i", "passwd"});
      if (groups) sys::run({"nscd", "-i", "group"});
    } catch (const std::exception&) {
    }
  }

  std::unique_ptr<DbLock> lock() override {
    auto fd = root_.open("/etc/.pwd.lock", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    // An open file description lock: it conflicts with lckpwdf's (a classic fcntl lock on the same file), and
    // a child that inherits the descriptor holds it too (apply.cc's rename_together()).
    while (::fcntl(fd.get(), F_OFD_SETLK, &fl) != 0) {
      if (errno != EACCES && errno != EAGAIN && errno != EINTR) {
        throw Error(ErrorKind::BackendError,
                    std::string("cannot lock /etc/.pwd.lock: ") + std::strerror(errno));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw Error(ErrorKind::Conflict, "/etc/.pwd.lock is held by another program (waited 15 s)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::make_unique<FcntlLock>(std::move(fd));
  }

 private:
  sys::RootDir root_;
};

}  // namespace

std::unique_ptr<Backend> make_root_backend(const std::filesystem::path& root) {
  return std::make_unique<RootBackend>(root);
}

}  // namespace opdbus::users
