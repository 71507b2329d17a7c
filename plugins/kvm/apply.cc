#include "kvm/apply.h"

#include "error.h"
#include "kvm/ops.h"

namespace opdbus::kvm {
namespace {

bool active(const std::optional<std::string>& state) {
  return state && *state != "shutoff" && *state != "crashed" && *state != "nostate";
}

}  // namespace

Vm merge_for_define(const Vm& want, const ParsedDomain& current) {
  Vm v = want;
  const Vm& c = current.vm;
  if (!v.os_type) v.os_type = c.os_type;
  if (!v.virt_type) v.virt_type = c.virt_type;
  if (!v.cores) v.cores = c.cores;
  if (!v.memory) v.memory = c.memory;
  if (!v.cpu_model) v.cpu_model = c.cpu_model;
  if (!v.firmware) v.firmware = c.firmware;
  if (!v.boot) v.boot = c.boot;
  if (!v.kernel) v.kernel = c.kernel;
  if (!v.initrd) v.initrd = c.initrd;
  if (!v.cmdline) v.cmdline = c.cmdline;
  if (!v.cdrom) v.cdrom = c.cdrom;
  if (!v.console) v.console = c.console;
  if (!v.network) v.network = c.network;
  if (!v.cloud_init) v.cloud_init = c.cloud_init;
  // v.disks stays nullopt when not given: render_domain_xml then keeps the current disks as they are.
  return v;
}

void stop_gracefully(Backend& backend, const std::string& domain, int timeout_s) {
  if (!active(backend.state(domain))) return;
  try {
    backend.shutdown(domain);
  } catch (const Error&) {
    // A guest that cannot take the request (no ACPI yet) is forced off below.
  }
  for (int waited = 0; waited < timeout_s * 1000; waited += 200) {
    if (!active(backend.state(domain))) return;
    backend.sleep_ms(200);
  }
  if (active(backend.state(domain))) backend.destroy(domain);
}

void apply_action(Backend& backend, const Action& action) {
  const auto& ops = operation_of<Ops>(action.operation, action.resource());
  struct Visitor {
    Backend& b;
    void operator()(const CreateVolume& op) const {
      for (const auto& v : b.list_volumes(op.pool)) {
        if (v.name != op.volume) continue;
        if (v.capacity < op.capacity) b.resize_volume(op.pool, op.volume, op.capacity);
        return;
      }
      b.create_volume(op.pool, render_volume_xml(op.volume, op.capacity, op.source, op.source_format));
    }
    void operator()(const ResizeVolume& op) const {
      auto d = b.domain(op.domain);
      if (!d) throw Error(ErrorKind::BackendError, "domain '" + op.domain + "' does not exist");
      auto parsed = parse_domain_xml(d->xml);
      if (op.index >= parsed.disks.size()) {
        throw Error(ErrorKind::BackendError,
                    "domain '" + op.domain + "' has no disk " + std::to_string(op.index));
      }
      const DiskRef& ref = parsed.disks[op.index];
      std::string pool = ref.pool, volume = ref.volume;
      if (volume.empty()) {
        for (const auto& p : b.list_pools()) {
          for (const auto& v : b.list_volumes(p)) {
            if (v.path == ref.path) pool = p, volume = v.name;
          }
        }
      }
      if (volume.empty()) {
        throw Error(ErrorKind::BackendError,
                    "disk " + std::to_string(op.index) + " (" + ref.path + ") is in no storage pool");
      }
      b.resize_volume(pool, volume, op.capacity);
    }
    void operator()(const DefineDomain& op) const {
      auto d = b.domain(op.vm.name);
      std::string xml;
      bool was_running = false;
      Vm vm = op.vm;
      Preserved keep;
      if (d) {
        auto parsed = parse_domain_xml(d->xml);
        vm = merge_for_define(op.vm, parsed);
        keep = parsed.preserved;
        was_running = active(d->state);
      }
      if (op.vm.cloud_init) b.write_seed(seed_path(vm.name), render_seed(vm.name, *op.vm.cloud_init));
      xml = render_domain_xml(vm, keep);
      b.define_domain(xml);
      if (op.restart && was_running) {
        stop_gracefully(b, op.vm.name, op.vm.shutdown_timeout);
        b.start(op.vm.name);
      }
    }
    void operator()(const SetAutostart& op) const { b.set_autostart(op.domain, op.autostart); }
    void operator()(const StartDomain& op) const {
      auto s = b.state(op.domain);
      if (s && *s == "running") return;
      b.start(op.domain);
    }
    void operator()(const StopDomain& op) const { stop_gracefully(b, op.domain, op.timeout); }
    void operator()(const UndefineDomain& op) const {
      auto d = b.domain(op.domain);
      if (!d) return;
      auto parsed = parse_domain_xml(d->xml);
      stop_gracefully(b, op.domain, op.timeout);
      b.undefine(op.domain);
      if (parsed.vm.cloud_init) b.remove_seed(seed_path(op.domain));
      if (!op.delete_disks) return;
      for (const auto& ref : parsed.disks) {
        if (!ref.volume.empty()) {
          b.delete_volume(ref.pool, ref.volume);
          continue;
        }
        for (const auto& p : b.list_pools()) {
          for (const auto& v : b.list_volumes(p)) {
            if (v.path == ref.path) b.delete_volume(p, v.name);
          }
        }
      }
    }
  };
  try {
    std::visit(Visitor{backend}, ops);
  } catch (const Error& e) {
    throw e.with_context(action.summary);
  }
}

}  // namespace opdbus::kvm
