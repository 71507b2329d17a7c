#include "storage/query.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "error.h"
#include "storage/fstab.h"
#include "storage/model.h"

namespace opdbus::storage {
namespace {

namespace fs = std::filesystem;

std::string table_name(const std::string& libfdisk_name) {
  return libfdisk_name == "dos" ? "msdos" : libfdisk_name;
}

bool block_spec(const std::string& spec) {
  for (const char* p : {"/dev/", "UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="}) {
    if (spec.rfind(p, 0) == 0) return true;
  }
  return false;
}

class Reader {
 public:
  explicit Reader(Backend& host) : host_(host) {
    out_.SetObject();
    for (const char* k : {"devices", "filesystems", "btrfs_subvolumes", "mounts"}) {
      out_.AddMember(rapidjson::StringRef(k), JsonValue(rapidjson::kObjectType), alloc());
    }
  }

  JsonDoc named(const JsonValue& desired) {
    Section want = normalise(desired, nullptr);
    for (const auto& [key, d] : want.devices) device(key);
    for (const auto& [key, f] : want.filesystems) {
      if (out_["filesystems"].HasMember(key.c_str())) continue;
      if (auto dev = resolve(key)) filesystem(key, *dev, false);
    }
    for (const auto& [key, list] : want.subvolumes) {
      if (auto dev = resolve(key)) subvolumes(key, *dev);
    }
    for (const auto& [target, m] : want.mounts) mount(m);
    return finish();
  }

  JsonDoc all() {
    auto devices = host_.block_devices();
    for (const auto& d : devices) {
      if (d.partition) continue;
      sys::PartitionTable t;
      try {
        t = host_.read_table(d.path);
      } catch (const Error&) {
        continue;  // a drive without a medium, or one we may not open
      }
      if (t.label && *t.label != "gpt" && *t.label != "dos") t.label.reset();
      add(out_["devices"], d.path, device_json(t));
      if (!t.label) filesystem(d.path, d.path, true);
    }
    for (const auto& d : devices) {
      if (d.partition) filesystem(d.path, d.path, true);
    }
    JsonValue& fss = out_["filesystems"];
    std::vector<std::string> btrfs;
    for (const auto& m : fss.GetObject()) {
      if (get_string(m.value, "type") == "btrfs")
        btrfs.emplace_back(m.name.GetString(), m.name.GetStringLength());
    }
    for (const auto& key : btrfs) {
      try {
        subvolumes(key, key);
      } catch (const Error&) {
        // Listing needs a private mount (root); show what can be seen.
      }
    }
    for (const auto& e : fstab()) {
      if (!block_spec(e.spec) || e.target.empty() || e.target[0] != '/' || e.fstype == "swap") continue;
      MountSpec m;
      m.target = e.target;
      m.device = e.spec;
      mount(m);
    }
    return finish();
  }

 private:
  JsonAlloc& alloc() { return out_.GetAllocator(); }

  void add(JsonValue& obj, const std::string& key, JsonValue v) {
    if (obj.HasMember(key.c_str())) obj.RemoveMember(key.c_str());
    obj.AddMember(str_value(key, alloc()), v, alloc());
  }

  JsonDoc finish() { return std::move(out_); }

  std::optional<std::string> resolve(const std::string& spec) {
    auto it = resolved_.find(spec);
    if (it != resolved_.end()) return it->second;
    auto r = host_.resolve(spec);
    resolved_[spec] = r;
    return r;
  }

  const sys::Signature& probe(const std::string& dev) {
    auto it = probes_.find(dev);
    if (it != probes_.end()) return it->second;
    return probes_[dev] = host_.probe(dev);
  }

  const std::vector<sys::MountInfo>& live() {
    if (!live_) live_ = host_.mounts();
    return *live_;
  }

  const std::vector<FstabEntry>& fstab() {
    if (!fstab_) fstab_ = parse_fstab(host_.read_file("/etc/fstab").value_or(""));
    return *fstab_;
  }

  JsonValue device_json(const sys::PartitionTable& t) {
    auto& a = alloc();
    JsonValue o(rapidjson::kObjectType);
    if (t.label) o.AddMember("partition_table", str_value(table_name(*t.label), a), a);
    if (t.device_size) o.AddMember("size", size_value(t.device_size, a), a);
    if (t.label) {
      std::string table = table_name(*t.label);
      JsonValue parts(rapidjson::kArrayType);
      for (const auto& p : t.partitions) {
        JsonValue po(rapidjson::kObjectType);
        po.AddMember("number", p.number, a);
        po.AddMember("start", size_value(p.start, a), a);
        po.AddMember("size", size_value(p.size, a), a);
        po.AddMember("type", str_value(partition_type_name(table, p.type), a), a);
        if (!p.name.empty()) po.AddMember("label", str_value(p.name, a), a);
        parts.PushBack(po, a);
      }
      o.AddMember("partitions", parts, a);
    }
    return o;
  }

  void device(const std::string& key) {
    auto dev = resolve(key);
    if (!dev) throw Error(ErrorKind::InvalidArgument, key + ": no such block device");
    sys::PartitionTable t = host_.read_table(*dev);
    add(out_["devices"], key, device_json(t));
    if (!t.label) {
      filesystem(key, *dev, false);
      return;
    }
    for (const auto& p : t.partitions) {
      if (auto node = host_.partition_node(*dev, p.number))
        filesystem(partition_path(key, p.number), *node, false);
    }
  }

