#include "storage/apply.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "error.h"
#include "storage/fstab.h"
#include "storage/model.h"
#include "storage/ops.h"
#include "storage/query.h"
#include "storage/size.h"
#include "text.h"

namespace opdbus::storage {
namespace {

namespace fs = std::filesystem;

std::string must_resolve(Backend& host, const std::string& spec) {
  auto dev = host.resolve(spec);
  if (!dev) throw Error(ErrorKind::InvalidArgument, spec + ": no such block device");
  return *dev;
}

std::string canonical(const std::string& p) {
  std::error_code ec;
  fs::path r = fs::canonical(p, ec);
  return ec ? p : r.string();
}

std::string kernel_name(const std::string& dev) {
  return fs::path(canonical(dev)).filename().string();
}

// Refuses to touch a device (or, for a disk, any of its partitions) that is mounted.
void refuse_if_mounted(Backend& host, const std::vector<std::string>& devices, const std::string& doing) {
  std::set<std::string> names;
  for (const auto& d : devices) names.insert(canonical(d));
  for (const auto& m : host.mounts()) {
    if (m.source.empty() || m.source[0] != '/') continue;
    std::string src = canonical(m.source);
    if (names.count(src)) {
      throw Error(ErrorKind::Conflict, src + " is mounted on " + m.target + "; refusing to " + doing);
    }
  }
}

std::vector<std::string> partitions_of(Backend& host, const std::string& disk) {
  std::vector<std::string> out;
  std::string name = kernel_name(disk);
  for (const auto& b : host.block_devices()) {
    if (b.partition && b.parent == name) out.push_back(b.path);
  }
  return out;
}

std::string label_of(const std::optional<std::string>& table) {
  if (!table) return "";
  return *table == "dos" ? "msdos" : *table;
}

void apply_partition(Backend& host, const PartitionOp& op) {
  const std::string dev = must_resolve(host, op.device);
  sys::PartitionTable t = host.read_table(dev);

  // The plan was made for a disk that looked like this; if it changed since, plan again.
  std::vector<int> want_parts = op.expect_partitions, have_parts;
  for (const auto& e : t.partitions) have_parts.push_back(e.number);
  std::sort(want_parts.begin(), want_parts.end());
  if (label_of(t.label) != op.expect_table.value_or("") || want_parts != have_parts) {
    throw Error(ErrorKind::Conflict, op.device + " changed since the plan was made (partition table " +
                                         (t.label ? label_of(t.label) : "none") +
                                         "); nothing was changed: plan again");
  }

  sys::TableEdit edit;
  if (op.new_table) edit.new_label = op.table == "msdos" ? "dos" : op.table;
  edit.remove = op.remove;
  std::vector<int> created;
  for (const auto& c : op.create) {
    sys::NewPartition np;
    np.number = c.number;
    np.start = c.start;
    if (c.size) {
      np.size = *c.size;
    } else if (c.percent) {
      np.size = *Size::of_percent(*c.percent).resolve(t.device_size);
    }
    np.type = c.type;
    np.name = c.label;
    edit.add.push_back(np);
    created.push_back(np.number);
  }
  for (const auto& m : op.modify) {
    sys::PartitionChange pc;
    pc.number = m.number;
    pc.type = m.type;
    pc.name = m.label;
    edit.change.push_back(pc);
  }

  // Never rewrite what a mounted filesystem lives on (in this mount namespace; the O_EXCL open of the write
  // catches the others).
  if (op.new_table) {
    auto parts = partitions_of(host, dev);
    parts.push_back(dev);
    refuse_if_mounted(host, parts, "repartition " + op.device);
  } else if (!edit.remove.empty()) {
    std::vector<std::string> nodes;
    for (int n : edit.remove) {
      if (auto node = host.partition_node(dev, n)) nodes.push_back(*node);
    }
    refuse_if_mounted(host, nodes, "delete partitions of " + op.device);
  }
  host.write_table(dev, edit);
  host.settle(dev, created);
}

std::vector<std::string> mkfs_args(const std::string& type, const std::string& label,
                                   const std::string& uuid) {
  std::vector<std::string> a;
  if (type == "btrfs") {
    a = {"mkfs.btrfs", "-q"};
    if (!label.empty()) a.insert(a.end(), {"-L", label});
    if (!uuid.empty()) a.insert(a.end(), {"-U", uuid});
  } else if (type == "ext4") {
    // -F: proceed on a whole device or an image file without asking (the safety check was ours).
    a = {"mkfs.ext4", "-q", "-F"};
    if (!label.empty()) a.insert(a.end(), {"-L", label});
    if (!uuid.empty()) a.insert(a.end(), {"-U", uuid});
  } else if (type == "xfs") {
    a = {"mkfs.xfs", "-q"};
    if (!label.empty()) a.insert(a.end(), {"-L", label});
    if (!uuid.empty()) a.insert(a.end(), {"-m", "uuid=" + uuid});
  } else if (type == "vfat") {
    // -I: allow a whole, unpartitioned device.
    a = {"mkfs.vfat", "-I"};
    if (!label.empty()) a.insert(a.end(), {"-n", label});
    if (!uuid.empty()) {
      std::string id = uuid;
      id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
      a.insert(a.end(), {"-i", id});
    }
  } else if (type == "swap") {
    a = {"mkswap"};
    if (!label.empty()) a.insert(a.end(), {"-L", label});
    if (!uuid.empty()) a.insert(a.end(), {"-U", uuid});
  } else {
    throw Error(ErrorKind::NotSupported, "cannot create a " + type + " filesystem");
  }
  return a;
}

void apply_mkfs(Backend& host, const MkfsOp& op) {
  const std::string dev = must_resolve(host, op.device);
  std::string expect = op.expect.value_or("");
  std::string found = signature_type(host.probe(dev));
  if (found != expect) {
    throw Error(ErrorKind::Conflict, op.device + ": found " + (found.empty() ? "nothing" : found) +
                                         " where the plan saw " + (expect.empty() ? "nothing" : expect) +
                                         "; nothing was changed: plan again");
  }
  refuse_if_mounted(host, {dev}, "create a filesystem on " + op.device);
  // Built (and its options checked) before anything is written.
  auto argv = mkfs_command(dev, op.type, op.label.value_or(""), op.uuid.value_or(""), op.options);
  if (!found.empty()) {
    if (!op.wipe) throw Error(ErrorKind::Bug, op.device + ": mkfs over " + found + " was not destructive");
    host.wipe(dev);
  }
  // mkfs opens the device with O_EXCL itself; holding it here would make the kernel refuse that open.
  host.check_unused(dev, "create a filesystem on " + op.device);
  host.run(argv);
}

void apply_relabel(Backend& host, const RelabelOp& op) {
  const std::string dev = must_resolve(host, op.device);
  const std::string& type = op.type;
  const std::string& label = op.label;
  if (auto why = label_problem(label, true)) throw Error(ErrorKind::InvalidArgument, op.device + ": " + *why);
  std::string found = host.probe(dev).type;
  if (found != type) {
    throw Error(ErrorKind::Conflict, op.device + ": found " + (found.empty() ? "nothing" : found) + ", not " +
                                         type + "; nothing was changed: plan again");
  }
  std::string mounted_on;
  for (const auto& m : host.mounts()) {
    if (!m.source.empty() && canonical(m.source) == dev) mounted_on = m.target;
  }
  // A filesystem mounted here is relabelled through its own driver or tool, online; one that is not must not
  // be in use anywhere else either (mounted in another namespace, held by another process).
  if (mounted_on.empty()) host.check_unused(dev, "relabel " + op.device);
  if (type == "btrfs") {
    // btrfs-progs wants the mount point of a mounted filesystem, the device of an unmounted one.
    host.run({"btrfs", "filesystem", "label", mounted_on.empty() ? dev : mounted_on, label});
  } else if (type == "ext4") {
    host.run({"e2label", dev, label});
  } else if (type == "xfs") {
    if (!mounted_on.empty()) {
      throw Error(ErrorKind::BackendError,
                  op.device + ": xfs relabels only while unmounted (mounted on " + mounted_on + ")");
    }
    host.run({"xfs_admin", "-L", label, dev});
  } else if (type == "vfat") {
    host.run({"fatlabel", dev, label});
  } else if (type == "swap") {
    host.run({"swaplabel", "-L", label, dev});
  } else {
    throw Error(ErrorKind::NotSupported, "cannot relabel " + type);
  }
}

void apply_subvolume(Backend& host, const SubvolumeOp& op) {
  if (auto why = subvolume_problem(op.name)) throw Error(ErrorKind::InvalidArgument, op.name + ": " + *why);
  const std::string dev = must_resolve(host, op.device);
  std::string found = host.probe(dev).type;
  if (found != "btrfs") {
    throw Error(ErrorKind::InvalidArgument,
                op.device + ": holds " + (found.empty() ? "no filesystem" : found) + ", not btrfs");
  }
  if (op.absent)
    host.delete_subvolume(dev, op.name);
  else
    host.create_subvolume(dev, op.name);
}

int passno_for(const std::string& target, const std::string& fstype) {
  if (fstype == "btrfs" || fstype == "xfs" || fstype == "swap") return 0;
  return target == "/" ? 1 : 2;
}

void apply_mount(Backend& host, const MountOp& op) {
  const std::string& target = op.target;
  const std::string& state = op.state;
  const bool in_fstab = op.fstab;
  const std::optional<std::string>& subvol = op.subvol;
  const std::vector<std::string>& options = op.options;
  // Where the mount point is now, resolved inside the root (a symlink never leads out of it).
  std::optional<std::string> host_target = host.mount_point(target);
  if (host_target) *host_target = normal_path(*host_target);

  const sys::MountInfo* on_top = nullptr;
  auto live = host.mounts();
  for (const auto& l : live) {
    if (host_target && normal_path(l.target) == *host_target) on_top = &l;
  }
  auto write_fstab = [&](const std::string& updated, const std::string& before) {
    if (updated != before) host.write_file("/etc/fstab", updated);
  };
  const std::string fstab_text = host.read_file("/etc/fstab").value_or("");

  if (state == "absent") {
    if (on_top) host.unmount(*host_target);
    write_fstab(fstab_remove(fstab_text, target), fstab_text);
    return;
  }

  const std::string& device = op.device;
  const std::string dev = must_resolve(host, device);
  sys::Signature sig = host.probe(dev);
  std::string fstype = op.fstype.value_or(sig.type);
  if (fstype.empty()) throw Error(ErrorKind::InvalidArgument, device + ": holds no filesystem to mount");
  std::vector<std::string> mount_opts;
  if (subvol) mount_opts.push_back("subvol=" + *subvol);
  mount_opts.insert(mount_opts.end(), options.begin(), options.end());

  auto live_subvol = [](const sys::MountInfo& m) -> std::optional<std::string> {
    if (m.fstype != "btrfs") return std::nullopt;
    std::string s = normalise_subvol(m.root);
    if (s.empty()) return std::nullopt;
    return s;
  };
  bool ours =
      on_top && !on_top->source.empty() && canonical(on_top->source) == dev && live_subvol(*on_top) == subvol;

  if (state == "mounted") {
    if (on_top && !ours) {
      throw Error(ErrorKind::Conflict,
                  target + ": " + on_top->source +
                      (live_subvol(*on_top) ? " (subvolume " + *live_subvol(*on_top) + ")" : "") +
                      " is mounted there; unmount it first");
    }
    if (!on_top) {
      host.mount(dev, host.make_mount_point(target), fstype, join_options(mount_opts));
    } else {
      std::optional<std::string> ignored;
      auto have = split_options(on_top->options, &ignored);
      bool missing = false;
      for (const auto& o : options) {
        if (!userspace_mount_option(o) && std::find(have.begin(), have.end(), o) == have.end())
          missing = true;
      }
      if (missing) host.remount(*host_target, join_options(options));
    }
  } else if (state == "unmounted" && ours) {
    host.unmount(*host_target);
  }

  if (!in_fstab) {
    write_fstab(fstab_remove(fstab_text, target), fstab_text);
    return;
  }
  FstabEntry e;
  e.spec = sig.uuid.empty() ? device : "UUID=" + sig.uuid;
  e.target = target;
  e.fstype = fstype;
  e.options = mount_opts.empty() ? "defaults" : join_options(mount_opts);
  e.freq = 0;
  e.passno = passno_for(target, fstype);
  // An entry that already says the same thing keeps its line (and its spacing).
  std::vector<FstabEntry> same_target;
  for (const auto& x : parse_fstab(fstab_text)) {
    if (normal_path(x.target) == normal_path(target)) same_target.push_back(x);
  }
  if (same_target.size() == 1) {
    const FstabEntry& x = same_target.front();
    std::optional<std::string> xs;
    auto xo = split_options(x.options, &xs);
    bool same_dev = x.spec == e.spec || x.spec == device || host.resolve(x.spec) == dev;
    if (same_dev && x.fstype == fstype && xs == subvol && same_options(xo, options)) return;
  }
  write_fstab(fstab_set(fstab_text, target, format_fstab_line(e)), fstab_text);
}

}  // namespace

std::vector<std::string> mkfs_command(const std::string& device, const std::string& type,
                                      const std::string& label, const std::string& uuid,
                                      const std::vector<std::string>& options) {
  // check() refuses these at validate time; a plan that bypassed it is refused here too.
  if (auto why = mkfs_options_problem(options)) throw Error(ErrorKind::InvalidArgument, device + ": " + *why);
  if (auto why = label_problem(label, true)) throw Error(ErrorKind::InvalidArgument, device + ": " + *why);
  std::vector<std::string> a = mkfs_args(type, label, uuid);
  a.insert(a.end(), options.begin(), options.end());
  a.push_back(device);
  return a;
}

void apply_action(Backend& backend, const Action& action) {
  std::visit(
      [&](const auto& op) {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, PartitionOp>) apply_partition(backend, op);
        if constexpr (std::is_same_v<T, MkfsOp>) apply_mkfs(backend, op);
        if constexpr (std::is_same_v<T, RelabelOp>) apply_relabel(backend, op);
        if constexpr (std::is_same_v<T, SubvolumeOp>) apply_subvolume(backend, op);
        if constexpr (std::is_same_v<T, MountOp>) apply_mount(backend, op);
      },
      operation_of<Ops>(action.operation, action.resource()));
}

}  // namespace opdbus::storage
