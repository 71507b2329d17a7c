#include "storage/diff.h"

#include <algorithm>
#include <set>

#include "error.h"
#include "storage/model.h"

namespace opdbus::storage {
namespace {

std::string quoted(const std::string& s) {
  JsonDoc d;
  return to_json(str_value(s, d.GetAllocator()));
}

std::string json_text(const JsonValue& v) {
  return to_json(v);
}

const char* kWipeHint = "; set \"wipe\": true and pass --allow-destructive to ";

// "ext4 filesystem", "swap area", "gpt partition table", "LVM2_member signature".
std::string signature_noun(const std::string& type) {
  if (type.find("partition table") != std::string::npos || type.find("signatures") != std::string::npos)
    return type;
  if (type == "swap") return "swap area";
  if (creatable_filesystem(type)) return type + " filesystem";
  return type + " signature";
}

std::string article_type(const std::string& type) {
  std::string noun = signature_noun(type);
  bool vowel = std::string("aeiouAEIOU").find(noun[0]) != std::string::npos;
  return std::string(vowel ? "an " : "a ") + noun;
}

int clamp_depth(int depth) {
  return std::min(depth, 19);
}

class Differ {
 public:
  Differ(const Section& want, const CurrentSection& have) : want_(want), have_(have) {}

  std::vector<Action> run() {
    for (const auto& [key, d] : want_.devices) device(d);
    for (const auto& [key, f] : want_.filesystems) filesystem(f);
    for (const auto& [dev, list] : want_.subvolumes) subvolumes(dev, list);
    for (const auto& [target, m] : want_.mounts) mount(m);
    return std::move(actions_);
  }

 private:
  // ---- partition tables ---------------------------------------------------------------------------------

  JsonValue partition_json(const PartitionSpec& p, const std::string& table, JsonAlloc& a) {
    JsonValue o(rapidjson::kObjectType);
    o.AddMember("number", p.number, a);
    if (p.start) o.AddMember("start", size_value(*p.start, a), a);
    switch (p.size.kind) {
      case Size::Kind::Bytes:
        o.AddMember("size", size_value(p.size.bytes, a), a);
        break;
      case Size::Kind::Percent:
        o.AddMember("size", str_value(std::to_string(p.size.percent) + "%", a), a);
        break;
      case Size::Kind::Remaining:
        o.AddMember("size", "remaining", a);
        break;
    }
    o.AddMember("type", str_value(partition_type_name(table, *partition_type_code(table, p.type)), a), a);
    if (p.label) o.AddMember("label", str_value(*p.label, a), a);
    return o;
  }

  JsonValue current_partition_json(const CurrentPartition& p, const std::string& table, JsonAlloc& a) {
    JsonValue o(rapidjson::kObjectType);
    o.AddMember("number", p.number, a);
    if (p.start) o.AddMember("start", size_value(p.start, a), a);
    o.AddMember("size", size_value(p.size, a), a);
    auto code = partition_type_code(table, p.type);
    o.AddMember("type", str_value(code ? partition_type_name(table, *code) : p.type, a), a);
    if (!p.label.empty()) o.AddMember("label", str_value(p.label, a), a);
    return o;
  }

  std::string describe_partition(const PartitionSpec& p, const std::string& table) {
    std::string s = std::to_string(p.number) + " (" + describe_size(p.size) + " " +
                    partition_type_name(table, *partition_type_code(table, p.type));
    if (p.label) s += " " + quoted(*p.label);
    return s + ")";
  }

  // What about the partition's position and size differs; empty when it matches within the grain.
  std::string geometry_mismatch(const PartitionSpec& want, const CurrentPartition& got,
                                const CurrentDevice& dev) {
    if (want.start && got.start && !close_enough(*want.start, got.start)) {
      return "start did not match: want " + describe_size(*want.start) + ", got " + describe_size(got.start);
    }
    switch (want.size.kind) {
      case Size::Kind::Bytes:
        if (!close_enough(want.size.bytes, got.size)) {
          return "size did not match: want " + describe_size(want.size.bytes) + ", got " +
                 describe_size(got.size);
        }
        break;
      case Size::Kind::Percent:
        if (dev.size) {
          uint64_t bytes = *want.size.resolve(*dev.size);
          if (!close_enough(bytes, got.size)) {
            return "size did not match: want " + describe_size(want.size) + " (" + describe_size(bytes) +
                   "), got " + describe_size(got.size);
          }
        }
        break;
      case Size::Kind::Remaining:
        if (dev.size && got.start) {
          // The rest of the free space: up to the next partition on disk, or the end of the device (less the
          // backup GPT and the alignment of the last partition's end).
          uint64_t limit = *dev.size;
          for (const auto& other : dev.partitions) {
            if (other.start > got.start && other.start < limit) limit = other.start;
          }
          uint64_t end = got.start + got.size;
          if (end < limit && limit - end > 2 * kSizeTolerance) {
            return "size did not match: want the remaining " + describe_size(limit - got.start) + ", got " +
                   describe_size(got.size);
          }
        }
        break;
    }
    return "";
  }

