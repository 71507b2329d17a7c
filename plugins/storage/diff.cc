#include "storage/diff.h"

#include <algorithm>
#include <set>

#include "error.h"
#include "storage/model.h"
#include "storage/ops.h"
#include "text.h"

namespace opdbus::storage {
namespace {

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
    if (p.label) s += " " + json_quoted(*p.label);
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

  // What one device's partition table needs, decided before any Action is built.
  struct TablePlan {
    bool new_table = false;
    std::string why_new;                  // why the table is (re)written: for the summary
    std::vector<std::string> mismatches;  // what differs and can only be fixed destructively
    std::vector<const PartitionSpec*> create;
    std::vector<int> remove;
    std::vector<std::pair<const PartitionSpec*, const CurrentPartition*>> modify;

    bool empty() const { return !new_table && create.empty() && remove.empty() && modify.empty(); }
  };

  // A partition table: the current device, the safety checks, what to change, then one Action.
  void device(const DeviceSpec& d) {
    if (!d.has_table) return;
    const CurrentDevice& cur = current_device(d.key);
    check_device_size(d, cur);
    TablePlan t = plan_table(d, cur);
    refuse_unless_wiped(d, t);
    if (t.empty()) return;
    mark_fresh(d, cur, t);
    actions_.push_back(partition_action(d, cur, t));
  }

  const CurrentDevice& current_device(const std::string& key) {
    static const CurrentDevice blank;
    auto it = have_.devices.find(key);
    return it == have_.devices.end() ? blank : it->second;
  }

  // A document that gives the device's size is asking "is this the right disk?".
  static void check_device_size(const DeviceSpec& d, const CurrentDevice& cur) {
    if (d.size && cur.size && !close_enough(*d.size, *cur.size)) {
      throw Error(ErrorKind::InvalidArgument, d.key + ": device size did not match: want " +
                                                  describe_size(*d.size) + ", got " +
                                                  describe_size(*cur.size) + " (is this the right device?)");
    }
  }

  TablePlan plan_table(const DeviceSpec& d, const CurrentDevice& cur) {
    TablePlan t;
    auto whole = have_.filesystems.find(d.key);
    if (!cur.table) {
      t.new_table = true;
      if (whole != have_.filesystems.end() && !whole->second.type.empty()) {
        t.why_new = "it holds " + article_type(whole->second.type) + " and no partition table";
        t.mismatches.push_back(t.why_new);
      }
    } else if (*cur.table != d.table) {
      t.new_table = true;
      t.why_new = "partition table did not match: want " + d.table + ", got " + *cur.table;
      t.mismatches.push_back(t.why_new);
    }
    if (t.new_table) {
      for (const auto& p : d.partitions) t.create.push_back(&p);
      return t;
    }
    plan_partitions(d, cur, t);
    if (d.wipe && !t.remove.empty() && !recreatable_in_place(d, cur, t)) rewrite_whole_table(d, t);
    return t;
  }

  // Partitions missing, of the wrong geometry (recreated), or of another type or label (changed in place).
  void plan_partitions(const DeviceSpec& d, const CurrentDevice& cur, TablePlan& t) {
    for (const auto& p : d.partitions) {
      const CurrentPartition* cp = cur.find(p.number);
      if (!cp) {
        t.create.push_back(&p);
        continue;
      }
      std::string geo = geometry_mismatch(p, *cp, cur);
      if (!geo.empty()) {
        t.mismatches.push_back("partition " + std::to_string(p.number) + ": " + geo);
        t.remove.push_back(p.number);
        t.create.push_back(&p);
        continue;
      }
      auto want_code = partition_type_code(d.table, p.type);
      auto got_code = partition_type_code(d.table, cp->type);
      bool type_differs = !got_code || *got_code != *want_code;
      bool label_differs = p.label && *p.label != cp->label;
      if (type_differs || label_differs) t.modify.emplace_back(&p, cp);
    }
  }

  // Whether every partition to be recreated fits where it is, before the next partition that stays.
  static bool recreatable_in_place(const DeviceSpec& d, const CurrentDevice& cur, const TablePlan& t) {
    std::set<int> removed(t.remove.begin(), t.remove.end());
    for (const auto& p : d.partitions) {
      if (!removed.count(p.number)) continue;
      const CurrentPartition* cp = cur.find(p.number);
      uint64_t start = p.start.value_or(cp->start);
      std::optional<uint64_t> next;
      for (const auto& other : cur.partitions) {
        if (removed.count(other.number) || other.start <= cp->start) continue;
        if (!next || other.start < *next) next = other.start;
      }
      if (!next) continue;  // nothing after it stays: it grows into free space
      std::optional<uint64_t> size;
      if (p.size.kind == Size::Kind::Bytes) size = p.size.bytes;
      if (p.size.kind == Size::Kind::Percent && cur.size) size = p.size.resolve(*cur.size);
      if (p.size.kind == Size::Kind::Remaining) continue;
      if (!size || start + *size > *next + kSizeTolerance) return false;
    }
    return true;
  }

