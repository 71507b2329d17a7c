#include "sys/lxc.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <lxc/lxccontainer.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "error.h"
#include "text.h"

namespace opdbus::sys::lxc {

struct Container::Impl {
  lxc_container* c = nullptr;
};

namespace {

std::string last_lines(const std::string& text, size_t n) {
  auto lines = split(trim(text), '\n');
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
  return join(lines, "\n");
}

// Runs `fn` with our stdout and stderr sent to a temporary file (liblxc runs templates and prints its own
// errors there), and returns what was written. Single-threaded callers only, as the whole program is.
template <typename Fn>
std::string captured(Fn&& fn) {
  std::fflush(stdout);
  std::fflush(stderr);
  FILE* tmp = std::tmpfile();
  if (!tmp) {
    fn();
    return "";
  }
  int saved_out = ::dup(1), saved_err = ::dup(2);
  ::dup2(fileno(tmp), 1);
  ::dup2(fileno(tmp), 2);
  auto restore = [&] {
    std::fflush(stdout);
    std::fflush(stderr);
    ::dup2(saved_out, 1);
    ::dup2(saved_err, 2);
    ::close(saved_out);
    ::close(saved_err);
  };
  try {
    fn();
  } catch (...) {
    restore();
    std::fclose(tmp);
    throw;
  }
  restore();
  std::string out;
  std::rewind(tmp);
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

}  // namespace

std::string version() {
  return lxc_get_version();
}

std::string default_lxcpath() {
  const char* p = lxc_get_global_config_item("lxc.lxcpath");
  return p ? p : "/var/lib/lxc";
}

std::vector<std::string> list_defined(const std::string& lxcpath) {
  struct stat st;
  if (::stat(lxcpath.c_str(), &st) != 0) return {};
  char** names = nullptr;
  int n = list_defined_containers(lxcpath.c_str(), &names, nullptr);
  if (n < 0) throw Error(ErrorKind::BackendError, "liblxc: cannot list the containers in " + lxcpath);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.emplace_back(names[i]);
    std::free(names[i]);
  }
  std::free(names);
  std::sort(out.begin(), out.end());
  return out;
}

bool on_btrfs(const std::string& path) {
  struct statfs st;
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == BTRFS_SUPER_MAGIC;
}

namespace {

std::optional<uint32_t> map_id(uint32_t id, bool uid, const std::vector<IdRange>& maps) {
  for (const auto& m : maps) {
    if (m.uid == uid && id >= m.container && uint64_t(id) < uint64_t(m.container) + m.count) {
      return m.host + (id - m.container);
    }
  }
  return std::nullopt;
}

// Shifts the entry `name` of the directory `dirfd` ("" = the directory itself), and recurses into
// subdirectories opened with O_NOFOLLOW on the same device.
size_t shift_at(int dirfd, const char* name, dev_t dev, const std::vector<IdRange>& maps, int depth) {
  if (depth > 256)
    throw Error(ErrorKind::BackendError, "shift ownership: directories nested deeper than 256");
  struct stat st;
  int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);
  if (::fstatat(dirfd, name, &st, flags) != 0) return 0;
  if (st.st_dev != dev) return 0;  // another mount: not ours to change
  size_t changed = 0;
  auto uid = map_id(st.st_uid, true, maps);
  auto gid = map_id(st.st_gid, false, maps);
  if (uid || gid) {
    if (::fchownat(dirfd, name, uid.value_or(st.st_uid), gid.value_or(st.st_gid), flags) != 0) {
      throw Error(ErrorKind::BackendError, std::string("shift ownership: chown ") + (*name ? name : ".") +
                                               ": " + std::strerror(errno));
    }
    // chown clears setuid/setgid; put them back (never on a symlink: fchmodat would follow it).
    if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID))) {
      ::fchmodat(dirfd, *name ? name : ".", st.st_mode & 07777, 0);
    }
    ++changed;
  }
  if (!S_ISDIR(st.st_mode)) return changed;
  int fd = *name ? ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : ::dup(dirfd);
  if (fd < 0) return changed;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return changed;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  try {
    for (const auto& n : names) changed += shift_at(::dirfd(d), n.c_str(), dev, maps, depth + 1);
  } catch (...) {
    ::closedir(d);
    throw;
  }
  ::closedir(d);
  return changed;
}

}  // namespace

