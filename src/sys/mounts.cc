#include "sys/mounts.h"

#include <libmount/libmount.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "error.h"

namespace opdbus::sys {
namespace {

struct ContextDeleter {
  void operator()(libmnt_context* c) const { mnt_free_context(c); }
};
using ContextPtr = std::unique_ptr<libmnt_context, ContextDeleter>;

ContextPtr new_context() {
  ContextPtr c(mnt_new_context());
  if (!c) throw Error(ErrorKind::BackendError, "libmount: out of memory");
  // Only what we pass counts: no fstab lookups, no /sbin/mount.* helpers, no path rewriting.
  mnt_context_set_optsmode(c.get(), MNT_OMODE_IGNORE);
  mnt_context_disable_helpers(c.get(), 1);
  mnt_context_disable_canonicalize(c.get(), 1);
  return c;
}

// libmount's own words for what went wrong, as mount(8) prints them.
std::string explain(libmnt_context* c, int rc) {
  char buf[BUFSIZ] = {};
  mnt_context_get_excode(c, rc, buf, sizeof buf);
  if (buf[0]) return buf;
  int e = mnt_context_get_syscall_errno(c);
  if (e) return std::strerror(e);
  return rc < 0 ? std::strerror(-rc) : "failed";
}

const char* or_empty(const char* s) {
  return s ? s : "";
}

}  // namespace

std::vector<MountInfo> read_mountinfo() {
  std::vector<MountInfo> out;
  libmnt_table* tb = mnt_new_table_from_file("/proc/self/mountinfo");
  if (!tb) throw Error(ErrorKind::BackendError, "cannot read /proc/self/mountinfo");
  libmnt_iter* itr = mnt_new_iter(MNT_ITER_FORWARD);
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(tb, itr, &fs) == 0) {
    MountInfo m;
    m.source = or_empty(mnt_fs_get_source(fs));
    m.target = or_empty(mnt_fs_get_target(fs));
    m.root = or_empty(mnt_fs_get_root(fs));
    m.fstype = or_empty(mnt_fs_get_fstype(fs));
    m.options = or_empty(mnt_fs_get_options(fs));
    out.push_back(std::move(m));
  }
  mnt_free_iter(itr);
  mnt_unref_table(tb);
  return out;
}

void mount_fs(const std::string& source, const std::string& target, const std::string& fstype,
              const std::string& options) {
  ContextPtr c = new_context();
  mnt_context_set_source(c.get(), source.c_str());
  mnt_context_set_target(c.get(), target.c_str());
  if (!fstype.empty()) mnt_context_set_fstype(c.get(), fstype.c_str());
  if (!options.empty()) mnt_context_set_options(c.get(), options.c_str());
  int rc = mnt_context_mount(c.get());
  if (rc != 0 || mnt_context_get_status(c.get()) != 1) {
    throw Error(ErrorKind::BackendError, "mount " + source + " on " + target + ": " + explain(c.get(), rc));
  }
}

void remount_fs(const std::string& target, const std::string& options) {
  ContextPtr c = new_context();
  mnt_context_set_target(c.get(), target.c_str());
  mnt_context_set_options(c.get(), ("remount" + (options.empty() ? "" : "," + options)).c_str());
  // With only a target, libmount takes the source from the mount table; that is what we want here.
  mnt_context_set_optsmode(c.get(), MNT_OMODE_MTAB | MNT_OMODE_NOTAB);
  int rc = mnt_context_mount(c.get());
  if (rc != 0 || mnt_context_get_status(c.get()) != 1) {
    throw Error(ErrorKind::BackendError, "remount " + target + ": " + explain(c.get(), rc));
  }
}

void unmount(const std::string& target) {
  ContextPtr c = new_context();
  mnt_context_set_target(c.get(), target.c_str());
  int rc = mnt_context_umount(c.get());
  if (rc != 0 || mnt_context_get_status(c.get()) != 1) {
    throw Error(ErrorKind::BackendError, "unmount " + target + ": " + explain(c.get(), rc));
  }
}

PrivateMount::PrivateMount(const std::string& source, const std::string& fstype, const std::string& options) {
  std::error_code ec;
  std::filesystem::create_directories("/run/op-dbus", ec);
  std::string tmpl = "/run/op-dbus/storage-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    throw Error(ErrorKind::BackendError,
                "cannot create a directory under /run/op-dbus: " + std::string(std::strerror(errno)));
  }
  dir_ = tmpl;
  try {
    if (::mount(dir_.c_str(), dir_.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        (bound_ = true, ::mount(nullptr, dir_.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)) {
      throw Error(ErrorKind::BackendError,
                  "cannot make " + dir_.string() + " a private mount point: " + std::strerror(errno));
    }
    mount_fs(source, dir_.string(), fstype, options);
    mounted_ = true;
  } catch (...) {
    if (bound_) ::umount2(dir_.c_str(), MNT_DETACH);
    ::rmdir(dir_.c_str());
    throw;
  }
}

PrivateMount::~PrivateMount() {
  // A busy filesystem (someone walked in) is detached rather than left mounted.
  if (mounted_ && ::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  if (bound_ && ::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  ::rmdir(dir_.c_str());
}

}  // namespace opdbus::sys
