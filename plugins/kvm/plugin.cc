// The kvm Plugin: name, order, probe, and the wiring of model + check, query, diff, apply, backend.
#include "kvm/plugin.h"

#include <unistd.h>

#include "error.h"
#include "kvm/apply.h"
#include "kvm/diff.h"
#include "kvm/model.h"
#include "kvm/proxmox.h"
#include "kvm/query.h"
#include "sys/process.h"

namespace opdbus {
namespace kvm {
namespace {

// Virtual machines are running state of a host, not files of a tree: --root has nothing to act on.
void refuse_offline(Context& ctx) {
  if (ctx.offline()) {
    throw Error(ErrorKind::NotSupported,
                "not supported: the kvm plugin with --root (virtual machines are defined in the running "
                "libvirtd); plan and apply it on the running system");
  }
}

class KvmPlugin : public Plugin {
 public:
  KvmPlugin(BackendFactory factory, ProxmoxHost proxmox)
      : factory_(std::move(factory)), proxmox_(std::move(proxmox)) {}

  std::string_view name() const override { return "kvm"; }
  std::string_view summary() const override { return "virtual machines through libvirt"; }
  // Bridges (network) and storage first: a VM's NICs and disks need them.
  std::vector<std::string> after() const override { return {"storage", "network"}; }

  Probe probe(Context& ctx) override {
    return probe_with([&] {
      refuse_offline(ctx);
      if (on_proxmox()) return std::string("Proxmox VE (qm, pvesh)");
      return factory_(ctx)->describe();
    });
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    check_section(section, file, section_pointer, out);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    refuse_offline(ctx);
    if (on_proxmox()) return proxmox::query_section(proxmox_.run, desired);
    auto backend = factory_(ctx);
    return query_section(*backend, desired);
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  void apply(Context& ctx, const Action& action) override {
    refuse_offline(ctx);
    if (on_proxmox()) return proxmox::apply_action(proxmox_.run, action);
    auto backend = factory_(ctx);
    apply_action(*backend, action);
  }

 private:
  bool on_proxmox() const { return proxmox_.detect && proxmox_.detect(); }
  BackendFactory factory_;
  ProxmoxHost proxmox_;
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory, ProxmoxHost proxmox) {
  return std::make_unique<KvmPlugin>(std::move(factory), std::move(proxmox));
}

}  // namespace kvm

std::unique_ptr<Plugin> make_kvm_plugin() {
  kvm::ProxmoxHost proxmox;
  // A Proxmox VE node keeps its VMs in /etc/pve (pmxcfs), not in libvirt.
  proxmox.detect = [] { return ::access("/etc/pve", F_OK) == 0; };
  proxmox.run = [](const std::vector<std::string>& argv) { return sys::run_checked(argv); };
  return kvm::make_plugin([](Context& ctx) { return kvm::make_live_backend(ctx); }, std::move(proxmox));
}

}  // namespace opdbus
