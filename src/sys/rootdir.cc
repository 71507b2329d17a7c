#include "sys/rootdir.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "error.h"
#include "sys/fs.h"

namespace opdbus::sys {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& where, int err) {
  fail_errno(what, where, err);
}

// The path's components, without "" and "."; ".." is kept (openat2 stops it at the root).
std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (!c.empty() && c != ".") out.emplace_back(c);
    i = j + 1;
  }
  return out;
}

std::string joined(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (!out.empty()) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

// The path relative to the root, as openat2 takes it ("." for the root itself).
std::string relative(std::string_view path) {
  auto parts = components(path);
  return joined(parts, parts.size());
}

int open_in_root(int root_fd, const std::string& rel, uint64_t flags, mode_t mode) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to try again.
    if (errno != EAGAIN && errno != EINTR) return -1;
  }
}

FileKind kind_of(mode_t m) {
  if (S_ISREG(m)) return FileKind::File;
  if (S_ISDIR(m)) return FileKind::Directory;
  if (S_ISLNK(m)) return FileKind::Symlink;
  return FileKind::Other;
}

FileStat to_stat(const struct stat& st) {
  FileStat s;
  s.kind = kind_of(st.st_mode);
  s.mode = st.st_mode & 07777;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.size = st.st_size;
  return s;
}

bool absent(int err) {
  return err == ENOENT || err == ENOTDIR;
}

std::string read_all(int fd, const std::string& where) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("read", where, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string temp_name(const std::string& name) {
  // Keep within NAME_MAX even for 255-byte names.
  std::string base = name.size() > 200 ? name.substr(0, 200) : name;
  return base + std::string(kTempMarker) + std::to_string(::getpid());
}

std::string fd_target(int fd) {
  char buf[PATH_MAX + 1];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, PATH_MAX);
  if (n < 0) fail("read", link, errno);
  return std::string(buf, static_cast<size_t>(n));
}

// Removes everything inside the directory `dfd` (symlinks are removed, never followed).
void empty_directory(int dfd, const std::string& where) {
  int fd = ::openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open", where, errno);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    fail("list", where, err);
  }
  std::vector<std::pair<std::string, bool>> entries;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    bool dir = ::fstatat(dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    entries.emplace_back(n, dir);
  }
  for (const auto& [n, dir] : entries) {
    if (dir) {
      int sub = ::openat(dirfd(d), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        int err = errno;
        ::closedir(d);
        fail("open", where + "/" + n, err);
      }
      Fd guard(sub);
      empty_directory(sub, where + "/" + n);
    }
    if (::unlinkat(dirfd(d), n.c_str(), dir ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
      int err = errno;
      ::closedir(d);
      fail("remove", where + "/" + n, err);
    }
  }
  ::closedir(d);
}

}  // namespace

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

RootDir::RootDir(std::filesystem::path root) : root_(std::move(root)) {
  if (root_.empty()) root_ = "/";
  int fd = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorKind::Unavailable, "root directory " + root_.string() + ": " + std::strerror(errno));
  }
  root_fd_ = Fd(fd);
}

std::pair<Fd, std::string> RootDir::parent_of(std::string_view path, bool create) const {
  auto parts = components(path);
  if (parts.empty() || parts.back() == "..") {
    throw Error(ErrorKind::InvalidArgument, "'" + std::string(path) + "' names no file inside the root");
  }
  std::string name = parts.back();
  std::string parent = joined(parts, parts.size() - 1);
  int fd = open_in_root(root_fd_.get(), parent, O_PATH | O_DIRECTORY, 0);
  if (fd < 0 && absent(errno) && create) {
    make_dirs("/" + parent);
    fd = open_in_root(root_fd_.get(), parent, O_PATH | O_DIRECTORY, 0);
  }
  if (fd < 0) {
    if (absent(errno)) return {Fd(), name};
    fail("open directory", (root_ / parent).string(), errno);
  }
  return {Fd(fd), name};
}

std::optional<std::string> RootDir::read_file(std::string_view path) const {
  std::string rel = relative(path);
  int fd = open_in_root(root_fd_.get(), rel, O_RDONLY, 0);
  if (fd < 0) {
    if (absent(errno)) return std::nullopt;
    fail("open", (root_ / rel).string(), errno);
  }
  Fd guard(fd);
  return read_all(fd, (root_ / rel).string());
}

