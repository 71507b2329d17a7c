#include "sys/partition.h"

#include <libfdisk/libfdisk.h>

#include <fcntl.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "error.h"
#include "sys/blockdev.h"

namespace opdbus::sys {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// One libfdisk context on one device. libfdisk talks through "ask" callbacks: warnings and notes are kept for
// error messages, and every question is refused (nothing here is interactive).
class Fdisk {
 public:
  // Read-only: libfdisk opens the device itself. For writing, it works through `fd` (opened with O_EXCL by
  // the caller, who keeps it open until the table is written and the kernel told).
  Fdisk(const std::string& path, bool readonly, int fd = -1) : path_(path) {
    cxt_ = fdisk_new_context();
    if (!cxt_) throw Error(ErrorKind::BackendError, path + ": libfdisk: out of memory");
    fdisk_set_ask(cxt_, &Fdisk::ask, this);
    int rc = fd >= 0 ? fdisk_assign_device_by_fd(cxt_, fd, path.c_str(), readonly ? 1 : 0)
                     : fdisk_assign_device(cxt_, path.c_str(), readonly ? 1 : 0);
    if (rc < 0) {
      fdisk_unref_context(cxt_);
      cxt_ = nullptr;
      throw Error(rc == -EACCES || rc == -EPERM ? ErrorKind::PermissionError : ErrorKind::BackendError,
                  path + ": libfdisk cannot open the device: " + std::strerror(-rc));
    }
  }
  ~Fdisk() {
    if (!cxt_) return;
    if (assigned_) fdisk_deassign_device(cxt_, 1);
    fdisk_unref_context(cxt_);
  }
  Fdisk(const Fdisk&) = delete;
  Fdisk& operator=(const Fdisk&) = delete;

  fdisk_context* get() const { return cxt_; }

  // Closes the device, syncing it; errors are reported rather than lost in the destructor.
  void close() {
    assigned_ = false;
    int rc = fdisk_deassign_device(cxt_, 0);
    if (rc < 0) fail("closing the device", rc);
  }

  [[noreturn]] void fail(const std::string& what, int rc) const {
    std::string msg = path_ + ": " + what + " failed: " + std::strerror(rc < 0 ? -rc : rc);
    for (const auto& m : messages_) msg += "; " + m;
    throw Error(ErrorKind::BackendError, msg);
  }

 private:
  static int ask(fdisk_context*, fdisk_ask* a, void* data) {
    auto* self = static_cast<Fdisk*>(data);
    switch (fdisk_ask_get_type(a)) {
      case FDISK_ASKTYPE_INFO:
      case FDISK_ASKTYPE_WARNX:
      case FDISK_ASKTYPE_WARN: {
        const char* m = fdisk_ask_print_get_mesg(a);
        if (m) {
          std::string s = m;
          int e = fdisk_ask_get_type(a) == FDISK_ASKTYPE_WARN ? fdisk_ask_print_get_errno(a) : 0;
          if (e) s += std::string(": ") + std::strerror(e);
          self->messages_.push_back(s);
        }
        return 0;
      }
      default:
        self->messages_.push_back(std::string("libfdisk asked a question: ") +
                                  (fdisk_ask_get_query(a) ? fdisk_ask_get_query(a) : "?"));
        return -EINVAL;
    }
  }

