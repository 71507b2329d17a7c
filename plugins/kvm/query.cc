#include "kvm/query.h"

#include <map>

#include "error.h"
#include "kvm/model.h"

namespace opdbus::kvm {

JsonDoc query_section(Backend& backend, const JsonValue* desired) {
  std::map<std::string, std::string> id_of;  // domain name -> the document's VM id
  if (desired) {
    for (const auto& [id, vm] : parse_section(*desired).vms) id_of[vm.name] = id;
  }
  auto pools = backend.list_pools();
  std::map<std::pair<std::string, std::string>, uint64_t> capacity;  // (pool, volume) -> bytes
  std::map<std::string, std::pair<std::string, uint64_t>> by_path;   // path -> (pool, bytes)
  for (const auto& pool : pools) {
    for (const auto& v : backend.list_volumes(pool)) {
      capacity[{v.pool, v.name}] = v.capacity;
      by_path[v.path] = {v.pool, v.capacity};
    }
  }

  JsonDoc out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  JsonValue vms(rapidjson::kObjectType);
  std::map<std::string, JsonValue> sorted;
  for (const auto& d : backend.list_domains()) {
    if (!d.persistent) continue;  // a transient domain is no VM a document can describe
    ParsedDomain parsed;
    try {
      parsed = parse_domain_xml(d.xml);
    } catch (const Error& e) {
      throw e.with_context("domain '" + d.name + "'");
    }
    Vm& vm = parsed.vm;
    vm.name = d.name;
    auto it = id_of.find(d.name);
    vm.id = it != id_of.end() ? it->second : d.name;
    vm.autostart = d.autostart;
    vm.state = d.state == "shutoff" || d.state == "shutdown" || d.state == "crashed" || d.state == "nostate"
                   ? "stopped"
                   : "running";
    for (size_t i = 0; i < parsed.disks.size(); ++i) {
      const DiskRef& ref = parsed.disks[i];
      Disk& disk = (*vm.disks)[i];
      if (!ref.volume.empty()) {
        if (auto c = capacity.find({ref.pool, ref.volume}); c != capacity.end()) disk.size = c->second;
      } else if (auto p = by_path.find(ref.path); p != by_path.end()) {
        disk.storage = p->second.first;
        disk.size = p->second.second;
      }
    }
    sorted.emplace(vm.id, JsonValue(vm_to_json(vm, &a), a));
  }
  for (auto& [id, v] : sorted) vms.AddMember(str_value(id, a), v, a);
  out.AddMember("vms", vms, a);
  if (desired) {
    JsonValue target(rapidjson::kObjectType), list(rapidjson::kArrayType);
    for (const auto& p : pools) list.PushBack(str_value(p, a), a);
    target.AddMember("pools", list, a);
    // The host files the document boots from that are not there: a plan error (diff), not a failing start.
    JsonValue missing(rapidjson::kArrayType);
    for (const auto& [id, vm] : parse_section(*desired).vms) {
      for (const auto& path : {vm.kernel, vm.initrd}) {
        if (path && !backend.file_exists(*path)) missing.PushBack(str_value(*path, a), a);
      }
    }
    target.AddMember("missing_files", missing, a);
    out.AddMember(str_value(kTargetKey, a), target, a);
  }
  return out;
}

}  // namespace opdbus::kvm