  // `only_creatable`: show reports only what a document could ask for.
  void filesystem(const std::string& key, const std::string& dev, bool only_creatable) {
    sys::Signature s;
    try {
      s = probe(dev);
    } catch (const Error&) {
      if (!only_creatable) throw;
      return;
    }
    std::string type = signature_type(s);
    if (type.empty() || (only_creatable && !creatable_filesystem(type))) return;
    auto& a = alloc();
    JsonValue o(rapidjson::kObjectType);
    o.AddMember("type", str_value(type, a), a);
    if (!s.label.empty()) o.AddMember("label", str_value(s.label, a), a);
    if (!s.uuid.empty()) o.AddMember("uuid", str_value(s.uuid, a), a);
    add(out_["filesystems"], key, std::move(o));
  }

  void subvolumes(const std::string& key, const std::string& dev) {
    if (probe(dev).type != "btrfs") return;
    auto& a = alloc();
    JsonValue list(rapidjson::kArrayType);
    for (const auto& name : host_.subvolumes(dev)) {
      JsonValue o(rapidjson::kObjectType);
      o.AddMember("name", str_value(name, a), a);
      list.PushBack(o, a);
    }
    add(out_["btrfs_subvolumes"], key, std::move(list));
  }

  static std::optional<std::string> live_subvol(const sys::MountInfo& m) {
    if (m.fstype != "btrfs") return std::nullopt;
    std::string s = normalise_subvol(m.root);
    if (s.empty()) return std::nullopt;
    return s;
  }

  std::optional<std::string> canonical_source(const std::string& source) {
    if (source.empty() || source[0] != '/') return std::nullopt;
    std::error_code ec;
    fs::path real = fs::canonical(source, ec);
    if (ec) return std::nullopt;
    return real.string();
  }

  void mount(const MountSpec& m) {
    // Nothing can be mounted on a mount point that does not exist (resolved inside the root).
    std::optional<std::string> host_target = host_.mount_point(m.target);
    const sys::MountInfo* on_top = nullptr;
    for (const auto& l : live()) {
      if (host_target && normal_path(l.target) == normal_path(*host_target)) on_top = &l;
    }
    const FstabEntry* entry = nullptr;
    for (const auto& e : fstab()) {
      if (normal_path(e.target) == normal_path(m.target)) {
        entry = &e;
        break;
      }
    }
    std::optional<std::string> want_dev = m.device.empty() ? std::nullopt : resolve(m.device);
    auto& a = alloc();
    JsonValue o(rapidjson::kObjectType);
    auto put_common = [&](const std::string& device, const std::optional<std::string>& subvol,
                          const std::vector<std::string>& options, const std::string& fstype) {
      o.AddMember("device", str_value(device, a), a);
      if (subvol) o.AddMember("subvol", str_value(*subvol, a), a);
      if (!options.empty()) o.AddMember("options", str_value(join_options(options), a), a);
      if (!fstype.empty()) o.AddMember("fstype", str_value(fstype, a), a);
    };
    if (entry) {
      std::optional<std::string> subvol;
      auto options = split_options(entry->options, &subvol);
      std::optional<std::string> entry_dev = block_spec(entry->spec) ? resolve(entry->spec) : std::nullopt;
      bool same = entry->spec == m.device || (want_dev && entry_dev && *want_dev == *entry_dev);
      put_common(same ? m.device : entry->spec, subvol, options, entry->fstype);
      bool mounted = on_top && entry_dev && canonical_source(on_top->source) == entry_dev &&
                     live_subvol(*on_top) == subvol;
      o.AddMember("state", rapidjson::StringRef(mounted ? "mounted" : "unmounted"), a);
    } else if (on_top && canonical_source(on_top->source)) {
      std::string src = *canonical_source(on_top->source);
      std::optional<std::string> ignored;
      auto live_opts = split_options(on_top->options, &ignored);
      std::vector<std::string> kept;
      for (const auto& opt : live_opts) {
        if (opt.rfind("subvolid=", 0) != 0) kept.push_back(opt);
      }
      bool all_there = true;
      for (const auto& want : m.options) {
        if (userspace_mount_option(want)) continue;
        if (std::find(kept.begin(), kept.end(), want) == kept.end()) all_there = false;
      }
      put_common(want_dev && src == *want_dev ? m.device : on_top->source, live_subvol(*on_top),
                 all_there ? m.options : kept, on_top->fstype);
      o.AddMember("state", "mounted", a);
      o.AddMember("fstab", false, a);
    } else {
      return;
    }
    add(out_["mounts"], m.target, std::move(o));
  }

  Backend& host_;
  JsonDoc out_;
  std::map<std::string, std::optional<std::string>> resolved_;
  std::map<std::string, sys::Signature> probes_;
  std::optional<std::vector<sys::MountInfo>> live_;
  std::optional<std::vector<FstabEntry>> fstab_;
};

}  // namespace

std::string signature_type(const sys::Signature& s) {
  if (s.ambivalent) return "several conflicting signatures";
  if (!s.type.empty()) return s.type;
  if (!s.pttype.empty()) return table_name(s.pttype) + " partition table";
  return "";
}

JsonDoc query_section(Backend& host, const JsonValue* desired) {
  Reader r(host);
  return desired ? r.named(*desired) : r.all();
}

}  // namespace opdbus::storage
