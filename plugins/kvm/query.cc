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
  std::map<std::string, std::string> backing;                        // volume path -> its backing image
  for (const auto& pool : pools) {
    for (const auto& v : backend.list_volumes(pool)) {
      capacity[{v.pool, v.name}] = v.capacity;
      by_path[v.path] = {v.pool, v.capacity};
      try {
        backing[v.path] = volume_backing(v.xml);
      } catch (const Error& e) {
        throw e.with_context("volume '" + pool + "/" + v.name + "'");
      }
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
      std::string path = ref.path;
      if (!ref.volume.empty()) {
        if (auto c = capacity.find({ref.pool, ref.volume}); c != capacity.end()) disk.size = c->second;
        for (const auto& [p, where] : by_path) {
          if (where.first == ref.pool && p.substr(p.rfind('/') + 1) == ref.volume) path = p;
        }
      } else if (auto p = by_path.find(ref.path); p != by_path.end()) {
        disk.storage = p->second.first;
        disk.size = p->second.second;
      }
      if (auto b = backing.find(path); b != backing.end()) disk.source = b->second;
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
    // The images disks are made from: their format and size (a disk may not be smaller), or missing.
    JsonValue images(rapidjson::kObjectType);
    for (const auto& [id, vm] : parse_section(*desired).vms) {
      if (!vm.disks) continue;
      for (const auto& d : *vm.disks) {
        if (d.source.empty() || images.HasMember(d.source.c_str())) continue;
        auto image = backend.image(d.source);
        if (!image) {
          missing.PushBack(str_value(d.source, a), a);
          continue;
        }
        JsonValue o(rapidjson::kObjectType);
        o.AddMember("format", str_value(image->format, a), a);
        o.AddMember("size", JsonValue(image->size), a);
        images.AddMember(str_value(d.source, a), o, a);
      }
    }
    target.AddMember("missing_files", missing, a);
    target.AddMember("images", images, a);
    out.AddMember(str_value(kTargetKey, a), target, a);
  }
  return out;
}

}  // namespace opdbus::kvm