  // With "wipe", a partition that cannot be recreated where it is (a neighbour is in the way) is made by
  // writing the whole table anew from the document.
  static void rewrite_whole_table(const DeviceSpec& d, TablePlan& t) {
    t.new_table = true;
    t.why_new = join(t.mismatches, "; ");
    t.remove.clear();
    t.modify.clear();
    t.create.clear();
    for (const auto& p : d.partitions) t.create.push_back(&p);
  }

  static void refuse_unless_wiped(const DeviceSpec& d, const TablePlan& t) {
    if (t.mismatches.empty() || d.wipe) return;
    throw Error(ErrorKind::InvalidArgument,
                d.key + ": " + join(t.mismatches, "; ") + kWipeHint + "repartition");
  }

  // Everything on the partitions this action creates is new: their filesystems are gone or never were.
  void mark_fresh(const DeviceSpec& d, const CurrentDevice& cur, const TablePlan& t) {
    if (t.new_table) {
      for (const auto& p : cur.partitions) fresh_.insert(partition_path(d.key, p.number));
      fresh_.insert(d.key);
    }
    for (const auto* p : t.create) fresh_.insert(partition_path(d.key, p->number));
  }

  static PartitionOp partition_op(const DeviceSpec& d, const CurrentDevice& cur, const TablePlan& t) {
    PartitionOp op;
    op.device = d.key;
    op.table = d.table;
    op.new_table = t.new_table;
    op.expect_table = cur.table;
    for (const auto& p : cur.partitions) op.expect_partitions.push_back(p.number);
    op.remove = t.remove;
    for (const auto* p : t.create) {
      PartitionCreate c;
      c.number = p->number;
      c.start = p->start;
      if (p->size.kind == Size::Kind::Bytes) c.size = p->size.bytes;
      if (p->size.kind == Size::Kind::Percent) c.percent = p->size.percent;
      c.remaining = p->size.kind == Size::Kind::Remaining;
      c.type = *partition_type_code(d.table, p->type);
      c.label = p->label;
      op.create.push_back(std::move(c));
    }
    for (const auto& [p, cp] : t.modify) {
      op.modify.push_back(PartitionModify{p->number, *partition_type_code(d.table, p->type), p->label});
    }
    return op;
  }

  // Changes: the table, then one entry per partition touched.
  std::vector<Change> partition_changes(const DeviceSpec& d, const CurrentDevice& cur, const TablePlan& t) {
    std::vector<Change> out;
    JsonDoc scratch;
    auto& sa = scratch.GetAllocator();
    if (t.new_table && cur.table != d.table) {
      Change c;
      c.path = "partition_table";
      if (cur.table) c.before = json_quoted(*cur.table);
      c.after = json_quoted(d.table);
      out.push_back(c);
    }
    std::set<int> touched;
    for (const auto* p : t.create) touched.insert(p->number);
    for (const auto& [p, cp] : t.modify) touched.insert(p->number);
    if (t.new_table) {
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
      out.push_back(c);
    }
    return out;
  }

  std::string partition_summary(const DeviceSpec& d, const TablePlan& t) {
    std::vector<std::string> created;
    for (const auto* p : t.create) created.push_back(describe_partition(*p, d.table));
    if (t.new_table) {
      std::string head =
          t.mismatches.empty() ? "create " : "wipe " + d.key + " (" + t.why_new + ") and create ";
      std::string s = head + d.table + " partition table on " + d.key;
      if (!created.empty()) s += " with partitions " + join(created);
      return s;
    }
    std::vector<std::string> parts;
    if (!t.remove.empty()) parts.push_back("recreate (destroying its contents) " + join(t.mismatches, "; "));
    std::vector<std::string> added;
    for (const auto* p : t.create) {
      if (std::find(t.remove.begin(), t.remove.end(), p->number) == t.remove.end()) {
        added.push_back(describe_partition(*p, d.table));
      }
    }
    if (!added.empty()) parts.push_back("add partition " + join(added));
    for (const auto& [p, cp] : t.modify) {
      std::string s = "set partition " + std::to_string(p->number);
      auto want_code = *partition_type_code(d.table, p->type);
      auto got_code = partition_type_code(d.table, cp->type);
      if (!got_code || *got_code != want_code) s += " type " + partition_type_name(d.table, want_code);
      if (p->label && *p->label != cp->label) s += " label " + json_quoted(*p->label);
      parts.push_back(s);
    }
    return d.key + ": " + join(parts, "; ");
  }

