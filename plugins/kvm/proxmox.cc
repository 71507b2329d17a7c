#include "kvm/proxmox.h"

#include <algorithm>
#include <map>

#include "error.h"
#include "kvm/ops.h"
#include "text.h"

namespace opdbus::kvm::proxmox {
namespace {

constexpr uint64_t kGiB = 1024ull * 1024 * 1024;
const char* const kDiskBuses[] = {"scsi", "virtio", "sata", "ide"};

// "a=1,b=2,virtio=MAC" -> ordered pairs; a bare first element ("local-lvm:vm-100-disk-0") has key "".
std::vector<std::pair<std::string, std::string>> options(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& part : split(value, ',')) {
    auto eq = part.find('=');
    if (eq == std::string::npos) {
      out.emplace_back("", part);
    } else {
      out.emplace_back(part.substr(0, eq), part.substr(eq + 1));
    }
  }
  return out;
}

std::string option(const std::vector<std::pair<std::string, std::string>>& opts, std::string_view key) {
  for (const auto& [k, v] : opts) {
    if (k == key) return v;
  }
  return "";
}

std::string gib(uint64_t bytes) {  // Proxmox allocates whole GiB: round up
  return std::to_string((bytes + kGiB - 1) / kGiB);
}

std::string cpu_type(const std::string& model) {
  if (model == "host-passthrough" || model == "host-model") return "host";
  return model;
}

std::string boot_order(const std::vector<std::string>& boot) {
  std::vector<std::string> devs;
  for (const auto& b : boot) devs.push_back(b == "hd" ? "scsi0" : b == "cdrom" ? "ide2" : "net0");
  return "order=" + join(devs, ";");
}

std::string net_value(const Nic& n) {
  std::string v = n.model.empty() ? "virtio" : n.model;
  if (!n.mac.empty()) v += "=" + n.mac;
  return v + ",bridge=" + n.bridge;
}

// Options common to create and set, for what the document gives.
void add_fields(std::vector<std::string>& a, const Vm& vm, size_t first_new_disk) {
  a.insert(a.end(), {"--name", vm.name});
  if (vm.os_type) a.insert(a.end(), {"--ostype", *vm.os_type});
  if (vm.cores) a.insert(a.end(), {"--cores", std::to_string(*vm.cores)});
  if (vm.memory) a.insert(a.end(), {"--memory", std::to_string(*vm.memory)});
  if (vm.cpu_model) a.insert(a.end(), {"--cpu", cpu_type(*vm.cpu_model)});
  if (vm.virt_type) a.insert(a.end(), {"--kvm", *vm.virt_type == "kvm" ? "1" : "0"});
  if (vm.firmware) {
    a.insert(a.end(), {"--bios", *vm.firmware == "uefi" ? "ovmf" : "seabios"});
    if (*vm.firmware == "uefi" && first_new_disk == 0) {
      std::string pool = vm.disks && !vm.disks->empty() ? (*vm.disks)[0].storage : std::string(kDefaultPool);
      a.insert(a.end(), {"--efidisk0", pool + ":1,efitype=4m"});
    }
  }
  if (vm.boot) a.insert(a.end(), {"--boot", boot_order(*vm.boot)});
  if (vm.cdrom) a.insert(a.end(), {"--ide2", *vm.cdrom + ",media=cdrom"});
  if (vm.disks) {
    for (size_t i = first_new_disk; i < vm.disks->size(); ++i) {
      const Disk& d = (*vm.disks)[i];
      a.insert(a.end(), {"--scsi" + std::to_string(i), d.storage + ":" + gib(d.size)});
    }
  }
  if (vm.network) {
    for (size_t i = 0; i < vm.network->size(); ++i) {
      a.insert(a.end(), {"--net" + std::to_string(i), net_value((*vm.network)[i])});
    }
  }
}

std::map<std::string, std::string> config_lines(std::string_view config) {
  std::map<std::string, std::string> out;
  for (const auto& line : split(config, '\n')) {
    if (line.empty() || line[0] == '#' || line[0] == '[') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[trim(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  return out;
}

// Disk keys of a config in the order parse_config reports them.
std::vector<std::string> disk_keys(const std::map<std::string, std::string>& cfg) {
  std::vector<std::string> out;
  for (const char* bus : kDiskBuses) {
    std::vector<std::pair<int, std::string>> found;
    for (const auto& [k, v] : cfg) {
      if (!starts_with(k, bus)) continue;
      std::string idx = k.substr(std::string_view(bus).size());
      if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos) continue;
      if (option(options(v), "media") == "cdrom") continue;
      found.emplace_back(std::stoi(idx), k);
    }
    std::sort(found.begin(), found.end());
    for (auto& [i, k] : found) out.push_back(k);
  }
  return out;
}

struct Listed {
  long vmid;
  std::string name, status;
};

std::vector<Listed> list_vms(const Runner& run) {
  std::string text = run(list_argv());
  JsonDoc d;
  d.Parse(text.c_str(), text.size());
  if (d.HasParseError() || !d.IsArray()) {
    throw Error(ErrorKind::BackendError, "pvesh get /nodes/localhost/qemu: output is not a JSON list");
  }
  std::vector<Listed> out;
  for (const auto& v : d.GetArray()) {
    if (!v.IsObject()) continue;
    Listed l{get_int(v, "vmid"), get_string(v, "name"), get_string(v, "status")};
    if (const JsonValue* id = member(v, "vmid"); id && id->IsString()) l.vmid = std::atol(id->GetString());
    out.push_back(std::move(l));
  }
  return out;
}

std::optional<Listed> find_by_name(const Runner& run, const std::string& name) {
  for (auto& l : list_vms(run)) {
    if (l.name == name) return l;
  }
  return std::nullopt;
}

}  // namespace

std::optional<long> vmid_of(std::string_view id) {
  size_t end = id.size(), start = end;
  while (start > 0 && id[start - 1] >= '0' && id[start - 1] <= '9') --start;
  if (start == end || end - start > 9) return std::nullopt;
  long n = std::atol(std::string(id.substr(start)).c_str());
  if (n < 100) return std::nullopt;
  return n;
}

std::string id_of(long vmid) {
  return "vm-" + std::to_string(vmid);
}

Vm parse_config(std::string_view config) {
  auto cfg = config_lines(config);
  Vm vm;
  auto get = [&](const char* k) -> std::optional<std::string> {
    auto it = cfg.find(k);
    if (it == cfg.end()) return std::nullopt;
    return it->second;
  };
  vm.name = get("name").value_or("");
  vm.os_type = get("ostype");
  if (auto v = get("cores"))
    vm.cores = std::atol(v->c_str()) * std::max(1L, std::atol(get("sockets").value_or("1").c_str()));
  else
    vm.cores = 1;
  if (auto v = get("memory"))
    vm.memory = std::atol(v->c_str());
  else
    vm.memory = 512;
  if (auto v = get("cpu")) {
    std::string type = option(options(*v), "cputype");
    if (type.empty()) type = options(*v).empty() ? *v : options(*v)[0].second;
    vm.cpu_model = type == "host" ? "host-passthrough" : type;
  }
  vm.virt_type = get("kvm").value_or("1") == "0" ? "qemu" : "kvm";
  vm.firmware = get("bios").value_or("seabios") == "ovmf" ? "uefi" : "bios";
  if (auto v = get("boot")) {
    std::string order = option(options(*v), "order");
    if (!order.empty()) {
      vm.boot.emplace();
      for (const auto& dev : split(order, ';')) {
        std::string kind = starts_with(dev, "net") ? "network" : dev == "ide2" ? "cdrom" : "hd";
        if (std::find(vm.boot->begin(), vm.boot->end(), kind) == vm.boot->end()) vm.boot->push_back(kind);
      }
    }
  }
  if (auto v = get("ide2")) {
    auto o = options(*v);
    if (option(o, "media") == "cdrom" && !o.empty() && o[0].first.empty() && o[0].second != "none")
      vm.cdrom = o[0].second;
  }
  vm.disks.emplace();
  for (const auto& key : disk_keys(cfg)) {
    auto o = options(cfg[key]);
    Disk d;
    std::string source = o.empty() ? "" : o[0].second;
    d.storage = source.substr(0, source.find(':'));
    JsonDoc size;
    size.SetString(option(o, "size").c_str(), size.GetAllocator());
    d.size = parse_size(size).value_or(0);
    vm.disks->push_back(std::move(d));
  }
  vm.network.emplace();
  for (int i = 0; i < 32; ++i) {
    auto v = get(("net" + std::to_string(i)).c_str());
    if (!v) continue;
    auto o = options(*v);
    Nic n;
    n.bridge = option(o, "bridge");
    n.model = o.empty() ? "" : o[0].first;
    n.mac = o.empty() ? "" : lower(o[0].second);
    vm.network->push_back(std::move(n));
  }
  vm.autostart = get("onboot").value_or("0") == "1";
  return vm;
}

std::vector<std::string> create_argv(long vmid, const Vm& vm) {
  std::vector<std::string> a{"qm", "create", std::to_string(vmid)};
  add_fields(a, vm, 0);
  if (vm.disks && !vm.disks->empty()) a.insert(a.end(), {"--scsihw", "virtio-scsi-single"});
  if (vm.autostart) a.insert(a.end(), {"--onboot", *vm.autostart ? "1" : "0"});
  return a;
}

std::vector<std::string> set_argv(long vmid, const Vm& vm, size_t current_disks) {
  std::vector<std::string> a{"qm", "set", std::to_string(vmid)};
  add_fields(a, vm, current_disks);
  return a;
}

std::vector<std::string> resize_argv(long vmid, const std::string& disk_key, uint64_t bytes) {
  return {"qm", "resize", std::to_string(vmid), disk_key, gib(bytes) + "G"};
}
std::vector<std::string> start_argv(long vmid) {
  return {"qm", "start", std::to_string(vmid)};
}
std::vector<std::string> shutdown_argv(long vmid, int timeout) {
  return {"qm", "shutdown", std::to_string(vmid), "--timeout", std::to_string(timeout), "--forceStop", "1"};
}
std::vector<std::string> destroy_argv(long vmid) {
  return {"qm", "destroy", std::to_string(vmid), "--purge", "1"};
}
std::vector<std::string> list_argv() {
  return {"pvesh", "get", "/nodes/localhost/qemu", "--output-format", "json"};
}
std::vector<std::string> config_argv(long vmid) {
  return {"qm", "config", std::to_string(vmid)};
}

JsonDoc query_section(const Runner& run, const JsonValue* desired) {
  std::map<long, std::string> ids;  // VMID -> the document's id
  if (desired) {
    for (const auto& [id, vm] : parse_section(*desired).vms) {
      if (auto n = vmid_of(id)) ids[*n] = id;
    }
  }
  JsonDoc out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  JsonValue vms(rapidjson::kObjectType);
  auto listed = list_vms(run);
  std::sort(listed.begin(), listed.end(), [](const Listed& x, const Listed& y) { return x.vmid < y.vmid; });
  for (const auto& l : listed) {
    Vm vm = parse_config(run(config_argv(l.vmid)));
    vm.id = ids.count(l.vmid) ? ids[l.vmid] : id_of(l.vmid);
    if (vm.name.empty()) vm.name = l.name;
    vm.state = l.status == "running" ? "running" : "stopped";
    vms.AddMember(str_value(vm.id, a), JsonValue(vm_to_json(vm, &a), a), a);
  }
  out.AddMember("vms", vms, a);
  if (desired) {
    JsonValue target(rapidjson::kObjectType);
    target.AddMember("backend", "proxmox", a);
    out.AddMember(str_value(kTargetKey, a), target, a);
  }
  return out;
}

void apply_action(const Runner& run, const Action& action) {
  const auto& ops = operation_of<Ops>(action.operation, action.resource());
  auto vmid_by_name = [&](const std::string& name) -> std::optional<Listed> {
    return find_by_name(run, name);
  };
  struct Visitor {
    const Runner& run;
    std::function<std::optional<Listed>(const std::string&)> lookup;
    void operator()(const CreateVolume&) const {}  // qm create / qm set allocate the disk
    void operator()(const ResizeVolume& op) const {
      auto l = lookup(op.domain);
      if (!l) throw Error(ErrorKind::BackendError, "no VM named '" + op.domain + "' on this node");
      auto keys = disk_keys(config_lines(run(config_argv(l->vmid))));
      if (op.index >= keys.size())
        throw Error(ErrorKind::BackendError, "VM has no disk " + std::to_string(op.index));
      run(resize_argv(l->vmid, keys[op.index], op.capacity));
    }
    void operator()(const DefineDomain& op) const {
      auto vmid = vmid_of(op.vm.id);
      if (!vmid) {
        throw Error(ErrorKind::InvalidArgument,
                    "on Proxmox a VM id must end in its VMID (\"vm-100\"); found \"" + op.vm.id + "\"");
      }
      bool exists = false, running = false;
      for (const auto& l : list_vms(run)) {
        if (l.vmid == *vmid) exists = true, running = l.status == "running";
      }
      if (!exists) {
        run(create_argv(*vmid, op.vm));
        return;
      }
      auto current = parse_config(run(config_argv(*vmid)));
      run(set_argv(*vmid, op.vm, current.disks ? current.disks->size() : 0));
      if (op.restart && running) {
        run(shutdown_argv(*vmid, op.vm.shutdown_timeout));
        run(start_argv(*vmid));
      }
    }
    void operator()(const SetAutostart& op) const {
      auto l = lookup(op.domain);
      if (!l) throw Error(ErrorKind::BackendError, "no VM named '" + op.domain + "' on this node");
      run({"qm", "set", std::to_string(l->vmid), "--onboot", op.autostart ? "1" : "0"});
    }
    void operator()(const StartDomain& op) const {
      auto l = lookup(op.domain);
      if (!l) throw Error(ErrorKind::BackendError, "no VM named '" + op.domain + "' on this node");
      if (l->status != "running") run(start_argv(l->vmid));
    }
    void operator()(const StopDomain& op) const {
      auto l = lookup(op.domain);
      if (l && l->status == "running") run(shutdown_argv(l->vmid, op.timeout));
    }
    void operator()(const UndefineDomain& op) const {
      auto l = lookup(op.domain);
      if (!l) return;
      if (l->status == "running") run(shutdown_argv(l->vmid, op.timeout));
      run(destroy_argv(l->vmid));
    }
  };
  try {
    std::visit(Visitor{run, vmid_by_name}, ops);
  } catch (const Error& e) {
    throw e.with_context(action.summary);
  }
}

}  // namespace opdbus::kvm::proxmox