  void device(const DeviceSpec& d) {
    if (!d.has_table) return;
    auto cit = have_.devices.find(d.key);
    CurrentDevice blank;
    const CurrentDevice& cur = cit == have_.devices.end() ? blank : cit->second;
    auto whole = have_.filesystems.find(d.key);

    if (d.size && cur.size && !close_enough(*d.size, *cur.size)) {
      throw Error(ErrorKind::InvalidArgument, d.key + ": device size did not match: want " +
                                                  describe_size(*d.size) + ", got " +
                                                  describe_size(*cur.size) + " (is this the right device?)");
    }

    JsonDoc payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    payload.AddMember("kind", "partition", a);
    payload.AddMember("device", str_value(d.key, a), a);
    payload.AddMember("table", str_value(d.table, a), a);

    Action act;
    act.item = {"devices", d.key};
    act.order = kOrderPartition;
    act.observe = d.observe;

    std::vector<const PartitionSpec*> create;
    std::vector<int> remove;
    std::vector<std::pair<const PartitionSpec*, const CurrentPartition*>> modify;
    std::vector<std::string> mismatches;
    bool new_table = false;
    std::string why_new;

    if (!cur.table) {
      new_table = true;
      if (whole != have_.filesystems.end() && !whole->second.type.empty()) {
        why_new = "it holds " + article_type(whole->second.type) + " and no partition table";
        mismatches.push_back(why_new);
      }
    } else if (*cur.table != d.table) {
      new_table = true;
      why_new = "partition table did not match: want " + d.table + ", got " + *cur.table;
      mismatches.push_back(why_new);
    }

    if (new_table) {
      for (const auto& p : d.partitions) create.push_back(&p);
    } else {
      for (const auto& p : d.partitions) {
        const CurrentPartition* cp = cur.find(p.number);
        if (!cp) {
          create.push_back(&p);
          continue;
        }
        std::string geo = geometry_mismatch(p, *cp, cur);
        if (!geo.empty()) {
          mismatches.push_back("partition " + std::to_string(p.number) + ": " + geo);
          remove.push_back(p.number);
          create.push_back(&p);
          continue;
        }
        auto want_code = partition_type_code(d.table, p.type);
        auto got_code = partition_type_code(d.table, cp->type);
        bool type_differs = !got_code || *got_code != *want_code;
        bool label_differs = p.label && *p.label != cp->label;
        if (type_differs || label_differs) modify.emplace_back(&p, cp);
      }
    }

    bool destructive = !mismatches.empty();
    if (destructive && !d.wipe) {
      std::string msg = d.key + ": ";
      for (size_t i = 0; i < mismatches.size(); ++i) msg += (i ? "; " : "") + mismatches[i];
      throw Error(ErrorKind::InvalidArgument, msg + kWipeHint + "repartition");
    }
    if (create.empty() && remove.empty() && modify.empty() && !new_table) return;

    // Everything on the partitions this action creates is new: their filesystems are gone or never were.
    if (new_table) {
      for (const auto& p : cur.partitions) fresh_.insert(partition_path(d.key, p.number));
      fresh_.insert(d.key);
    }
    for (const auto* p : create) fresh_.insert(partition_path(d.key, p->number));

    payload.AddMember("new_table", new_table, a);
    if (cur.table)
      payload.AddMember("expect_table", str_value(*cur.table, a), a);
    else
      payload.AddMember("expect_table", JsonValue(rapidjson::kNullType), a);
    JsonValue expect_parts(rapidjson::kArrayType);
    for (const auto& p : cur.partitions) expect_parts.PushBack(p.number, a);
    payload.AddMember("expect_partitions", expect_parts, a);
    JsonValue del(rapidjson::kArrayType);
    for (int n : remove) del.PushBack(n, a);
    payload.AddMember("delete", del, a);
    JsonValue cr(rapidjson::kArrayType);
    for (const auto* p : create) {
      JsonValue o(rapidjson::kObjectType);
      o.AddMember("number", p->number, a);
      if (p->start) o.AddMember("start", static_cast<uint64_t>(*p->start), a);
      switch (p->size.kind) {
        case Size::Kind::Bytes:
          o.AddMember("size", static_cast<uint64_t>(p->size.bytes), a);
          break;
        case Size::Kind::Percent:
          o.AddMember("percent", p->size.percent, a);
          break;
        case Size::Kind::Remaining:
          o.AddMember("remaining", true, a);
          break;
      }
      o.AddMember("type", str_value(*partition_type_code(d.table, p->type), a), a);
      if (p->label) o.AddMember("label", str_value(*p->label, a), a);
      cr.PushBack(o, a);
    }
    payload.AddMember("create", cr, a);
    JsonValue mod(rapidjson::kArrayType);
    for (const auto& [p, cp] : modify) {
      JsonValue o(rapidjson::kObjectType);
      o.AddMember("number", p->number, a);
      o.AddMember("type", str_value(*partition_type_code(d.table, p->type), a), a);
      if (p->label) o.AddMember("label", str_value(*p->label, a), a);
      mod.PushBack(o, a);
    }
    payload.AddMember("modify", mod, a);
    act.payload = to_json(payload);
    act.destructive = destructive;

    // Changes: the table, then one entry per partition touched.
    JsonDoc scratch;
    auto& sa = scratch.GetAllocator();
    if (new_table) {
      Change c;
      c.path = "partition_table";
      if (cur.table) c.before = quoted(*cur.table);
      c.after = quoted(d.table);
      act.changes.push_back(c);
    }
    std::set<int> touched;
    for (const auto* p : create) touched.insert(p->number);
    for (const auto& [p, cp] : modify) touched.insert(p->number);
    if (new_table) {
      for (const auto& p : cur.partitions) touched.insert(p.number);
    }
    for (int n : touched) {
      Change c;
      c.path = "partitions/" + std::to_string(n);
      if (const CurrentPartition* cp = cur.find(n)) {
        c.before = json_text(current_partition_json(*cp, cur.table.value_or(d.table), sa));
      }
      for (const auto& p : d.partitions) {
        if (p.number == n) c.after = json_text(partition_json(p, d.table, sa));
      }
      act.changes.push_back(c);
    }

    std::string list;
    for (const auto* p : create) list += (list.empty() ? "" : ", ") + describe_partition(*p, d.table);
    if (new_table) {
      act.op = Op::Create;
      std::string head = destructive ? "wipe " + d.key + " (" + why_new + ") and create " : "create ";
      act.summary = head + d.table + " partition table on " + d.key;
      if (!list.empty()) act.summary += " with partitions " + list;
    } else {
      act.op = Op::Update;
      std::vector<std::string> parts;
      if (!remove.empty()) {
        std::string what;
        for (const auto& m : mismatches) what += (what.empty() ? "" : "; ") + m;
        parts.push_back("recreate (destroying its contents) " + what);
      }
      std::string added;
      for (const auto* p : create) {
        if (std::find(remove.begin(), remove.end(), p->number) == remove.end()) {
          added += (added.empty() ? "" : ", ") + describe_partition(*p, d.table);
        }
      }
      if (!added.empty()) parts.push_back("add partition " + added);
      for (const auto& [p, cp] : modify) {
        std::string s = "set partition " + std::to_string(p->number);
        auto want_code = *partition_type_code(d.table, p->type);
        auto got_code = partition_type_code(d.table, cp->type);
        if (!got_code || *got_code != want_code) s += " type " + partition_type_name(d.table, want_code);
        if (p->label && *p->label != cp->label) s += " label " + quoted(*p->label);
        parts.push_back(s);
      }
      std::string joined;
      for (const auto& s : parts) joined += (joined.empty() ? "" : "; ") + s;
      act.summary = d.key + ": " + joined;
    }
    actions_.push_back(std::move(act));
  }

