// The --root backend (a mounted tree: only the files that make the network come up at boot), and the file
// access both backends share.
#include "network/backend_root.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "context.h"
#include "error.h"
#include "network/persist.h"

namespace opdbus::network {
namespace {

// True when the live system's `path` is itself a mount point (a bind-mounted /etc/resolv.conf in a container
// or under `ip netns exec`): such a file cannot be replaced by rename, only rewritten in place.
bool is_mount_point(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mount_point;
    if (f >> id >> parent >> devno >> root >> mount_point && mount_point == path) return true;
  }
  return false;
}

void write_in_place(const sys::RootDir& root, const std::string& path, const std::string& content) {
  sys::Fd fd = root.open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (!fd) throw Error(ErrorKind::BackendError, "open " + path + ": " + std::strerror(ENOENT));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorKind::BackendError, "write " + path + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd.get());
}

// Offline: a tree, not a running system.
class RootBackend : public RootFilesBackend {
 public:
  using RootFilesBackend::RootFilesBackend;

  std::string describe() override {
    auto etc = root().stat("/etc");
    if (!etc || etc->kind != sys::FileKind::Directory) {
      throw Error(ErrorKind::Unavailable, ctx_.root().string() + " has no /etc: not a system tree");
    }
    return "files under " + ctx_.root().string() + " (applied at boot by " + kUnitName + ")";
  }
  bool live() const override { return false; }
  std::optional<std::string> ovs_unavailable() override { return std::nullopt; }

  const HostState& host(bool) override { refuse("read the running network"); }
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

const sys::RootDir& RootFilesBackend::root() {
  if (!root_) root_ = std::make_unique<sys::RootDir>(ctx_.root());
  return *root_;
}

std::optional<std::string> RootFilesBackend::read_file(const std::string& path) {
  return root().read_file(path);
}

void RootFilesBackend::write_file(const std::string& path, const std::string& content) {
  if (root().is_host() && root().lstat(path) && is_mount_point(path)) {
    write_in_place(root(), path, content);
    return;
  }
  root().write_file(path, content, 0644);
}

void RootFilesBackend::remove_file(const std::string& path) {
  root().remove(path);
}

bool RootFilesBackend::exists(const std::string& path) {
  return root().lstat(path).has_value();
}

std::optional<std::string> RootFilesBackend::read_link(const std::string& path) {
  return root().read_link(path);
}

void RootFilesBackend::make_link(const std::string& path, const std::string& target) {
  root().symlink(target, path);
}

Persisted read_persisted(Backend& b) {
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

std::unique_ptr<Backend> make_root_backend(Context& ctx) {
  return std::make_unique<RootBackend>(ctx);
}

}  // namespace opdbus::network
