// The Proxmox backend: pct and pvesh (Proxmox has no library API for containers). Containers are matched by
// hostname; lxcpath is Proxmox's own and ignored. Not tested on a real Proxmox host (docs/plugins/lxc.md):
// the argv building and the parsers are unit-tested (tests/unit/lxc_pct_test.cc).
#include <unistd.h>

#include "error.h"
#include "lxc/backend.h"
#include "lxc/pct.h"
#include "sys/process.h"
#include "sys/rootdir.h"
#include "text.h"

namespace opdbus::lxc {
namespace {

class PctBackend : public Backend {
 public:
  std::string describe() override {
    auto r = sys::run({"pveversion"});
    if (r.exit_code != 0)
      throw Error(ErrorKind::Unavailable, "Proxmox (/etc/pve) without a working pveversion");
    return "Proxmox pct (" + trim(r.output) + ")";
  }
  std::string kind() const override { return "pct"; }
  std::string default_lxcpath() override { return "/var/lib/lxc"; }
  bool host_directory(const std::string& path) override {
    auto st = sys::RootDir("/").stat(path);
    return st && st->kind == sys::FileKind::Directory;
  }
  unsigned host_cpus() override {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<unsigned>(n) : 0;
  }

  std::map<std::string, Container> list(const std::string&, const std::set<std::string>& names,
                                        const std::set<std::string>&) override {
    std::map<std::string, Container> out;
    for (const auto& [name, l] : listed()) {
      if (!names.empty() && !names.count(name)) continue;
      Container c = pct::parse_config(sys::run_checked({"pct", "config", std::to_string(l.vmid)}));
      c.state = l.running ? State::Started : State::Stopped;
      out[name] = c;
    }
    return out;
  }

  void create(const std::string&, const std::string& name, const Container& spec) override {
    if (listed().count(name)) return;
    std::string ostemplate = spec.template_name.value_or("");
    if (!is_pve_volume(ostemplate)) {
      auto picked = pct::pick_template(sys::run_checked({"pveam", "list", "local"}), ostemplate);
      if (!picked) {
        throw Error(ErrorKind::BackendError, "no " + ostemplate +
                                                 "-standard template in `pveam list local`; "
                                                 "download one with `pveam download local ...`");
      }
      ostemplate = *picked;
    }
    int vmid = std::stoi(trim(sys::run_checked({"pvesh", "get", "/cluster/nextid"})));
    sys::run_checked(pct::create_argv(vmid, name, ostemplate, spec));
  }

  void configure(const std::string&, const std::string& name, const Container& spec, bool) override {
    sys::run_checked(pct::set_argv(vmid(name), spec));
  }
  void start(const std::string&, const std::string& name, const std::string&) override {
    auto l = listed().at(name);
    if (!l.running) sys::run_checked(pct::start_argv(l.vmid));
  }
  void stop(const std::string&, const std::string& name) override {
    auto all = listed();
    auto it = all.find(name);
    if (it != all.end() && it->second.running) sys::run_checked(pct::shutdown_argv(it->second.vmid, 30));
  }
  void destroy(const std::string& lxcpath, const std::string& name) override {
    auto all = listed();
    if (!all.count(name)) return;
    stop(lxcpath, name);
    sys::run_checked(pct::destroy_argv(all.at(name).vmid));
  }

 private:
  std::map<std::string, pct::Listed> listed() { return pct::parse_list(sys::run_checked({"pct", "list"})); }
  int vmid(const std::string& name) {
    auto all = listed();
    auto it = all.find(name);
    if (it == all.end()) throw Error(ErrorKind::BackendError, "pct: no container with hostname " + name);
    return it->second.vmid;
  }
};

}  // namespace

std::unique_ptr<Backend> make_pct_backend(Context& ctx) {
  (void)ctx;
  return std::make_unique<PctBackend>();
}

}  // namespace opdbus::lxc
