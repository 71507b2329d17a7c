// The liblxc backend (src/sys/lxc.h). Containers are made from the `debian` template (lxc-templates), which
// debootstraps against the host's own Debian mirror and keeps its cache in /var/cache/lxc/debian, so a
// second container does not download again. Limits are cgroup items: v1 (memory.limit_in_bytes,
// cpuset.cpus) or v2 (memory.max, cpuset.cpus), in the config and, for a running container, in its cgroup.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "context.h"
#include "error.h"
#include "lxc/backend.h"
#include "lxc/host.h"
#include "sys/lxc.h"
#include "sys/rootdir.h"
#include "text.h"

namespace opdbus::lxc {
namespace {

constexpr int kStartTimeout = 60;
constexpr int kShutdownTimeout = 30;
constexpr int kAddressTimeout = 60;

std::string memory_key(int v) {
  return v == 1 ? "lxc.cgroup.memory.limit_in_bytes" : "lxc.cgroup2.memory.max";
}
std::string memory_cgroup(int v) {
  return v == 1 ? "memory.limit_in_bytes" : "memory.max";
}
std::string cpuset_key(int v) {
  return v == 1 ? "lxc.cgroup.cpuset.cpus" : "lxc.cgroup2.cpuset.cpus";
}

std::optional<std::string> first_line(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  auto lines = split(*v, '\n');
  std::string s = lines.empty() ? "" : trim(lines.front());
  if (s.empty()) return std::nullopt;
  return s;
}

class LiveBackend : public Backend {
 public:
  std::string describe() override {
    if (::geteuid() != 0)
      throw Error(ErrorKind::PermissionError, "liblxc: managing system containers needs root");
    return "liblxc " + sys::lxc::version() + ", cgroup v" + std::to_string(sys::lxc::cgroup_version()) +
           ", default lxcpath " + sys::lxc::default_lxcpath();
  }
  std::string kind() const override { return "liblxc"; }
  std::string default_lxcpath() override { return sys::lxc::default_lxcpath(); }
  bool host_directory(const std::string& path) override {
    auto st = sys::RootDir("/").stat(path);
    return st && st->kind == sys::FileKind::Directory;
  }
  unsigned host_cpus() override {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<unsigned>(n) : 0;
  }

  std::map<std::string, Container> list(const std::string& lxcpath, const std::set<std::string>& names,
                                        const std::set<std::string>& raw_keys) override {
    std::map<std::string, Container> out;
    const int cg = sys::lxc::cgroup_version();
    for (const auto& name : sys::lxc::list_defined(lxcpath)) {
      if (!names.empty() && !names.count(name)) continue;
      sys::lxc::Container ct(lxcpath, name);
      out[name] = read_container(ct, cg, raw_keys);
    }
    return out;
  }

  void create(const std::string& lxcpath, const std::string& name, const Container& spec) override {
    sys::RootDir("/").make_dirs(lxcpath, 0755);
    {
      sys::lxc::Container ct(lxcpath, name);
      if (!ct.defined()) {
        if (spec.clone_from) {
          sys::lxc::Container src(lxcpath, *spec.clone_from);
          if (!src.defined()) {
            throw Error(ErrorKind::BackendError,
                        "clone_from: container '" + *spec.clone_from + "' does not exist in " + lxcpath);
          }
          bool snapshot = sys::lxc::on_btrfs(lxcpath) &&
                          starts_with(src.config_item("lxc.rootfs.path").value_or(""), "btrfs:");
          src.clone_to(name, snapshot);
        } else {
          auto release = debian_release(spec.template_name.value_or(""));
          if (!release)
            throw Error(ErrorKind::Bug, "lxc: create without a debian template reached the backend");
          sys::lxc::CreateSpec cs;
          cs.template_name = template_path("debian");
          cs.bdevtype = spec.storage.value_or("dir");
          cs.template_args = {"-r", *release};
          auto mirrors = host_mirrors(sys::RootDir("/"));
          if (!mirrors.main.empty()) cs.template_args.push_back("--mirror=" + mirrors.main);
          if (!mirrors.security.empty()) cs.template_args.push_back("--security-mirror=" + mirrors.security);
          ct.create(cs);
        }
      }
      // Also after an interrupted earlier run: a file already in the host range is left as it is.
      if (spec.idmap) make_unprivileged(ct, lxcpath, name, *spec.idmap);
    }
    configure(lxcpath, name, spec, false);
  }