  // ---- filesystems --------------------------------------------------------------------------------------

  void filesystem(const FilesystemSpec& f) {
    const CurrentFilesystem* cur = nullptr;
    if (!fresh_.count(f.key)) {
      auto it = have_.filesystems.find(f.key);
      if (it != have_.filesystems.end() && !it->second.type.empty()) cur = &it->second;
    }
    std::string mismatch;
    if (cur) {
      if (cur->type != f.type) {
        mismatch = "filesystem did not match: want " + f.type + ", got " +
                   (cur->type.find("partition table") != std::string::npos ? "a " + cur->type : cur->type);
      } else if (f.uuid && !cur->uuid.empty() && !same_uuid(*f.uuid, cur->uuid)) {
        mismatch = "uuid did not match: want " + *f.uuid + ", got " + cur->uuid;
      }
    }
    if (cur && mismatch.empty()) {
      if (f.label && *f.label != cur->label) relabel(f, *cur);
      return;
    }
    if (!mismatch.empty() && !f.wipe) {
      throw Error(ErrorKind::InvalidArgument,
                  f.key + ": " + mismatch +
                      "; set \"wipe\": true (on the filesystem, or on its device) and pass "
                      "--allow-destructive to reformat");
    }
    fresh_.insert(f.key);
    Action act;
    act.item = {"filesystems", f.key};
    act.op = Op::Create;
    act.order = kOrderMkfs;
    act.observe = f.observe;
    act.destructive = !mismatch.empty();
    std::string what = f.type == "swap" ? "swap area" : f.type + " filesystem";
    act.summary = "create " + what + (f.label ? " " + quoted(*f.label) : "") + " on " + f.key;
    if (act.destructive) {
      act.summary += " (destroys the " + signature_noun(cur->type) + " there" +
                     (cur->type == f.type ? ": " + mismatch : "") + ")";
    }
    Change t;
    t.path = "type";
    if (cur) t.before = quoted(cur->type);
    t.after = quoted(f.type);
    act.changes.push_back(t);
    if (f.label && !(cur && cur->label == *f.label)) {
      Change l;
      l.path = "label";
      if (cur && !cur->label.empty()) l.before = quoted(cur->label);
      l.after = quoted(*f.label);
      act.changes.push_back(l);
    }
    if (f.uuid && !(cur && same_uuid(cur->uuid, *f.uuid))) {
      Change u;
      u.path = "uuid";
      if (cur && !cur->uuid.empty()) u.before = quoted(cur->uuid);
      u.after = quoted(*f.uuid);
      act.changes.push_back(u);
    }
    JsonDoc p(rapidjson::kObjectType);
    auto& a = p.GetAllocator();
    p.AddMember("kind", "mkfs", a);
    p.AddMember("device", str_value(f.key, a), a);
    p.AddMember("type", str_value(f.type, a), a);
    if (f.label) p.AddMember("label", str_value(*f.label, a), a);
    if (f.uuid) p.AddMember("uuid", str_value(*f.uuid, a), a);
    JsonValue opts(rapidjson::kArrayType);
    for (const auto& o : f.options) opts.PushBack(str_value(o, a), a);
    p.AddMember("options", opts, a);
    if (cur)
      p.AddMember("expect", str_value(cur->type, a), a);
    else
      p.AddMember("expect", JsonValue(rapidjson::kNullType), a);
    p.AddMember("wipe", act.destructive, a);
    act.payload = to_json(p);
    actions_.push_back(std::move(act));
  }