std::optional<FileStat> RootDir::lstat(std::string_view path) const {
  auto parts = components(path);
  if (parts.empty()) return stat(path);
  auto [pfd, name] = parent_of(path, false);
  if (!pfd) return std::nullopt;
  struct stat st;
  if (::fstatat(pfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (absent(errno)) return std::nullopt;
    fail("stat", (root_ / std::string(path).substr(1)).string(), errno);
  }
  return to_stat(st);
}

Fd RootDir::open_existing(std::string_view path) const {
  std::string rel = relative(path);
  int fd = open_in_root(root_fd_.get(), rel, O_PATH, 0);
  if (fd < 0) {
    if (absent(errno) || errno == ELOOP) return Fd();
    fail("open", (root_ / rel).string(), errno);
  }
  return Fd(fd);
}

std::optional<FileStat> RootDir::stat(std::string_view path) const {
  Fd fd = open_existing(path);
  if (!fd) return std::nullopt;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) fail("stat", (root_ / relative(path)).string(), errno);
  return to_stat(st);
}

std::optional<std::string> RootDir::read_link(std::string_view path) const {
  auto [pfd, name] = parent_of(path, false);
  if (!pfd) return std::nullopt;
  char buf[PATH_MAX + 1];
  ssize_t n = ::readlinkat(pfd.get(), name.c_str(), buf, PATH_MAX);
  if (n < 0) {
    if (absent(errno) || errno == EINVAL) return std::nullopt;
    fail("read link", std::string(path), errno);
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<DirEntry> RootDir::list_dir(std::string_view path) const {
  std::vector<DirEntry> out;
  std::string rel = relative(path);
  int fd = open_in_root(root_fd_.get(), rel, O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) {
    if (absent(errno)) return out;
    fail("list", (root_ / rel).string(), errno);
  }
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    fail("list", (root_ / rel).string(), err);
  }
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    DirEntry de;
    de.name = n;
    switch (e->d_type) {
      case DT_REG:
        de.kind = FileKind::File;
        break;
      case DT_DIR:
        de.kind = FileKind::Directory;
        break;
      case DT_LNK:
        de.kind = FileKind::Symlink;
        break;
      case DT_UNKNOWN: {
        struct stat st;
        de.kind = ::fstatat(dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 ? kind_of(st.st_mode)
                                                                                : FileKind::Other;
        break;
      }
      default:
        de.kind = FileKind::Other;
    }
    out.push_back(std::move(de));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

std::optional<std::filesystem::path> RootDir::host_path(std::string_view path) const {
  Fd fd = open_existing(path);
  if (!fd) return std::nullopt;
  return std::filesystem::path(fd_target(fd.get()));
}

std::optional<std::string> RootDir::resolve(std::string_view path) const {
  auto host = host_path(path);
  if (!host) return std::nullopt;
  std::string root = fd_target(root_fd_.get());
  std::string h = host->string();
  if (root == "/") return h;
  if (h == root) return "/";
  if (h.size() > root.size() && h.compare(0, root.size(), root) == 0 && h[root.size()] == '/') {
    return h.substr(root.size());
  }
  // Cannot happen with RESOLVE_IN_ROOT; refuse rather than hand out a path outside the root.
  throw Error(ErrorKind::Bug, "'" + std::string(path) + "' resolved outside " + root);
}

void RootDir::make_dirs(std::string_view path, mode_t mode) const {
  auto parts = components(path);
  Fd parent(::fcntl(root_fd_.get(), F_DUPFD_CLOEXEC, 0));
  for (size_t i = 1; i <= parts.size(); ++i) {
    std::string rel = joined(parts, i);
    int fd = open_in_root(root_fd_.get(), rel, O_PATH | O_DIRECTORY, 0);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(parent.get(), parts[i - 1].c_str(), mode) != 0 && errno != EEXIST) {
        fail("create directory", (root_ / rel).string(), errno);
      }
      fd = open_in_root(root_fd_.get(), rel, O_PATH | O_DIRECTORY, 0);
    }
    if (fd < 0) fail("create directory", (root_ / rel).string(), errno);
    parent = Fd(fd);
  }
}

void RootDir::write_file(std::string_view path, std::string_view content, mode_t mode) const {
  auto [pfd, name] = parent_of(path, true);
  std::string where = (root_ / std::string(path).substr(path.empty() || path[0] != '/' ? 0 : 1)).string();
  std::string tmp = temp_name(name);
  ::unlinkat(pfd.get(), tmp.c_str(), 0);
  int fd = ::openat(pfd.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) fail("create", where, errno);
  {
    Fd guard(fd);
    try {
      write_all(fd, content, where);
      if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) fail("sync", where, errno);
    } catch (...) {
      ::unlinkat(pfd.get(), tmp.c_str(), 0);
      throw;
    }
  }
  if (::renameat(pfd.get(), tmp.c_str(), pfd.get(), name.c_str()) != 0) {
    int err = errno;
    ::unlinkat(pfd.get(), tmp.c_str(), 0);
    fail("rename into", where, err);
  }
  int dfd = ::openat(pfd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void RootDir::replace_file(std::string_view path, std::string_view content, mode_t mode_if_new) const {
  auto old = lstat(path);
  if (!old || old->kind != FileKind::File) {
    write_file(path, content, mode_if_new);
    return;
  }
  write_file(path, content, old->mode);
  chown(path, old->uid, old->gid);
  chmod(path, old->mode);  // chown clears set-id bits
}

void RootDir::symlink(std::string_view target, std::string_view link) const {
  auto [pfd, name] = parent_of(link, true);
  std::string tmp = temp_name(name);
  ::unlinkat(pfd.get(), tmp.c_str(), 0);
  std::string t(target);
  if (::symlinkat(t.c_str(), pfd.get(), tmp.c_str()) != 0) fail("create link", std::string(link), errno);
  if (::renameat(pfd.get(), tmp.c_str(), pfd.get(), name.c_str()) != 0) {
    int err = errno;
    ::unlinkat(pfd.get(), tmp.c_str(), 0);
    fail("create link", std::string(link), err);
  }
}

bool RootDir::remove(std::string_view path) const {
  auto [pfd, name] = parent_of(path, false);
  if (!pfd) return false;
  if (::unlinkat(pfd.get(), name.c_str(), 0) != 0) {
    if (errno == ENOENT) return false;
    fail("remove", std::string(path), errno);
  }
  return true;
}

bool RootDir::remove_all(std::string_view path) const {
  auto [pfd, name] = parent_of(path, false);
  if (!pfd) return false;
  struct stat st;
  if (::fstatat(pfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (absent(errno)) return false;
    fail("stat", std::string(path), errno);
  }
  if (S_ISDIR(st.st_mode)) {
    int dfd = ::openat(pfd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) fail("open", std::string(path), errno);
    Fd guard(dfd);
    empty_directory(dfd, std::string(path));
  }
  if (::unlinkat(pfd.get(), name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
    fail("remove", std::string(path), errno);
  }
  return true;
}

bool RootDir::remove_empty_dir(std::string_view path) const {
  auto [pfd, name] = parent_of(path, false);
  if (!pfd) return false;
  if (::unlinkat(pfd.get(), name.c_str(), AT_REMOVEDIR) != 0) {
    if (errno == ENOENT || errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR) return false;
    fail("remove directory", std::string(path), errno);
  }
  return true;
}

void RootDir::rename(std::string_view from, std::string_view to) const {
  auto [ffd, fname] = parent_of(from, false);
  if (!ffd) fail("rename", std::string(from), ENOENT);
  auto [tfd, tname] = parent_of(to, true);
  if (::renameat(ffd.get(), fname.c_str(), tfd.get(), tname.c_str()) != 0) {
    fail("rename " + std::string(from) + " to", std::string(to), errno);
  }
}

void RootDir::chown(std::string_view path, uid_t uid, gid_t gid) const {
  auto [pfd, name] = parent_of(path, false);
  if (!pfd || ::fchownat(pfd.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
    fail("change owner of", std::string(path), pfd ? errno : ENOENT);
  }
}

void RootDir::chmod(std::string_view path, mode_t mode) const {
  auto [pfd, name] = parent_of(path, false);
  if (!pfd) fail("change mode of", std::string(path), ENOENT);
  int fd = ::openat(pfd.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail("change mode of", std::string(path), errno);
  Fd guard(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) fail("change mode of", std::string(path), errno);
  if (S_ISLNK(st.st_mode)) fail("change mode of", std::string(path), ELOOP);
  // fchmod() does not take O_PATH descriptors; the /proc link of this one names exactly this inode.
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  if (::chmod(proc.c_str(), mode) != 0) fail("change mode of", std::string(path), errno);
}

Fd RootDir::open(std::string_view path, int flags, mode_t mode) const {
  std::string rel = relative(path);
  if (flags & O_CREAT) parent_of(path, true);
  int fd = open_in_root(root_fd_.get(), rel, static_cast<uint64_t>(flags), mode);
  if (fd < 0) {
    if (errno == ENOENT && !(flags & O_CREAT)) return Fd();
    fail("open", (root_ / rel).string(), errno);
  }
  return Fd(fd);
}

Fd RootDir::open_dir(std::string_view path, bool create, mode_t mode) const {
  if (create) make_dirs(path, mode);
  std::string rel = relative(path);
  int fd = open_in_root(root_fd_.get(), rel, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) {
    if (absent(errno)) return Fd();
    fail("open directory", (root_ / rel).string(), errno);
  }
  return Fd(fd);
}

std::vector<std::string> RootDir::clean_stale_temporaries(std::string_view dir) const {
  std::vector<std::string> removed;
  for (const auto& e : list_dir(dir)) {
    size_t at = e.name.rfind(kTempMarker);
    if (at == std::string::npos || e.kind == FileKind::Directory) continue;
    std::string pid_text = e.name.substr(at + kTempMarker.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno == EPERM) continue;  // its writer still runs
    std::string p = std::string(dir) + "/" + e.name;
    if (remove(p)) removed.push_back(p);
  }
  return removed;
}

}  // namespace opdbus::sys
