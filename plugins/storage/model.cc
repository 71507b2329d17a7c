#include "storage/model.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "text.h"

namespace opdbus::storage {
namespace {

struct TypeName {
  const char* name;
  const char* gpt;  // nullptr: not on GPT
  const char* mbr;  // nullptr: not on MBR
};

// GPT GUIDs from the UEFI specification and the Discoverable Partitions Specification; MBR codes as fdisk
// lists them.
constexpr TypeName kTypes[] = {
    {"efi", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "0xef"},
    {"linux", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "0x83"},
    {"swap", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "0x82"},
    {"bios_grub", "21686148-6449-6E6F-744E-656564454649", nullptr},
    {"lvm", "E6D6D379-F507-44C2-A23C-238F2A3DF928", "0x8e"},
    {"raid", "A19D880F-05FC-4D3B-A006-743F0F84911E", "0xfd"},
};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool is_guid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// "0x83", "83", "0X8E" -> "0x83"; nullopt if not one or two hex digits.
std::optional<std::string> mbr_code(const std::string& s) {
  std::string hex = s;
  if (hex.size() > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex = hex.substr(2);
  if (hex.empty() || hex.size() > 2) return std::nullopt;
  for (char c : hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  unsigned v = static_cast<unsigned>(std::stoul(hex, nullptr, 16));
  if (v == 0) return std::nullopt;
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return std::string(buf);
}

std::string str(const JsonValue& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : "";
}

bool is_observe(const JsonValue& v) {
  return get_string(v, "mode") == "observe";
}

std::optional<uint64_t> opt_bytes(const JsonValue& obj, const char* key) {
  const JsonValue* v = member(obj, key);
  if (!v) return std::nullopt;
  auto s = parse_size(*v);
  if (!s || s->kind != Size::Kind::Bytes) return std::nullopt;
  return s->bytes;
}

class Normaliser {
 public:
  Normaliser(const JsonValue& section, std::vector<Problem>* problems)
      : section_(section), problems_(problems) {}

  Section run() {
    bool observe_all = is_observe(section_);
    devices(observe_all);
    filesystems(observe_all);
    subvolumes(observe_all);
    mounts(observe_all);
    cross_checks();
    return std::move(out_);
  }

 private:
  void problem(std::vector<std::string> tokens, std::string message) {
    if (problems_) problems_->push_back(Problem{std::move(tokens), std::move(message)});
  }

  void devices(bool observe_all) {
    const JsonValue* devs = member(section_, "devices");
    if (!devs || !devs->IsObject()) return;
    for (const auto& m : devs->GetObject()) {
      DeviceSpec d;
      d.key = str(m.name);
      const JsonValue& v = m.value;
      std::vector<std::string> at{"devices", d.key};
      if (d.key.rfind("/dev/", 0) != 0) {
        problem(at,
                "a partitioned device is named by its path (\"/dev/sda\", \"/dev/disk/by-id/...\"), not \"" +
                    d.key + "\"");
      }
      d.observe = observe_all || is_observe(v);
      d.wipe = get_bool(v, "wipe", false);
      d.size = opt_bytes(v, "size");
      if (auto t = opt_string(v, "partition_table")) {
        d.table = *t;
        d.has_table = true;
      }
      const JsonValue* parts = member(v, "partitions");
      if (parts && parts->IsArray()) {
        d.has_table = true;
        std::set<int> numbers;
        for (rapidjson::SizeType i = 0; i < parts->Size(); ++i) {
          const JsonValue& pv = (*parts)[i];
          std::vector<std::string> pat = at;
          pat.push_back("partitions");
          pat.push_back(std::to_string(i));
          PartitionSpec p;
          p.index = i;
          p.number = static_cast<int>(get_int(pv, "number", 0));
          p.observe = d.observe || is_observe(pv);
          if (const JsonValue* sv = member(pv, "size")) {
            if (auto s = parse_size(*sv))
              p.size = *s;
            else
              problem(pat, "size is not a size");
          } else {
            p.size = Size::remaining();
          }
          p.start = opt_bytes(pv, "start");
          if (auto t = opt_string(pv, "type")) p.type = *t;
          p.label = opt_string(pv, "label");
          if (p.number < 1) problem(pat, "partition numbers start at 1");
          if (!numbers.insert(p.number).second) {
            problem(pat, "partition " + std::to_string(p.number) + " is listed twice");
          }
          if (d.table == "msdos" && p.number > 4) {
            problem(
                pat,
                "an msdos table holds primary partitions 1 to 4 only (logical partitions are not supported)");
          }
          if (d.table == "msdos" && p.label) {
            problem(pat, "msdos partitions have no label; use a gpt table or a filesystem label");
          }
          if (!partition_type_code(d.table, p.type)) {
            problem(pat, "partition type \"" + p.type + "\" does not exist on a " + d.table + " table");
          }
          if (p.size.kind == Size::Kind::Remaining && i + 1 != parts->Size()) {
            problem(pat, "only the last partition in the list can take the \"remaining\" space");
          }
          if (auto fs = opt_string(pv, "filesystem")) {
            FilesystemSpec f;
            f.key = partition_path(d.key, p.number);
            f.type = *fs;
            f.wipe = d.wipe;
            f.observe = p.observe;
            f.origin = pat;
            implied_fs_.push_back(f);
          }
          if (auto mp = opt_string(pv, "mount")) {
            MountSpec ms;
            ms.target = *mp;
            ms.device = partition_path(d.key, p.number);
            if (auto fs = opt_string(pv, "filesystem")) ms.fstype = *fs;
            ms.observe = p.observe;
            ms.origin = pat;
            if (!opt_string(pv, "filesystem")) {
              problem(pat, "\"mount\" needs a \"filesystem\" on the partition (or one in \"filesystems\")");
            }
            partition_mounts_.push_back(ms);
          }
          d.partitions.push_back(std::move(p));
        }
      }
      out_.devices[d.key] = std::move(d);
    }
  }

  void filesystems(bool observe_all) {
    const JsonValue* fss = member(section_, "filesystems");
    if (fss && fss->IsObject()) {
      for (const auto& m : fss->GetObject()) {
        FilesystemSpec f;
        f.key = str(m.name);
        const JsonValue& v = m.value;
        f.origin = {"filesystems", f.key};
        f.type = get_string(v, "type");
        f.label = opt_string(v, "label");
        f.uuid = opt_string(v, "uuid");
        f.wipe = get_bool(v, "wipe", false);
        f.observe = observe_all || is_observe(v);
        if (const JsonValue* o = member(v, "options")) {
          if (o->IsString()) {
            std::string s = str(*o);
            size_t i = 0;
            while (i < s.size()) {
              size_t j = s.find_first_of(" \t", i);
              if (j == std::string::npos) j = s.size();
              if (j > i) f.options.push_back(s.substr(i, j - i));
              i = j + 1;
            }
          } else if (o->IsArray()) {
            for (const auto& e : o->GetArray()) f.options.push_back(str(e));
          }
        }
        out_.filesystems[f.key] = std::move(f);
      }
    }
    for (auto& f : implied_fs_) {
      auto it = out_.filesystems.find(f.key);
      if (it == out_.filesystems.end()) {
        out_.filesystems[f.key] = f;
        continue;
      }
      FilesystemSpec& e = it->second;
      if (e.type != f.type) {
        problem(f.origin,
                "filesystem " + f.type + " contradicts filesystems[\"" + f.key + "\"], which says " + e.type);
      }
      e.wipe = e.wipe || f.wipe;
      e.observe = e.observe || f.observe;
    }
    for (const auto& [key, f] : out_.filesystems) {
      if (!creatable_filesystem(f.type)) {
        problem(f.origin, "filesystem type \"" + f.type + "\" cannot be created");
        continue;
      }
      if (f.label && f.label->size() > max_label_length(f.type)) {
        problem(f.origin, f.type + " labels hold at most " + std::to_string(max_label_length(f.type)) +
                              " characters; \"" + *f.label + "\" has " + std::to_string(f.label->size()));
      }
      if (f.label && f.label->find_first_of("\n\t") != std::string::npos) {
        problem(f.origin, "a filesystem label cannot contain tabs or newlines");
      }
      if (f.type == "vfat" && f.uuid) {
        const std::string& u = *f.uuid;
        bool ok = u.size() == 9 && u[4] == '-';
        for (size_t i = 0; ok && i < u.size(); ++i) {
          if (i != 4 && !std::isxdigit(static_cast<unsigned char>(u[i]))) ok = false;
        }
        if (!ok) problem(f.origin, "a vfat volume id looks like \"ABCD-1234\"");
      } else if (f.uuid && !is_guid(*f.uuid)) {
        problem(f.origin, "a filesystem uuid looks like \"01234567-89ab-cdef-0123-456789abcdef\"");
      }
    }
  }

  void subvolumes(bool observe_all) {
    const JsonValue* svs = member(section_, "btrfs_subvolumes");
    if (!svs || !svs->IsObject()) return;
    for (const auto& m : svs->GetObject()) {
      std::string dev = str(m.name);
      if (!m.value.IsArray()) continue;
      std::set<std::string> names;
      auto& list = out_.subvolumes[dev];
      for (rapidjson::SizeType i = 0; i < m.value.Size(); ++i) {
        const JsonValue& v = m.value[i];
        std::vector<std::string> at{"btrfs_subvolumes", dev, std::to_string(i)};
        SubvolumeSpec s;
        s.device = dev;
        s.name = normalise_subvol(get_string(v, "name"));
        s.absent = get_string(v, "state", "present") == "absent";
        s.mount = opt_string(v, "mount");
        s.observe = observe_all || is_observe(v);
        s.index = i;
        bool bad_name = s.name.empty();
        for (size_t a = 0; !bad_name && a <= s.name.size();) {
          size_t b = s.name.find('/', a);
          if (b == std::string::npos) b = s.name.size();
          std::string part = s.name.substr(a, b - a);
          if (part.empty() || part == "." || part == "..") bad_name = true;
          a = b + 1;
        }
        if (bad_name) {
          problem(at, "\"" + get_string(v, "name") +
                          "\" is not a subvolume path (no empty, \".\" or \"..\" parts)");
          continue;
        }
        if (!names.insert(s.name).second) problem(at, "subvolume \"" + s.name + "\" is listed twice");
        if (s.absent && s.mount) problem(at, "a subvolume that is \"absent\" cannot be mounted");
        if (s.mount) {
          MountSpec ms;
          ms.target = *s.mount;
          ms.device = dev;
          ms.subvol = s.name;
          ms.fstype = "btrfs";
          ms.observe = s.observe;
          ms.origin = at;
          subvol_mounts_.push_back(ms);
        }
        list.push_back(std::move(s));
      }
      auto fs = out_.filesystems.find(dev);
      if (fs != out_.filesystems.end() && fs->second.type != "btrfs") {
        problem({"btrfs_subvolumes", dev},
                "subvolumes need a btrfs filesystem, but " + dev + " is to hold " + fs->second.type);
      }
    }
  }

  // Merges `in` into `into`: fields `into` lacks are taken; a different device is a contradiction.
  void merge_mount(MountSpec& into, const MountSpec& in, bool into_is_explicit) {
    if (into.device.empty()) {
      into.device = in.device;
    } else if (into.device != in.device) {
      problem(in.origin, "mount point " + in.target + " is also given device " + into.device + " (at " +
                             json_pointer(into.origin) + "); one mount point holds one device");
      return;
    }
    if (!into.subvol) {
      into.subvol = in.subvol;
    } else if (in.subvol && *in.subvol != *into.subvol && !into_is_explicit) {
      problem(in.origin,
              "mount point " + in.target + " gets two subvolumes: " + *into.subvol + " and " + *in.subvol);
    } else if (in.subvol && *in.subvol != *into.subvol) {
      problem(into.origin, "subvol \"" + *into.subvol + "\" contradicts subvolume \"" + *in.subvol +
                               "\", which is mounted here too (at " + json_pointer(in.origin) + ")");
    }
    if (!into.fstype) into.fstype = in.fstype;
    into.observe = into.observe || in.observe;
  }

  void mounts(bool observe_all) {
    const JsonValue* ms = member(section_, "mounts");
    std::map<std::string, bool> explicit_target;
    if (ms && ms->IsObject()) {
      for (const auto& m : ms->GetObject()) {
        MountSpec s;
        s.target = str(m.name);
        const JsonValue& v = m.value;
        s.origin = {"mounts", s.target};
        s.device = get_string(v, "device");
        if (auto sv = opt_string(v, "subvol")) s.subvol = normalise_subvol(*sv);
        std::optional<std::string> opt_subvol;
        s.options = split_options(get_string(v, "options"), &opt_subvol);
        if (opt_subvol) {
          if (s.subvol && *s.subvol != *opt_subvol) {
            problem(s.origin, "\"subvol\" and the subvol= option disagree");
          }
          s.subvol = opt_subvol;
        }
        s.fstype = opt_string(v, "fstype");
        s.state = get_string(v, "state", "mounted");
        s.fstab = get_bool(v, "fstab", true);
        s.observe = observe_all || is_observe(v);
        out_.mounts[s.target] = std::move(s);
        explicit_target[str(m.name)] = true;
      }
    }
    // Subvolume mounts first: they take a mount point from a partition's mount.
    std::map<std::string, bool> from_subvol;
    for (const auto& sm : subvol_mounts_) {
      auto it = out_.mounts.find(sm.target);
      if (it == out_.mounts.end()) {
        out_.mounts[sm.target] = sm;
        from_subvol[sm.target] = true;
        continue;
      }
      if (from_subvol[sm.target]) {
        problem(sm.origin, "mount point " + sm.target + " is claimed by two subvolumes");
        continue;
      }
      from_subvol[sm.target] = true;
      merge_mount(it->second, sm, explicit_target[sm.target]);
    }
    for (const auto& pm : partition_mounts_) {
      auto it = out_.mounts.find(pm.target);
      if (it == out_.mounts.end()) {
        out_.mounts[pm.target] = pm;
        continue;
      }
      if (from_subvol[pm.target] && !explicit_target[pm.target] && it->second.device == pm.device) {
        continue;  // the subvolume of this partition is what is mounted there
      }
      if (!explicit_target[pm.target] && !from_subvol[pm.target]) {
        problem(pm.origin, "mount point " + pm.target + " is claimed by two partitions");
        continue;
      }
      MountSpec& into = it->second;
      if (into.device.empty() || into.device == pm.device) {
        merge_mount(into, pm, true);
      } else {
        problem(pm.origin, "mount point " + pm.target + " is also given device " + into.device + " (at " +
                               json_pointer(into.origin) + "); one mount point holds one device");
      }
    }
    for (auto& [target, m] : out_.mounts) {
      if (m.state != "absent" && m.device.empty()) {
        problem(m.origin,
                "\"device\" is missing: name what to mount (a device path, LABEL=, UUID=, PARTLABEL=, "
                "PARTUUID=)");
      }
      if (!m.fstype) {
        auto fs = out_.filesystems.find(m.device);
        if (fs != out_.filesystems.end()) m.fstype = fs->second.type;
      }
      if (m.fstype && *m.fstype == "swap") {
        problem(m.origin,
                "swap is not mounted; the storage plugin creates swap areas but does not activate them");
      }
      if (m.subvol && m.fstype && *m.fstype != "btrfs") {
        problem(m.origin, "\"subvol\" needs btrfs, not " + *m.fstype);
      }
    }
  }

  void cross_checks() {
    for (const auto& [key, d] : out_.devices) {
      if (!d.partitions.empty() && out_.filesystems.count(key)) {
        problem({"filesystems", key},
                key +
                    " gets a partition table in \"devices\"; a filesystem goes on one of "
                    "its partitions, not on the whole device");
      }
    }
  }

  const JsonValue& section_;
  std::vector<Problem>* problems_;
  Section out_;
  std::vector<FilesystemSpec> implied_fs_;
  std::vector<MountSpec> subvol_mounts_;
  std::vector<MountSpec> partition_mounts_;
};

}  // namespace

std::optional<std::string> partition_type_code(const std::string& table, const std::string& type) {
  bool gpt = table == "gpt";
  for (const auto& t : kTypes) {
    if (type == t.name) {
      const char* code = gpt ? t.gpt : t.mbr;
      if (!code) return std::nullopt;
      return std::string(code);
    }
  }
  if (gpt) {
    if (is_guid(type)) return upper(type);
    return std::nullopt;
  }
  return mbr_code(type);
}

std::string partition_type_name(const std::string& table, const std::string& code) {
  bool gpt = table == "gpt";
  std::string canon = gpt ? upper(code) : mbr_code(code).value_or(lower(code));
  for (const auto& t : kTypes) {
    const char* c = gpt ? t.gpt : t.mbr;
    if (c && canon == c) return t.name;
  }
  return canon;
}

std::string partition_path(const std::string& disk, int number) {
  if (disk.rfind("/dev/disk/by-", 0) == 0) return disk + "-part" + std::to_string(number);
  if (!disk.empty() && std::isdigit(static_cast<unsigned char>(disk.back()))) {
    return disk + "p" + std::to_string(number);
  }
  return disk + std::to_string(number);
}

bool creatable_filesystem(const std::string& type) {
  return type == "btrfs" || type == "ext4" || type == "xfs" || type == "vfat" || type == "swap";
}

size_t max_label_length(const std::string& type) {
  if (type == "vfat") return 11;
  if (type == "xfs") return 12;
  if (type == "ext4" || type == "swap") return 16;
  return 255;
}

Section normalise(const JsonValue& section, std::vector<Problem>* problems) {
  return Normaliser(section, problems).run();
}

const CurrentPartition* CurrentDevice::find(int number) const {
  for (const auto& p : partitions) {
    if (p.number == number) return &p;
  }
  return nullptr;
}

CurrentSection parse_current(const JsonValue& current) {
  CurrentSection out;
  if (!current.IsObject()) return out;
  if (const JsonValue* devs = member(current, "devices"); devs && devs->IsObject()) {
    for (const auto& m : devs->GetObject()) {
      CurrentDevice d;
      const JsonValue& v = m.value;
      if (auto t = opt_string(v, "partition_table")) d.table = *t;
      d.size = opt_bytes(v, "size");
      if (const JsonValue* parts = member(v, "partitions"); parts && parts->IsArray()) {
        if (!d.table) d.table = "gpt";
        for (const auto& pv : parts->GetArray()) {
          CurrentPartition p;
          p.number = static_cast<int>(get_int(pv, "number", 0));
          p.start = opt_bytes(pv, "start").value_or(0);
          p.size = opt_bytes(pv, "size").value_or(0);
          p.type = get_string(pv, "type", "linux");
          p.label = get_string(pv, "label");
          d.partitions.push_back(std::move(p));
        }
      }
      out.devices[str(m.name)] = std::move(d);
    }
  }
  if (const JsonValue* fss = member(current, "filesystems"); fss && fss->IsObject()) {
    for (const auto& m : fss->GetObject()) {
      CurrentFilesystem f;
      f.type = get_string(m.value, "type");
      f.label = get_string(m.value, "label");
      f.uuid = get_string(m.value, "uuid");
      out.filesystems[str(m.name)] = std::move(f);
    }
  }
  if (const JsonValue* svs = member(current, "btrfs_subvolumes"); svs && svs->IsObject()) {
    for (const auto& m : svs->GetObject()) {
      auto& names = out.subvolumes[str(m.name)];
      if (!m.value.IsArray()) continue;
      for (const auto& v : m.value.GetArray()) {
        if (get_string(v, "state", "present") == "absent") continue;
        names.insert(normalise_subvol(get_string(v, "name")));
      }
    }
  }
  if (const JsonValue* ms = member(current, "mounts"); ms && ms->IsObject()) {
    for (const auto& m : ms->GetObject()) {
      const JsonValue& v = m.value;
      std::string state = get_string(v, "state", "mounted");
      if (state == "absent") continue;
      CurrentMount c;
      c.device = get_string(v, "device");
      if (auto sv = opt_string(v, "subvol")) c.subvol = normalise_subvol(*sv);
      std::optional<std::string> opt_subvol;
      c.options = split_options(get_string(v, "options"), &opt_subvol);
      if (!c.subvol && opt_subvol) c.subvol = opt_subvol;
      c.fstype = opt_string(v, "fstype");
      // A saved document that says "present" knows about fstab only.
      c.state = state == "present" ? "unmounted" : state;
      c.fstab = get_bool(v, "fstab", true);
      out.mounts[str(m.name)] = std::move(c);
    }
  }
  return out;
}

std::vector<std::string> split_options(const std::string& options, std::optional<std::string>* subvol) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= options.size()) {
    size_t j = options.find(',', i);
    if (j == std::string::npos) j = options.size();
    std::string o = options.substr(i, j - i);
    i = j + 1;
    if (o.empty() || o == "defaults") continue;
    if (o.rfind("subvol=", 0) == 0) {
      if (subvol) *subvol = normalise_subvol(o.substr(7));
      continue;
    }
    out.push_back(o);
  }
  return out;
}

std::string join_options(const std::vector<std::string>& options) {
  return join(options, ",");
}

bool same_options(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  return a == b;
}

std::string normalise_subvol(std::string name) {
  while (!name.empty() && name.front() == '/') name.erase(name.begin());
  while (!name.empty() && name.back() == '/') name.pop_back();
  return name;
}

bool userspace_mount_option(const std::string& o) {
  static const char* names[] = {"auto",  "noauto", "nofail",  "user",     "users", "nouser",
                                "owner", "group",  "_netdev", "defaults", "rw"};
  for (const char* n : names) {
    if (o == n) return true;
  }
  return o.rfind("x-", 0) == 0 || o.rfind("comment=", 0) == 0;
}

std::string normal_path(const std::string& path) {
  std::string s = std::filesystem::path(path).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

int path_depth(const std::string& path) {
  int n = 0;
  bool in_part = false;
  for (char c : path) {
    if (c == '/') {
      in_part = false;
    } else if (!in_part) {
      in_part = true;
      ++n;
    }
  }
  return n;
}

}  // namespace opdbus::storage