  void configure(const std::string& lxcpath, const std::string& name, const Container& spec,
                 bool live) override {
    const int cg = sys::lxc::cgroup_version();
    sys::lxc::Container ct(lxcpath, name);
    if (!ct.defined())
      throw Error(ErrorKind::BackendError, "container '" + name + "' does not exist in " + lxcpath);
    live = live && ct.running();
    if (spec.memory) {
      std::string bytes = std::to_string(*spec.memory);
      ct.clear_config_item(memory_key(cg));
      ct.set_config_item(memory_key(cg), bytes);
      if (live) ct.set_cgroup_item(memory_cgroup(cg), bytes);
    }
    if (spec.cpus) {
      std::string set = *spec.cpus == 1 ? "0" : "0-" + std::to_string(*spec.cpus - 1);
      ct.clear_config_item(cpuset_key(cg));
      ct.set_config_item(cpuset_key(cg), set);
      if (live) ct.set_cgroup_item("cpuset.cpus", set);
    }
    if (spec.autostart) {
      ct.clear_config_item("lxc.start.auto");
      ct.set_config_item("lxc.start.auto", *spec.autostart ? "1" : "0");
    }
    if (spec.network) {
      const Network& n = *spec.network;
      std::string hwaddr = first_line(ct.config_item("lxc.net.0.hwaddr")).value_or("00:16:3e:xx:xx:xx");
      ct.clear_config_item("lxc.net.0");
      ct.set_config_item("lxc.net.0.type", "veth");
      ct.set_config_item("lxc.net.0.link", n.bridge);
      ct.set_config_item("lxc.net.0.flags", "up");
      ct.set_config_item("lxc.net.0.name", "eth0");
      ct.set_config_item("lxc.net.0.hwaddr", hwaddr);
      bool v6 = n.ip.find(':') != std::string::npos || n.gateway.find(':') != std::string::npos;
      const std::string fam = v6 ? "ipv6" : "ipv4";
      if (!n.ip.empty()) ct.set_config_item("lxc.net.0." + fam + ".address", n.ip);
      if (!n.gateway.empty()) ct.set_config_item("lxc.net.0." + fam + ".gateway", n.gateway);
    }
    if (spec.mounts) {
      ct.clear_config_item("lxc.mount.entry");
      for (const auto& m : *spec.mounts) {
        ct.set_config_item("lxc.mount.entry", m.source + " " + m.target.substr(1) + " none bind,create=dir" +
                                                  (m.read_only ? ",ro" : "") + " 0 0");
      }
    }
    if (spec.idmap) {
      ct.clear_config_item("lxc.idmap");
      for (const auto& m : *spec.idmap) ct.set_config_item("lxc.idmap", idmap_line(m));
      // lxc's own settings for a container in a user namespace (no device nodes, no sysfs writes).
      const std::string userns = "/usr/share/lxc/config/userns.conf";
      if (sys::RootDir("/").stat(userns) &&
          ct.config_item("lxc.include").value_or("").find(userns) == std::string::npos) {
        ct.set_config_item("lxc.include", userns);
      }
    }
    for (const auto& [k, v] : spec.raw) {
      ct.clear_config_item(k);
      ct.set_config_item(k, v);
    }
    ct.save_config();
  }

