#include "kvm/diff.h"

#include <algorithm>

#include "error.h"
#include "kvm/model.h"
#include "kvm/ops.h"
#include "kvm/proxmox.h"
#include "text.h"

namespace opdbus::kvm {
namespace {

enum Order { kVolumes = 1, kDefine = 2, kAutostart = 3, kPower = 4, kRemove = 5 };

std::string quoted_list(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back(json_quoted(s));
  return "[" + join(q, ",") + "]";
}

std::string disk_json(const Disk& d) {
  std::string s = "{\"storage\":" + json_quoted(d.storage);
  if (d.size) s += ",\"size\":" + json_quoted(size_text(d.size));
  if (!d.source.empty()) s += ",\"source\":" + json_quoted(d.source);
  return s + "}";
}

std::string nic_json(const Nic& n, bool with_mac) {
  std::string s = "{\"bridge\":" + json_quoted(n.bridge) + ",\"model\":" + json_quoted(n.model);
  if (with_mac && !n.mac.empty()) s += ",\"mac\":" + json_quoted(n.mac);
  return s + "}";
}

std::optional<std::string> opt_text(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return json_quoted(*v);
}
std::optional<std::string> opt_num(const std::optional<int64_t>& v) {
  if (!v) return std::nullopt;
  return std::to_string(*v);
}

// Field changes of a VM's definition: `want` against `have` (nullptr: the VM does not exist). `boot_only` is
// set when a change takes effect only at the next boot.
std::vector<Change> definition_changes(const Vm& want, const Vm* have, bool* boot_only) {
  std::vector<Change> out;
  auto field = [&](const char* path, std::optional<std::string> after, std::optional<std::string> before,
                   bool at_boot) {
    if (!after) return;  // the document does not say
    if (have && before == after) return;
    out.push_back({path, have ? before : std::nullopt, after});
    if (at_boot) *boot_only = true;
  };
  const Vm empty;
  const Vm& h = have ? *have : empty;
  field("os_type", opt_text(want.os_type), opt_text(h.os_type), false);
  field("virt_type", opt_text(want.virt_type), opt_text(h.virt_type), true);
  field("cores", opt_num(want.cores), opt_num(h.cores), true);
  field("memory", opt_num(want.memory), opt_num(h.memory), true);
  field("cpu_model", opt_text(want.cpu_model), opt_text(h.cpu_model), true);
  // bios is what a definition without firmware means
  std::optional<std::string> fw_have = h.firmware ? h.firmware : std::optional<std::string>("bios");
  field("firmware", opt_text(want.firmware), opt_text(fw_have), true);
  field("boot", want.boot ? std::optional(quoted_list(*want.boot)) : std::nullopt,
        h.boot ? std::optional(quoted_list(*h.boot)) : std::nullopt, true);
  field("boot/kernel", opt_text(want.kernel), opt_text(h.kernel), true);
  field("boot/initrd", opt_text(want.initrd), opt_text(h.initrd), true);
  field("boot/cmdline", opt_text(want.cmdline), opt_text(h.cmdline), true);
  field("cdrom", opt_text(want.cdrom), opt_text(h.cdrom), true);
  // The console: "pty" or the log file's path.
  auto console_text = [](const std::optional<std::string>& c) -> std::optional<std::string> {
    if (!c) return std::nullopt;
    return c->empty() ? std::string("\"pty\"") : json_quoted(*c);
  };
  // The current state leaves a pty out (show prints the plain form), so no "console" there is the pty.
  field("console/log", console_text(want.console), console_text(h.console.value_or("")), true);
  field("cloud_init", want.cloud_init, h.cloud_init, true);
  if (want.disks) {
    const std::vector<Disk> none;
    const auto& hd = h.disks ? *h.disks : none;
    for (size_t i = 0; i < std::max(want.disks->size(), hd.size()); ++i) {
      std::optional<std::string> a, b;
      if (i < want.disks->size()) a = disk_json((*want.disks)[i]);
      if (i < hd.size()) b = disk_json(hd[i]);
      if (have && a == b) continue;
      // A disk whose only change is its size is resized by its own Action (kVolumes), not redefined.
      if (have && a && b && (*want.disks)[i].storage == hd[i].storage) continue;
      out.push_back({"disks/" + std::to_string(i), have ? b : std::nullopt, a});
      *boot_only = true;
    }
  }
  if (want.network) {
    const std::vector<Nic> none;
    const auto& hn = h.network ? *h.network : none;
    for (size_t i = 0; i < std::max(want.network->size(), hn.size()); ++i) {
      std::optional<std::string> a, b;
      if (i < want.network->size()) {
        const Nic& w = (*want.network)[i];
        a = nic_json(w, true);
        // A MAC the document does not give is libvirt's choice: compare without it.
        if (i < hn.size()) b = nic_json(hn[i], !w.mac.empty());
      } else {
        b = nic_json(hn[i], true);
      }
      if (have && a == b) continue;
      out.push_back({"network/" + std::to_string(i), have ? b : std::nullopt, a});
      *boot_only = true;
    }
  }
  return out;
}

Action make_action(const Vm& vm, std::vector<std::string> item, Op op, int order, std::string summary) {
  Action a;
  a.item = {"vms", vm.id};
  a.item.insert(a.item.end(), item.begin(), item.end());
  a.op = op;
  a.order = order;
  a.summary = std::move(summary);
  return a;
}

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current) {
  Section want = parse_section(desired);
  Section have = parse_section(current);
  std::vector<Action> out;

  for (const auto& [id, vm] : want.vms) {
    const Vm* cur = nullptr;
    if (auto it = have.vms.find(id); it != have.vms.end() && it->second.name == vm.name) cur = &it->second;
    const std::string dom = "VM " + vm.name;

    if (have.backend == "proxmox" && !proxmox::vmid_of(id)) {
      throw Error(ErrorKind::InvalidArgument,
                  "kvm/vms/" + id + ": on Proxmox a VM id must end in its VMID (\"vm-100\")");
    }
    if (have.backend == "proxmox" && vm.cloud_init) {
      throw Error(ErrorKind::InvalidArgument, "kvm/vms/" + id + "/cloud_init: not supported yet on Proxmox");
    }
    if (have.backend == "proxmox" && vm.disks) {
      for (size_t i = 0; i < vm.disks->size(); ++i) {
        if (!(*vm.disks)[i].source.empty()) {
          throw Error(ErrorKind::InvalidArgument, "kvm/vms/" + id + "/disks/" + std::to_string(i) +
                                                      "/source: not supported yet on Proxmox");
        }
      }
    }
    if (have.backend == "proxmox" && (vm.kernel || vm.initrd || vm.cmdline || vm.console)) {
      throw Error(ErrorKind::InvalidArgument,
                  "kvm/vms/" + id + (vm.console ? "/console" : "/boot") + ": not supported yet on Proxmox");
    }
    if (have.missing_files && vm.state != "absent") {
      for (const auto& [key, path] : {std::pair{"kernel", vm.kernel}, std::pair{"initrd", vm.initrd}}) {
        if (path && std::find(have.missing_files->begin(), have.missing_files->end(), *path) !=
                        have.missing_files->end()) {
          throw Error(ErrorKind::InvalidArgument,
                      "kvm/vms/" + id + "/boot/" + key + ": \"" + *path + "\" does not exist on the host");
        }
      }
      for (size_t i = 0; vm.disks && i < vm.disks->size(); ++i) {
        const std::string& source = (*vm.disks)[i].source;
        if (!source.empty() && std::find(have.missing_files->begin(), have.missing_files->end(), source) !=
                                   have.missing_files->end()) {
          throw Error(ErrorKind::InvalidArgument, "kvm/vms/" + id + "/disks/" + std::to_string(i) +
                                                      "/source: \"" + source +
                                                      "\" is not a file on the host");
        }
      }
    }
    if (have.backend != "proxmox" && vm.cdrom && vm.cdrom->front() != '/') {
      throw Error(ErrorKind::InvalidArgument,
                  "kvm/vms/" + id + "/cdrom: \"" + *vm.cdrom +
                      "\" is a Proxmox volume id; with libvirt give the ISO's path");
    }
    if (vm.state == "absent") {
      if (!cur) continue;
      if (have.backend == "proxmox" && !vm.delete_disks) {
        throw Error(
            ErrorKind::InvalidArgument,
            "kvm/vms/" + id +
                ": on Proxmox `qm destroy` deletes the VM's disks; say so with \"delete_disks\": true");
      }
      Action a = make_action(
          vm, {}, Op::Delete, kRemove,
          "remove " + dom + (vm.delete_disks ? " and delete its disks" : " (its disks are kept)"));
      a.destructive = true;
      a.changes.push_back({"state", json_quoted(cur->state), std::nullopt});
      a.operation = make_operation<Ops>(UndefineDomain{vm.name, vm.shutdown_timeout, vm.delete_disks});
      out.push_back(std::move(a));
      continue;
    }

    // Pools the disks need must exist (when the current state says which do).
    if (vm.disks && have.pools) {
      for (size_t i = 0; i < vm.disks->size(); ++i) {
        const auto& pool = (*vm.disks)[i].storage;
        bool kept_disk = cur && cur->disks && i < cur->disks->size();
        if (!kept_disk && std::find(have.pools->begin(), have.pools->end(), pool) == have.pools->end()) {
          throw Error(ErrorKind::InvalidArgument, "kvm/vms/" + id + "/disks/" + std::to_string(i) +
                                                      ": storage pool \"" + pool +
                                                      "\" does not exist or is not active");
        }
      }
    }

    // Volumes: new disks get one; an existing disk may grow, never shrink or move.
    if (vm.disks) {
      for (size_t i = 0; i < vm.disks->size(); ++i) {
        const Disk& d = (*vm.disks)[i];
        const Disk* old = cur && cur->disks && i < cur->disks->size() ? &(*cur->disks)[i] : nullptr;
        std::string where = "kvm/vms/" + id + "/disks/" + std::to_string(i);
        if (!old) {
          uint64_t size = d.size;
          std::string format;
          if (!d.source.empty()) {
            // An overlay of the image: at least the image's size (its default), never smaller.
            auto image = have.images.find(d.source);
            if (image != have.images.end()) {
              format = image->second.format;
              if (size && size < image->second.size) {
                throw Error(ErrorKind::InvalidArgument,
                            where + ": the image \"" + d.source + "\" is " + size_text(image->second.size) +
                                "; a disk made from it cannot be " + size_text(size));
              }
              if (!size) size = image->second.size;
            } else {
              // query reads every image the document names; without it the volume's format is unknown.
              throw Error(ErrorKind::InvalidArgument, where + "/source: \"" + d.source + "\" was not read");
            }
          }
          if (size == 0) {
            throw Error(ErrorKind::InvalidArgument, where + ": a new disk needs a \"size\"");
          }
          std::string volume = volume_name(vm.name, i, !d.source.empty());
          Action a = make_action(vm, {"disks", std::to_string(i)}, Op::Create, kVolumes,
                                 "create volume " + d.storage + "/" + volume + " (" + size_text(size) + ")" +
                                     (d.source.empty() ? "" : " from image " + d.source));
          a.changes.push_back({"size", std::nullopt, json_quoted(size_text(size))});
          if (!d.source.empty()) a.changes.push_back({"source", std::nullopt, json_quoted(d.source)});
          a.operation = make_operation<Ops>(CreateVolume{d.storage, volume, size, d.source, format});
          out.push_back(std::move(a));
          continue;
        }
        if (!d.source.empty() && d.source != old->source) {
          throw Error(ErrorKind::InvalidArgument,
                      where + ": the disk " +
                          (old->source.empty() ? std::string("is made from no image")
                                               : "is made from \"" + old->source + "\"") +
                          "; making it from \"" + d.source +
                          "\" is not supported (remove the VM with its disks)");
        }
        if (old->storage != d.storage) {
          throw Error(ErrorKind::InvalidArgument, where + ": the disk is in storage pool \"" + old->storage +
                                                      "\"; moving it to \"" + d.storage +
                                                      "\" is not supported");
        }
        if (d.size == 0) continue;  // the document does not say (or the volume's size is unknown)
        if (old->size == 0) {
          throw Error(ErrorKind::InvalidArgument, where +
                                                      ": the disk's volume is in no active storage pool, so "
                                                      "its size is unknown");
        }
        if (d.size < old->size) {
          throw Error(ErrorKind::InvalidArgument, where + ": the disk is " + size_text(old->size) +
                                                      "; shrinking it to " + size_text(d.size) +
                                                      " is not supported");
        }
        if (d.size > old->size) {
          Action a = make_action(vm, {"disks", std::to_string(i)}, Op::Update, kVolumes,
                                 "grow disk " + std::to_string(i) + " of " + dom + " " +
                                     size_text(old->size) + " -> " + size_text(d.size));
          a.changes.push_back({"size", json_quoted(size_text(old->size)), json_quoted(size_text(d.size))});
          a.needs_reboot = cur->state == "running";
          a.operation = make_operation<Ops>(ResizeVolume{vm.name, i, d.size});
          out.push_back(std::move(a));
        }
      }
    }

    bool boot_only = false;
    auto changes = definition_changes(vm, cur, &boot_only);
    if (!cur || !changes.empty()) {
      bool running = cur && cur->state == "running" && vm.state == "running";
      bool restart = running && boot_only && vm.restart_allowed;
      std::string summary = (cur ? "update " : "define ") + dom;
      if (running && boot_only) {
        summary += restart ? " (restarts the VM)" : " (takes effect at the next boot)";
      }
      Action a = make_action(vm, {}, cur ? Op::Update : Op::Create, kDefine, summary);
      a.changes = std::move(changes);
      a.needs_reboot = running && boot_only && !restart;
      a.operation = make_operation<Ops>(DefineDomain{vm, restart});
      out.push_back(std::move(a));
    }

    bool autostart_now = cur && cur->autostart.value_or(false);
    if (vm.autostart && (*vm.autostart != autostart_now || (!cur && *vm.autostart))) {
      Action a = make_action(vm, {"autostart"}, Op::Update, kAutostart,
                             std::string(*vm.autostart ? "enable" : "disable") + " autostart of " + dom);
      a.changes.push_back({"",
                           cur ? std::optional<std::string>(autostart_now ? "true" : "false") : std::nullopt,
                           *vm.autostart ? "true" : "false"});
      a.operation = make_operation<Ops>(SetAutostart{vm.name, *vm.autostart});
      out.push_back(std::move(a));
    }

    std::string now = cur ? cur->state : "stopped";
    if (vm.state != now) {
      bool start = vm.state == "running";
      Action a =
          make_action(vm, {"state"}, start ? Op::Start : Op::Stop, kPower,
                      (start ? "start " : "shut down ") + dom +
                          (start ? "" : " (forced off after " + std::to_string(vm.shutdown_timeout) + " s)"));
      a.changes.push_back(
          {"", cur ? std::optional<std::string>(json_quoted(now)) : std::nullopt, json_quoted(vm.state)});
      if (start) {
        a.operation = make_operation<Ops>(StartDomain{vm.name});
      } else {
        a.operation = make_operation<Ops>(StopDomain{vm.name, vm.shutdown_timeout});
      }
      out.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace opdbus::kvm