  static bool same_uuid(std::string a, std::string b) {
    for (auto* s : {&a, &b}) {
      for (char& c : *s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return a == b;
  }

  void relabel(const FilesystemSpec& f, const CurrentFilesystem& cur) {
    Action act;
    act.item = {"filesystems", f.key};
    act.op = Op::Update;
    act.order = kOrderRelabel;
    act.observe = f.observe;
    act.summary = "relabel the " + f.type + " filesystem on " + f.key + " " + quoted(*f.label);
    Change l;
    l.path = "label";
    if (!cur.label.empty()) l.before = quoted(cur.label);
    l.after = quoted(*f.label);
    act.changes.push_back(l);
    JsonDoc p(rapidjson::kObjectType);
    auto& a = p.GetAllocator();
    p.AddMember("kind", "relabel", a);
    p.AddMember("device", str_value(f.key, a), a);
    p.AddMember("type", str_value(f.type, a), a);
    p.AddMember("label", str_value(*f.label, a), a);
    act.payload = to_json(p);
    actions_.push_back(std::move(act));
  }

  // ---- subvolumes ---------------------------------------------------------------------------------------

  void subvolumes(const std::string& dev, const std::vector<SubvolumeSpec>& list) {
    static const std::set<std::string> none;
    const std::set<std::string>* cur = &none;
    if (!fresh_.count(dev)) {
      auto it = have_.subvolumes.find(dev);
      if (it != have_.subvolumes.end()) cur = &it->second;
    }
    for (const auto& s : list) {
      bool exists = cur->count(s.name) > 0;
      if (s.absent == !exists) continue;
      Action act;
      act.item = {"btrfs_subvolumes", dev, s.name};
      act.observe = s.observe;
      Change c;
      c.path = "state";
      if (s.absent) {
        act.op = Op::Delete;
        act.order = kOrderSubvolumeDelete + (19 - clamp_depth(path_depth(s.name)));
        act.destructive = true;
        act.summary = "delete btrfs subvolume " + s.name + " on " + dev + " and everything in it";
        c.before = quoted("present");
        c.after = quoted("absent");
      } else {
        act.op = Op::Create;
        act.order = kOrderSubvolumeCreate;
        act.summary = "create btrfs subvolume " + s.name + " on " + dev;
        c.after = quoted("present");
      }
      act.changes.push_back(c);
      JsonDoc p(rapidjson::kObjectType);
      auto& a = p.GetAllocator();
      p.AddMember("kind", "subvolume", a);
      p.AddMember("device", str_value(dev, a), a);
      p.AddMember("name", str_value(s.name, a), a);
      p.AddMember("state", rapidjson::StringRef(s.absent ? "absent" : "present"), a);
      act.payload = to_json(p);
      actions_.push_back(std::move(act));
    }
  }

  // ---- mounts -------------------------------------------------------------------------------------------

  void mount(const MountSpec& m) {
    const CurrentMount* cur = nullptr;
    if (auto it = have_.mounts.find(m.target); it != have_.mounts.end()) cur = &it->second;
    // A filesystem created by this plan gets a new UUID: an fstab line for the old one is stale.
    bool stale = cur && fresh_.count(m.device) > 0;
    std::string what = m.device + (m.subvol ? " (subvolume " + *m.subvol + ")" : "");

    Action act;
    act.item = {"mounts", m.target};
    act.observe = m.observe;
    int unmount_order = kOrderUnmount + (19 - clamp_depth(path_depth(m.target)));

    if (m.state == "absent") {
      if (!cur) return;
      act.op = Op::Delete;
      act.order = unmount_order;
      bool mounted = cur->state == "mounted";
      if (mounted && cur->fstab)
        act.summary = "unmount " + m.target + " and remove it from /etc/fstab";
      else if (mounted)
        act.summary = "unmount " + m.target;
      else
        act.summary = "remove " + m.target + " from /etc/fstab";
      Change c;
      c.path = "state";
      c.before = quoted(cur->state);
      c.after = quoted("absent");
      act.changes.push_back(c);
      act.payload = mount_payload(m);
      actions_.push_back(std::move(act));
      return;
    }

    bool same_device = cur && !stale && cur->device == m.device && cur->subvol == m.subvol;
    bool fstab_wrong = false;
    if (m.fstab) {
      fstab_wrong = !cur || stale || !cur->fstab || !same_device || !same_options(cur->options, m.options) ||
                    (m.fstype && cur->fstype != m.fstype);
    } else {
      fstab_wrong = cur && cur->fstab;
    }
    bool mount_wrong = false;
    bool unmount = false;
    if (m.state == "mounted") {
      mount_wrong = !cur || !same_device || cur->state != "mounted" ||
                    (!m.fstab && !same_options(cur->options, m.options));
    } else if (m.state == "unmounted") {
      unmount = cur && cur->state == "mounted";
    }
    if (!fstab_wrong && !mount_wrong && !unmount) return;

    act.op = cur ? Op::Update : Op::Create;
    act.order = unmount ? unmount_order : kOrderMount;
    auto change = [&](const char* path, std::optional<std::string> before, std::optional<std::string> after) {
      if (before == after) return;
      Change c;
      c.path = path;
      c.before = std::move(before);
      c.after = std::move(after);
      act.changes.push_back(c);
    };
    auto opt_quoted = [](const std::optional<std::string>& s) -> std::optional<std::string> {
      if (!s) return std::nullopt;
      return quoted(*s);
    };
    auto opts_quoted = [](const std::vector<std::string>& o) -> std::optional<std::string> {
      if (o.empty()) return std::nullopt;
      return quoted(join_options(o));
    };
    if (cur) {
      change("device", quoted(cur->device), quoted(m.device));
      change("subvol", opt_quoted(cur->subvol), opt_quoted(m.subvol));
      if (!same_options(cur->options, m.options)) {
        change("options", opts_quoted(cur->options), opts_quoted(m.options));
      }
      if (m.fstype) change("fstype", opt_quoted(cur->fstype), opt_quoted(m.fstype));
      change("state", quoted(cur->state), quoted(m.state == "present" ? cur->state : m.state));
      if (cur->fstab != m.fstab) change("fstab", cur->fstab ? "true" : "false", m.fstab ? "true" : "false");
    } else {
      change("device", std::nullopt, quoted(m.device));
      change("subvol", std::nullopt, opt_quoted(m.subvol));
      change("options", std::nullopt, opts_quoted(m.options));
      if (m.fstype) change("fstype", std::nullopt, opt_quoted(m.fstype));
      change("state", std::nullopt, quoted(m.state));
    }

    // One sentence: what happens to the mount now, then to its fstab line.
    std::vector<std::string> steps;
    if (unmount) steps.push_back("unmount " + m.target);
    if (mount_wrong) {
      bool remount = cur && same_device && cur->state == "mounted";
      steps.push_back((remount ? "remount " : "mount ") + what + " at " + m.target);
    } else if (m.state == "mounted" && m.fstab && same_device && cur->state == "mounted" &&
               !same_options(cur->options, m.options)) {
      // apply remounts a mounted filesystem whose options changed.
      steps.push_back("remount " + m.target + (m.options.empty() ? "" : " with " + join_options(m.options)));
    }
    if (fstab_wrong) {
      bool pronoun = !steps.empty();
      if (!m.fstab) {
        steps.push_back(pronoun ? "remove it from /etc/fstab" : "remove " + m.target + " from /etc/fstab");
      } else if (cur && cur->fstab && !stale) {
        steps.push_back(pronoun ? "update its /etc/fstab entry"
                                : "update the /etc/fstab entry for " + m.target);
      } else if (cur && cur->fstab) {
        steps.push_back(pronoun ? "point its /etc/fstab entry at the new filesystem"
                                : "point the /etc/fstab entry for " + m.target + " at the new filesystem");
      } else {
        steps.push_back(pronoun ? "record it in /etc/fstab"
                                : "record " + what + " at " + m.target + " in /etc/fstab");
      }
    }
    std::string summary;
    for (size_t i = 0; i < steps.size(); ++i) {
      summary += (i == 0 ? "" : i + 1 == steps.size() ? " and " : ", ") + steps[i];
    }
    act.summary = summary;
    act.payload = mount_payload(m);
    actions_.push_back(std::move(act));
  }

  std::string mount_payload(const MountSpec& m) {
    JsonDoc p(rapidjson::kObjectType);
    auto& a = p.GetAllocator();
    p.AddMember("kind", "mount", a);
    p.AddMember("target", str_value(m.target, a), a);
    p.AddMember("device", str_value(m.device, a), a);
    if (m.subvol) p.AddMember("subvol", str_value(*m.subvol, a), a);
    JsonValue opts(rapidjson::kArrayType);
    for (const auto& o : m.options) opts.PushBack(str_value(o, a), a);
    p.AddMember("options", opts, a);
    if (m.fstype) p.AddMember("fstype", str_value(*m.fstype, a), a);
    p.AddMember("state", str_value(m.state, a), a);
    p.AddMember("fstab", m.fstab, a);
    return to_json(p);
  }

  const Section& want_;
  const CurrentSection& have_;
  std::set<std::string>
      fresh_;  // devices whose filesystem this plan creates (or whose partition it recreates)
  std::vector<Action> actions_;
};

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current) {
  std::vector<Problem> problems;
  Section want = normalise(desired, &problems);
  if (!problems.empty()) {
    const Problem& p = problems.front();
    throw Error(ErrorKind::InvalidArgument, json_pointer(p.tokens) + ": " + p.message);
  }
  CurrentSection have = parse_current(current);
  return Differ(want, have).run();
}

}  // namespace opdbus::storage