size_t shift_ownership(const std::string& dir, const std::vector<IdRange>& maps) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    throw Error(ErrorKind::BackendError, "shift ownership: open " + dir + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(ErrorKind::BackendError, "shift ownership: stat " + dir + ": " + std::strerror(errno));
  }
  try {
    size_t n = shift_at(fd, "", st.st_dev, maps, 0);
    ::close(fd);
    return n;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

int cgroup_version() {
  struct stat st;
  return ::stat("/sys/fs/cgroup/memory", &st) == 0 && S_ISDIR(st.st_mode) ? 1 : 2;
}

Container::Container(const std::string& lxcpath, const std::string& name)
    : lxcpath_(lxcpath), name_(name), c_(new Impl) {
  c_->c = lxc_container_new(name.c_str(), lxcpath.c_str());
  if (!c_->c) {
    delete c_;
    throw Error(ErrorKind::BackendError, "liblxc: cannot open container '" + name + "' in " + lxcpath);
  }
}

Container::~Container() {
  lxc_container_put(c_->c);
  delete c_;
}

void Container::fail(const std::string& what, const std::string& detail) {
  std::string msg = "liblxc: " + what + " '" + name_ + "' failed";
  if (c_->c->error_string && *c_->c->error_string) msg += ": " + std::string(c_->c->error_string);
  if (!detail.empty()) msg += ":\n" + detail;
  throw Error(ErrorKind::BackendError, msg);
}

bool Container::defined() {
  return c_->c->is_defined(c_->c);
}

bool Container::running() {
  return c_->c->is_running(c_->c);
}

std::string Container::state() {
  const char* s = c_->c->state(c_->c);
  return s ? s : "UNKNOWN";
}

pid_t Container::init_pid() {
  return c_->c->init_pid(c_->c);
}

std::optional<std::string> Container::config_item(const std::string& key) {
  int len = c_->c->get_config_item(c_->c, key.c_str(), nullptr, 0);
  if (len <= 0) return std::nullopt;
  std::string buf(static_cast<size_t>(len) + 1, '\0');
  c_->c->get_config_item(c_->c, key.c_str(), buf.data(), len + 1);
  buf.resize(static_cast<size_t>(len));
  while (!buf.empty() && buf.back() == '\n') buf.pop_back();
  return buf;
}

std::optional<std::string> Container::running_config_item(const std::string& key) {
  char* v = c_->c->get_running_config_item(c_->c, key.c_str());
  if (!v) return std::nullopt;
  std::string out(v);
  std::free(v);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  if (out.empty()) return std::nullopt;
  return out;
}

void Container::set_config_item(const std::string& key, const std::string& value) {
  if (!c_->c->set_config_item(c_->c, key.c_str(), value.c_str())) fail("set " + key + " = " + value + " of");
}

void Container::clear_config_item(const std::string& key) {
  if (!c_->c->clear_config_item(c_->c, key.c_str()) && config_item(key)) fail("clear " + key + " of");
}

void Container::save_config() {
  if (!c_->c->save_config(c_->c, nullptr)) fail("save the config of");
}

std::optional<std::string> Container::cgroup_item(const std::string& key) {
  int len = c_->c->get_cgroup_item(c_->c, key.c_str(), nullptr, 0);
  if (len <= 0) return std::nullopt;
  std::string buf(static_cast<size_t>(len) + 1, '\0');
  int got = c_->c->get_cgroup_item(c_->c, key.c_str(), buf.data(), len + 1);
  if (got <= 0) return std::nullopt;
  buf.resize(std::min(static_cast<size_t>(got), static_cast<size_t>(len)));
  return trim(buf);
}

void Container::set_cgroup_item(const std::string& key, const std::string& value) {
  if (!c_->c->set_cgroup_item(c_->c, key.c_str(), value.c_str()))
    fail("set cgroup " + key + " = " + value + " of");
}

void Container::create(const CreateSpec& spec) {
  std::vector<char*> argv;
  for (const auto& a : spec.template_args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  bool ok = false;
  std::string out = captured([&] {
    ok = c_->c->create(c_->c, spec.template_name.c_str(),
                       spec.bdevtype.empty() ? nullptr : spec.bdevtype.c_str(), nullptr, 0, argv.data());
  });
  if (!ok) fail("create (template " + spec.template_name + ")", last_lines(out, 15));
}

void Container::clone_to(const std::string& new_name, bool snapshot) {
  int flags = snapshot ? LXC_CLONE_SNAPSHOT : 0;
  lxc_container* copy = nullptr;
  std::string out = captured([&] {
    copy = c_->c->clone(c_->c, new_name.c_str(), lxcpath_.c_str(), flags, snapshot ? "btrfs" : nullptr,
                        nullptr, 0, nullptr);
  });
  if (!copy)
    fail(std::string(snapshot ? "snapshot-clone" : "copy-clone") + " to '" + new_name + "' from",
         last_lines(out, 15));
  lxc_container_put(copy);
}

std::string Container::log_to_temporary(std::string* path) {
  char name[] = "/tmp/op-dbus-lxc-log.XXXXXX";
  int fd = ::mkstemp(name);
  if (fd < 0) return "";
  ::close(fd);
  *path = name;
  // In memory only: start() never saves the config, so the file is not written into the container's config.
  c_->c->set_config_item(c_->c, "lxc.log.level", "ERROR");
  c_->c->set_config_item(c_->c, "lxc.log.file", name);
  return name;
}

void Container::start(int timeout_seconds) {
  c_->c->want_daemonize(c_->c, true);
  // The monitor outlives us: it must not keep our descriptors (the apply lock, the journal) open.
  c_->c->want_close_all_fds(c_->c, true);
  // liblxc writes its reasons to its log, not to us: a temporary log holds them for the error.
  std::string log_path;
  log_to_temporary(&log_path);
  bool ok = false;
  std::string out = captured([&] { ok = c_->c->start(c_->c, 0, nullptr); });
  std::string log;
  if (!log_path.empty()) {
    if (FILE* f = std::fopen(log_path.c_str(), "r")) {
      char buf[8192];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) log.append(buf, n);
      std::fclose(f);
    }
    ::unlink(log_path.c_str());
    c_->c->set_config_item(c_->c, "lxc.log.file", "");
  }
  if (!ok) fail("start", last_lines(trim(out + "\n" + log), 15));
  if (!c_->c->wait(c_->c, "RUNNING", timeout_seconds)) {
    fail("start", "not RUNNING after " + std::to_string(timeout_seconds) + " s (state " + state() + ")");
  }
}

bool Container::shutdown_or_stop(int timeout_seconds) {
  if (!running()) return true;
  if (c_->c->shutdown(c_->c, timeout_seconds)) return true;
  if (!c_->c->stop(c_->c) && running()) fail("stop");
  c_->c->wait(c_->c, "STOPPED", 30);
  if (running()) fail("stop", "still " + state() + " after a forced stop");
  return false;
}

void Container::destroy() {
  if (running()) shutdown_or_stop(0);
  bool ok = false;
  std::string out = captured([&] { ok = c_->c->destroy(c_->c); });
  if (!ok) fail("destroy", last_lines(out, 15));
}

std::vector<std::string> Container::addresses(const std::string& family) {
  std::vector<std::string> out;
  char** ips = c_->c->get_ips(c_->c, nullptr, family.c_str(), 0);
  if (!ips) return out;
  for (char** p = ips; *p; ++p) {
    out.emplace_back(*p);
    std::free(*p);
  }
  std::free(ips);
  return out;
}

}  // namespace opdbus::sys::lxc
