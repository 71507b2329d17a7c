#include "network/files_backend.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "context.h"
#include "error.h"
#include "network/persist.h"
#include "sys/fs.h"

namespace opdbus::network {
namespace {

namespace fs = std::filesystem;

// True when `path` is itself a mount point (a bind-mounted /etc/resolv.conf in a container or under
// `ip netns exec`): such a file cannot be replaced by rename, only rewritten in place.
bool is_mount_point(const fs::path& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mount_point;
    if (f >> id >> parent >> devno >> root >> mount_point && mount_point == path.string()) return true;
  }
  return false;
}

void write_in_place(const fs::path& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::BackendError, "open " + path.string() + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      throw Error(ErrorKind::BackendError, "write " + path.string() + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
}

// Offline: a tree, not a running system.
class OfflineBackend : public FilesBackend {
 public:
  using FilesBackend::FilesBackend;

  std::string describe() override {
    if (!fs::is_directory(ctx_.in_root("/etc"))) {
      throw Error(ErrorKind::Unavailable, ctx_.root().string() + " has no /etc: not a system tree");
    }
    return "files under " + ctx_.root().string() + " (applied at boot by " + kUnitName + ")";
  }
  bool live() const override { return false; }
  std::optional<std::string> ovs_unavailable() override { return std::nullopt; }

  HostState host(bool) override { refuse("read the running network"); }
  void create_link(const sys::LinkSpec&) override { refuse("create links"); }
  void change_link(int, const sys::LinkChange&) override { refuse("change links"); }
  void delete_link(int) override { refuse("delete links"); }
  void add_address(int, const std::string&) override { refuse("add addresses"); }
  void delete_address(int, const std::string&) override { refuse("delete addresses"); }
  void add_route(const sys::RouteInfo&, bool) override { refuse("add routes"); }
  void delete_route(const sys::RouteInfo&) override { refuse("delete routes"); }
  void ovs_add_bridge(const std::string&) override { refuse("create OVS bridges"); }
  void ovs_delete_bridge(const std::string&) override { refuse("delete OVS bridges"); }
  void ovs_set_ports(const std::string&, const std::vector<std::string>&,
                     const std::vector<std::string>&) override {
    refuse("change OVS ports");
  }
  std::string dns_mode() override { return "file"; }
  void set_dns(const std::string&, int, const std::vector<std::string>&) override {
    refuse("set DNS servers");
  }
  void set_dhcp(const std::string&, bool) override { refuse("start DHCP clients"); }

 private:
  [[noreturn]] void refuse(const std::string& what) {
    throw Error(ErrorKind::NotSupported,
                "cannot " + what + " in an offline tree (--root): the boot unit does that");
  }
};

}  // namespace

std::optional<std::string> FilesBackend::read_file(const std::string& path) {
  return sys::read_file(ctx_.in_root(path));
}

void FilesBackend::write_file(const std::string& path, const std::string& content) {
  fs::path p = ctx_.in_root(path);
  if (!ctx_.offline() && fs::exists(p) && is_mount_point(p)) {
    write_in_place(p, content);
    return;
  }
  sys::atomic_write(p, content, 0644);
}

void FilesBackend::remove_file(const std::string& path) {
  std::error_code ec;
  fs::remove(ctx_.in_root(path), ec);
  if (ec) throw Error(ErrorKind::BackendError, "remove " + path + ": " + ec.message());
}

bool FilesBackend::exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(ctx_.in_root(path), ec));
}

std::optional<std::string> FilesBackend::read_link(const std::string& path) {
  std::error_code ec;
  fs::path p = ctx_.in_root(path);
  if (!fs::is_symlink(fs::symlink_status(p, ec))) return std::nullopt;
  return fs::read_symlink(p, ec).string();
}

void FilesBackend::make_link(const std::string& path, const std::string& target) {
  fs::path p = ctx_.in_root(path);
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  fs::remove(p, ec);
  fs::create_symlink(target, p, ec);
  if (ec) throw Error(ErrorKind::BackendError, "symlink " + path + " -> " + target + ": " + ec.message());
}

Persisted read_persisted(NetworkBackend& b) {
  Persisted p;
  p.document = b.read_file(kDocumentPath);
  p.ifupdown = b.exists("/usr/sbin/ifup") || b.exists("/sbin/ifup");
  if (p.ifupdown) p.interfaces = b.read_file(kInterfacesPath);
  for (const auto& name : kUnitNames) {
    UnitFiles f;
    f.file = b.read_file(unit_path(name));
    for (const auto& path : shipped_unit_paths(name)) {
      if (b.exists(path)) {
        f.shipped = path;
        break;
      }
    }
    f.link = b.read_link(wants_link(name));
    p.units[name] = f;
  }
  return p;
}

std::unique_ptr<NetworkBackend> make_offline_backend(Context& ctx) {
  return std::make_unique<OfflineBackend>(ctx);
}

}  // namespace opdbus::network