  Action partition_action(const DeviceSpec& d, const CurrentDevice& cur, const TablePlan& t) {
    Action act;
    act.item = {"devices", d.key};
    act.order = kOrderPartition;
    act.observe = d.observe;
    act.op = t.new_table ? Op::Create : Op::Update;
    act.destructive = !t.mismatches.empty();
    act.changes = partition_changes(d, cur, t);
    act.summary = partition_summary(d, t);
    act.operation = make_operation<Ops>(partition_op(d, cur, t));
    return act;
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
    act.summary = "create " + what + (f.label ? " " + json_quoted(*f.label) : "") + " on " + f.key;
    if (act.destructive) {
      act.summary += " (destroys the " + signature_noun(cur->type) + " there" +
                     (cur->type == f.type ? ": " + mismatch : "") + ")";
    }
    Change t;
    t.path = "type";
    if (cur) t.before = json_quoted(cur->type);
    t.after = json_quoted(f.type);
    act.changes.push_back(t);
    if (f.label && !(cur && cur->label == *f.label)) {
      Change l;
      l.path = "label";
      if (cur && !cur->label.empty()) l.before = json_quoted(cur->label);
      l.after = json_quoted(*f.label);
      act.changes.push_back(l);
    }
    if (f.uuid && !(cur && same_uuid(cur->uuid, *f.uuid))) {
      Change u;
      u.path = "uuid";
      if (cur && !cur->uuid.empty()) u.before = json_quoted(cur->uuid);
      u.after = json_quoted(*f.uuid);
      act.changes.push_back(u);
    }
    MkfsOp op;
    op.device = f.key;
    op.type = f.type;
    op.label = f.label;
    op.uuid = f.uuid;
    op.options = f.options;
    if (cur) op.expect = cur->type;
    op.wipe = act.destructive;
    act.operation = make_operation<Ops>(std::move(op));
    actions_.push_back(std::move(act));
  }

  static bool same_uuid(const std::string& a, const std::string& b) { return lower(a) == lower(b); }

  void relabel(const FilesystemSpec& f, const CurrentFilesystem& cur) {
    Action act;
    act.item = {"filesystems", f.key};
    act.op = Op::Update;
    act.order = kOrderRelabel;
    act.observe = f.observe;
    act.summary = "relabel the " + f.type + " filesystem on " + f.key + " " + json_quoted(*f.label);
    Change l;
    l.path = "label";
    if (!cur.label.empty()) l.before = json_quoted(cur.label);
    l.after = json_quoted(*f.label);
    act.changes.push_back(l);
    act.operation = make_operation<Ops>(RelabelOp{f.key, f.type, *f.label});
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
        c.before = json_quoted("present");
        c.after = json_quoted("absent");
      } else {
        act.op = Op::Create;
        act.order = kOrderSubvolumeCreate;
        act.summary = "create btrfs subvolume " + s.name + " on " + dev;
        c.after = json_quoted("present");
      }
      act.changes.push_back(c);
      act.operation = make_operation<Ops>(SubvolumeOp{dev, s.name, s.absent});
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
      c.before = json_quoted(cur->state);
      c.after = json_quoted("absent");
      act.changes.push_back(c);
      act.operation = make_operation<Ops>(mount_op(m));
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
      return json_quoted(*s);
    };
    auto opts_quoted = [](const std::vector<std::string>& o) -> std::optional<std::string> {
      if (o.empty()) return std::nullopt;
      return json_quoted(join_options(o));
    };
    if (cur) {
      change("device", json_quoted(cur->device), json_quoted(m.device));
      change("subvol", opt_quoted(cur->subvol), opt_quoted(m.subvol));
      if (!same_options(cur->options, m.options)) {
        change("options", opts_quoted(cur->options), opts_quoted(m.options));
      }
      if (m.fstype) change("fstype", opt_quoted(cur->fstype), opt_quoted(m.fstype));
      change("state", json_quoted(cur->state), json_quoted(m.state == "present" ? cur->state : m.state));
      if (cur->fstab != m.fstab) change("fstab", cur->fstab ? "true" : "false", m.fstab ? "true" : "false");
    } else {
      change("device", std::nullopt, json_quoted(m.device));
      change("subvol", std::nullopt, opt_quoted(m.subvol));
      change("options", std::nullopt, opts_quoted(m.options));
      if (m.fstype) change("fstype", std::nullopt, opt_quoted(m.fstype));
      change("state", std::nullopt, json_quoted(m.state));
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
    act.operation = make_operation<Ops>(mount_op(m));
    actions_.push_back(std::move(act));
  }

  static MountOp mount_op(const MountSpec& m) {
    MountOp op;
    op.target = m.target;
    op.device = m.device;
    op.subvol = m.subvol;
    op.options = m.options;
    op.fstype = m.fstype;
    op.state = m.state;
    op.fstab = m.fstab;
    return op;
  }

  const Section& want_;
  const CurrentSection& have_;
  std::set<std::string>
      fresh_;  // devices whose filesystem this plan creates (or whose partition it recreates)
  std::vector<Action> actions_;
};

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current) {
  Section want;
  std::vector<Problem> problems = section_problems(desired, &want);
  if (!problems.empty()) {
    const Problem& p = problems.front();
    throw Error(ErrorKind::InvalidArgument, json_pointer(p.tokens) + ": " + p.message);
  }
  CurrentSection have = parse_current(current);
  return Differ(want, have).run();
}

}  // namespace opdbus::storage