  std::string path_;
  fdisk_context* cxt_ = nullptr;
  bool assigned_ = true;
  std::vector<std::string> messages_;
};

std::string type_code(fdisk_context* cxt, fdisk_partition* pa) {
  fdisk_parttype* t = fdisk_partition_get_type(pa);
  if (!t) return "";
  if (fdisk_is_label(cxt, GPT)) {
    const char* s = fdisk_parttype_get_string(t);
    return s ? upper(s) : "";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02x", fdisk_parttype_get_code(t));
  return buf;
}

}  // namespace

PartitionTable read_partition_table(const std::string& path) {
  Fdisk f(path, true);
  fdisk_context* cxt = f.get();
  PartitionTable t;
  t.sector_size = fdisk_get_sector_size(cxt);
  t.device_size = static_cast<uint64_t>(fdisk_get_nsectors(cxt)) * t.sector_size;
  t.grain = fdisk_get_grain_size(cxt);
  if (!fdisk_has_label(cxt)) return t;
  fdisk_label* lb = fdisk_get_label(cxt, nullptr);
  t.label = fdisk_label_get_name(lb);
  fdisk_table* tb = nullptr;
  int rc = fdisk_get_partitions(cxt, &tb);
  if (rc < 0) f.fail("reading the partitions", rc);
  fdisk_iter* itr = fdisk_new_iter(FDISK_ITER_FORWARD);
  fdisk_partition* pa = nullptr;
  while (fdisk_table_next_partition(tb, itr, &pa) == 0) {
    if (fdisk_partition_is_nested(pa) || fdisk_partition_is_container(pa)) continue;
    PartitionEntry e;
    e.number = static_cast<int>(fdisk_partition_get_partno(pa)) + 1;
    e.start = static_cast<uint64_t>(fdisk_partition_get_start(pa)) * t.sector_size;
    e.size = static_cast<uint64_t>(fdisk_partition_get_size(pa)) * t.sector_size;
    e.type = type_code(cxt, pa);
    if (const char* n = fdisk_partition_get_name(pa)) e.name = n;
    t.partitions.push_back(std::move(e));
  }
  fdisk_free_iter(itr);
  fdisk_unref_table(tb);
  std::sort(t.partitions.begin(), t.partitions.end(),
            [](const PartitionEntry& a, const PartitionEntry& b) { return a.number < b.number; });
  return t;
}

// After a new table: a kernel built without the table type's parser (CONFIG_EFI_PARTITION off, as in some
// small VM kernels) re-reads it as empty. Then the partitions are added one by one (BLKPG, as partx -a
// does), from the table libfdisk just wrote.
namespace {
void add_unseen_partitions(Fdisk& f, const std::string& path) {
  fdisk_context* cxt = f.get();
  fdisk_table* after = nullptr;
  if (fdisk_get_partitions(cxt, &after) < 0 || !after) return;
  bool any = false;
  bool seen = false;
  fdisk_iter* it = fdisk_new_iter(FDISK_ITER_FORWARD);
  fdisk_partition* pa = nullptr;
  while (fdisk_table_next_partition(after, it, &pa) == 0) {
    if (!fdisk_partition_has_partno(pa)) continue;
    any = true;
    if (partition_node(path, static_cast<int>(fdisk_partition_get_partno(pa)) + 1)) seen = true;
  }
  fdisk_free_iter(it);
  fdisk_unref_table(after);
  if (!any || seen) return;
  fdisk_table* none = fdisk_new_table();
  int rc = fdisk_reread_changes(cxt, none);
  fdisk_unref_table(none);
  if (rc < 0) f.fail("adding the new partitions to the kernel", rc);
}
}  // namespace

void write_partition_table(const std::string& path, const TableEdit& edit) {
  // O_EXCL: refused while the disk or any of its partitions is mounted (in any namespace) or held.
  Fd exclusive = open_exclusive(path, O_RDWR);
  Fdisk f(path, false, exclusive.get());
  fdisk_context* cxt = f.get();
  const uint64_t sector = fdisk_get_sector_size(cxt);

  fdisk_table* before = nullptr;
  if (edit.new_label) {
    // Old filesystem, RAID and partition table signatures go when the new table is written.
    fdisk_enable_wipe(cxt, 1);
    int rc = fdisk_create_disklabel(cxt, edit.new_label->c_str());
    if (rc < 0) f.fail("creating a " + *edit.new_label + " partition table", rc);
  } else {
    if (!fdisk_has_label(cxt))
      throw Error(ErrorKind::BackendError, path + ": has no partition table to change");
    int rc = fdisk_get_partitions(cxt, &before);
    if (rc < 0) f.fail("reading the partitions", rc);
  }
  fdisk_label* lb = fdisk_get_label(cxt, nullptr);

  auto parse_type = [&](const std::string& code) {
    fdisk_parttype* t = fdisk_label_parse_parttype(lb, code.c_str());
    if (!t) throw Error(ErrorKind::BackendError, path + ": libfdisk does not know partition type " + code);
    return t;
  };

  for (int n : edit.remove) {
    int rc = fdisk_delete_partition(cxt, static_cast<size_t>(n - 1));
    if (rc < 0) f.fail("deleting partition " + std::to_string(n), rc);
  }
  for (const auto& p : edit.add) {
    fdisk_partition* pa = fdisk_new_partition();
    fdisk_partition_set_partno(pa, static_cast<size_t>(p.number - 1));
    if (p.start)
      fdisk_partition_set_start(pa, *p.start / sector);
    else
      fdisk_partition_start_follow_default(pa, 1);
    if (p.size)
      fdisk_partition_set_size(pa, *p.size / sector);
    else
      fdisk_partition_end_follow_default(pa, 1);
    fdisk_parttype* t = parse_type(p.type);
    fdisk_partition_set_type(pa, t);
    fdisk_unref_parttype(t);
    if (p.name) fdisk_partition_set_name(pa, p.name->c_str());
    int rc = fdisk_add_partition(cxt, pa, nullptr);
    fdisk_unref_partition(pa);
    if (rc < 0) f.fail("adding partition " + std::to_string(p.number), rc);
    // libfdisk shrinks a partition that does not fit into the free space it starts in; a partition smaller
    // (or elsewhere) than asked for is an error here, found before anything is written.
    fdisk_partition* got = nullptr;
    if (fdisk_get_partition(cxt, static_cast<size_t>(p.number - 1), &got) == 0 && got) {
      uint64_t got_start = static_cast<uint64_t>(fdisk_partition_get_start(got)) * sector;
      uint64_t got_size = static_cast<uint64_t>(fdisk_partition_get_size(got)) * sector;
      fdisk_unref_partition(got);
      uint64_t grain = fdisk_get_grain_size(cxt);
      if (p.size && got_size + grain < *p.size) {
        throw Error(ErrorKind::BackendError, path + ": partition " + std::to_string(p.number) +
                                                 " does not fit: " + std::to_string(*p.size) +
                                                 " bytes asked for, " + std::to_string(got_size) +
                                                 " free where it starts");
      }
      if (p.start && (got_start > *p.start + grain || got_start + grain < *p.start)) {
        throw Error(ErrorKind::BackendError, path + ": partition " + std::to_string(p.number) +
                                                 " cannot start at " + std::to_string(*p.start) +
                                                 " (that space is not free)");
      }
    }
    fdisk_wipe_partition(cxt, static_cast<size_t>(p.number - 1), 1);
  }
  for (const auto& c : edit.change) {
    size_t partno = static_cast<size_t>(c.number - 1);
    if (c.type) {
      fdisk_parttype* t = parse_type(*c.type);
      int rc = fdisk_set_partition_type(cxt, partno, t);
      fdisk_unref_parttype(t);
      if (rc < 0) f.fail("setting the type of partition " + std::to_string(c.number), rc);
    }
    if (c.name) {
      fdisk_partition* pa = fdisk_new_partition();
      fdisk_partition_set_name(pa, c.name->c_str());
      int rc = fdisk_set_partition(cxt, partno, pa);
      fdisk_unref_partition(pa);
      if (rc < 0) f.fail("naming partition " + std::to_string(c.number), rc);
    }
  }

  int rc = fdisk_write_disklabel(cxt);
  if (rc < 0) {
    if (before) fdisk_unref_table(before);
    f.fail("writing the partition table", rc);
  }
  if (kernel_partitions(path)) {
    // Tell the kernel. Per-partition updates (BLKPG) work while other partitions of the disk are mounted.
    rc = before ? fdisk_reread_changes(cxt, before) : fdisk_reread_partition_table(cxt);
    if (before) fdisk_unref_table(before);
    if (rc < 0) f.fail("telling the kernel about the new partitions", rc);
    if (!before) add_unseen_partitions(f, path);
  } else if (before) {
    fdisk_unref_table(before);
  }
  f.close();
}

}  // namespace opdbus::sys