  void start(const std::string& lxcpath, const std::string& name, const std::string& wait_ip) override {
    sys::lxc::Container ct(lxcpath, name);
    if (!ct.defined())
      throw Error(ErrorKind::BackendError, "container '" + name + "' does not exist in " + lxcpath);
    if (!ct.running()) ct.start(kStartTimeout);
    if (wait_ip.empty()) return;
    std::string addr = wait_ip.substr(0, wait_ip.find('/'));
    std::string family = addr.find(':') == std::string::npos ? "inet" : "inet6";
    std::vector<std::string> seen;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kAddressTimeout);
    while (std::chrono::steady_clock::now() < deadline) {
      seen = ct.addresses(family);
      for (const auto& a : seen) {
        if (canonical_address(a) == canonical_address(addr)) return;
      }
      if (!ct.running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    throw Error(ErrorKind::BackendError, "container '" + name + "' is " + ct.state() + " but " + addr +
                                             " is not up inside after " + std::to_string(kAddressTimeout) +
                                             " s (addresses: " + (seen.empty() ? "none" : join(seen, ", ")) +
                                             ")");
  }

  void stop(const std::string& lxcpath, const std::string& name) override {
    sys::lxc::Container ct(lxcpath, name);
    if (!ct.defined() || !ct.running()) return;
    ct.shutdown_or_stop(kShutdownTimeout);
  }

  void destroy(const std::string& lxcpath, const std::string& name) override {
    sys::lxc::Container ct(lxcpath, name);
    if (!ct.defined()) return;
    if (ct.running()) ct.shutdown_or_stop(kShutdownTimeout);
    ct.destroy();
  }

 private:
  // The templates op-dbus uses build a privileged root filesystem (the debian template refuses to run in a
  // user namespace); an unprivileged container gets it shifted into its host ids before its first start, and
  // its directory owned by its root so that the mapped root can reach the root filesystem.
  static void make_unprivileged(sys::lxc::Container& ct, const std::string& lxcpath, const std::string& name,
                                const std::vector<IdMap>& maps) {
    std::vector<sys::lxc::IdRange> ranges;
    for (const auto& m : maps) ranges.push_back({m.type == "u", m.container, m.host, m.count});
    std::string rootfs = first_line(ct.config_item("lxc.rootfs.path")).value_or("");
    if (auto colon = rootfs.find(':'); colon != std::string::npos && rootfs.front() != '/')
      rootfs = rootfs.substr(colon + 1);
    if (rootfs.empty() || rootfs.front() != '/') {
      throw Error(ErrorKind::BackendError, "container '" + name +
                                               "': cannot shift the ids of root filesystem " +
                                               json_quoted(rootfs) + " (only directory and btrfs storage)");
    }
    sys::lxc::shift_ownership(rootfs, ranges);
    uint32_t uid0 = 0, gid0 = 0;
    for (const auto& m : maps) {
      if (m.container == 0) (m.type == "u" ? uid0 : gid0) = m.host;
    }
    sys::RootDir("/").chown(lxcpath + "/" + name, uid0, gid0);
  }

  static std::string idmap_line(const IdMap& m) {
    return m.type + " " + std::to_string(m.container) + " " + std::to_string(m.host) + " " +
           std::to_string(m.count);
  }

  // The template script: liblxc's own ("debian" -> /usr/share/lxc/templates/lxc-debian), or the one in
  // $OPDBUS_LXC_TEMPLATE_DIR on a host where lxc-templates is unpacked elsewhere (docs/plugins/lxc.md).
  static std::string template_path(const std::string& name) {
    if (const char* dir = std::getenv("OPDBUS_LXC_TEMPLATE_DIR"); dir && *dir) {
      std::string d = dir;
      if (!valid_host_path(d)) {
        throw Error(ErrorKind::InvalidArgument,
                    "OPDBUS_LXC_TEMPLATE_DIR " + json_quoted(d) + " is not an absolute path");
      }
      return d + "/lxc-" + name;
    }
    return name;
  }

  Container read_container(sys::lxc::Container& ct, int cg, const std::set<std::string>& raw_keys) {
    Container m;
    const bool running = ct.running();
    m.state = running ? State::Started : State::Stopped;
    // A running container is read as it runs (its monitor's config), a stopped one from its config file.
    auto item = [&](const std::string& key) -> std::optional<std::string> {
      if (running) {
        if (auto v = ct.running_config_item(key)) return v;
      }
      return ct.config_item(key);
    };
    m.autostart = first_line(ct.config_item("lxc.start.auto")).value_or("0") == "1";

    if (auto v = first_line(item(memory_key(cg)))) {
      std::optional<uint64_t> bytes = parse_bytes(*v);
      if (running) {
        if (auto live = ct.cgroup_item(memory_cgroup(cg))) bytes = parse_bytes(*live);
      }
      if (bytes && *bytes < (1ull << 62)) m.memory = *bytes;
    }
    if (auto v = first_line(item(cpuset_key(cg)))) {
      std::string set = *v;
      if (running) {
        if (auto live = ct.cgroup_item("cpuset.cpus")) set = *live;
      }
      if (auto n = count_cpus(set)) m.cpus = *n;
    }
    auto type = first_line(item("lxc.net.0.type"));
    if (type && *type != "empty" && *type != "none") {
      Network n;
      n.bridge = first_line(item("lxc.net.0.link")).value_or("");
      for (const std::string fam : {"ipv4", "ipv6"}) {
        if (n.ip.empty()) {
          if (auto a = first_line(item("lxc.net.0." + fam + ".address")))
            n.ip = canonical_cidr(*a).value_or(*a);
        }
        if (n.gateway.empty()) {
          if (auto g = first_line(item("lxc.net.0." + fam + ".gateway")))
            n.gateway = canonical_address(*g).value_or(*g);
        }
      }
      m.network = n;
    }
    if (auto entries = ct.config_item("lxc.mount.entry")) {
      std::vector<Mount> mounts;
      for (const auto& line : split(*entries, '\n')) {
        auto f = split(trim(line), ' ');
        f.erase(std::remove(f.begin(), f.end(), ""), f.end());
        if (f.size() < 4 || f[0].empty() || f[0][0] != '/') continue;
        auto opts = split(f[3], ',');
        bool bind = std::find(opts.begin(), opts.end(), "bind") != opts.end();
        bool optional = std::find(opts.begin(), opts.end(), "optional") != opts.end();
        if (!bind || optional) continue;  // lxc's own entries (common.conf) are optional
        Mount mt;
        mt.source = f[0];
        mt.target = "/" + f[1];
        mt.read_only = std::find(opts.begin(), opts.end(), "ro") != opts.end();
        mounts.push_back(mt);
      }
      std::sort(mounts.begin(), mounts.end(), [](const Mount& a, const Mount& b) {
        return a.target < b.target || (a.target == b.target && a < b);
      });
      if (!mounts.empty()) m.mounts = mounts;
    }
    if (auto maps = ct.config_item("lxc.idmap")) {
      std::vector<IdMap> out;
      for (const auto& line : split(*maps, '\n')) {
        auto f = split(trim(line), ' ');
        if (f.size() != 4) continue;
        try {
          out.push_back({f[0], static_cast<uint32_t>(std::stoul(f[1])),
                         static_cast<uint32_t>(std::stoul(f[2])), static_cast<uint32_t>(std::stoul(f[3]))});
        } catch (const std::exception&) {
        }
      }
      std::sort(out.begin(), out.end());
      if (!out.empty()) m.idmap = out;
    }
    for (const auto& key : raw_keys) {
      if (auto v = item(key)) m.raw[key] = *v;
    }
    return m;
  }

  static std::optional<uint64_t> parse_bytes(const std::string& text) {
    std::string t = trim(text);
    if (t == "max" || t.empty()) return std::nullopt;
    if (std::all_of(t.begin(), t.end(), ::isdigit)) {
      try {
        return std::stoull(t);
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
    JsonDoc d;
    d.SetString(t.c_str(), static_cast<rapidjson::SizeType>(t.size()), d.GetAllocator());
    return parse_size(d);
  }

  // "0-3,6" -> 5.
  static std::optional<int64_t> count_cpus(const std::string& set) {
    int64_t n = 0;
    for (const auto& part : split(trim(set), ',')) {
      if (part.empty()) continue;
      auto dash = part.find('-');
      try {
        if (dash == std::string::npos) {
          std::stoi(part);
          ++n;
        } else {
          n += std::stoi(part.substr(dash + 1)) - std::stoi(part.substr(0, dash)) + 1;
        }
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
    if (n <= 0) return std::nullopt;
    return n;
  }
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  (void)ctx;
  return std::make_unique<LiveBackend>();
}

std::unique_ptr<Backend> make_host_backend(Context& ctx) {
  if (sys::RootDir("/").stat("/etc/pve")) return make_pct_backend(ctx);
  return make_live_backend(ctx);
}

}  // namespace opdbus::lxc
