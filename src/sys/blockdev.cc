#include "sys/blockdev.h"

#include <blkid/blkid.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "error.h"
#include "text.h"

namespace opdbus::sys {
namespace {

namespace fs = std::filesystem;

class Probe {
 public:
  explicit Probe(blkid_probe pr) : pr_(pr) {}
  ~Probe() {
    if (pr_) blkid_free_probe(pr_);
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;
  blkid_probe get() const { return pr_; }

  std::string value(const char* name) const {
    const char* data = nullptr;
    size_t len = 0;
    if (blkid_probe_lookup_value(pr_, name, &data, &len) != 0 || !data) return "";
    // Lengths include the terminating NUL.
    std::string s(data, len);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
  }

 private:
  blkid_probe pr_;
};

std::string read_sysfs(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

bool skipped_name(const std::string& name) {
  for (const char* prefix : {"ram", "zram", "fd", "sr"}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::string sysfs_name(const std::string& path) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) return "";
  return real.filename().string();
}

}  // namespace

Signature probe_signature(const std::string& path) {
  Probe pr(blkid_new_probe_from_filename(path.c_str()));
  if (!pr.get()) {
    throw Error(errno == EACCES || errno == EPERM ? ErrorKind::PermissionError : ErrorKind::BackendError,
                path + ": cannot open for probing: " + std::strerror(errno));
  }
  blkid_probe_enable_superblocks(pr.get(), 1);
  blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
  blkid_probe_enable_partitions(pr.get(), 1);
  blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_ENTRY_DETAILS);
  int rc = blkid_do_safeprobe(pr.get());
  Signature s;
  if (rc == -2) {
    s.ambivalent = true;
    return s;
  }
  if (rc < 0) throw Error(ErrorKind::BackendError, path + ": blkid could not probe the device");
  if (rc == 1) return s;
  s.type = pr.value("TYPE");
  s.label = pr.value("LABEL");
  s.uuid = pr.value("UUID");
  s.pttype = pr.value("PTTYPE");
  s.part_name = pr.value("PART_ENTRY_NAME");
  s.part_uuid = pr.value("PART_ENTRY_UUID");
  return s;
}

std::vector<std::string> wipe_signatures(const std::string& path) {
  // O_EXCL on a block device fails while it is mounted or in use: never wipe under a live filesystem.
  Fd held = open_exclusive(path, O_RDWR | O_CLOEXEC);
  int fd = held.release();
  std::vector<std::string> wiped;
  Probe pr(blkid_new_probe());
  auto fail = [&](const std::string& what) {
    int e = errno;
    ::close(fd);
    return Error(ErrorKind::BackendError,
                 path + ": " + what + (e ? std::string(": ") + std::strerror(e) : ""));
  };
  if (!pr.get() || blkid_probe_set_device(pr.get(), fd, 0, 0) != 0) throw fail("blkid cannot use the device");
  blkid_probe_enable_superblocks(pr.get(), 1);
  blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_TYPE | BLKID_SUBLKS_BADCSUM);
  blkid_probe_enable_partitions(pr.get(), 1);
  blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);
  bool had_table = false;
  // Each successful wipe steps the prober back, so the loop ends when nothing is left.
  for (int guard = 0; guard < 64 && blkid_do_probe(pr.get()) == 0; ++guard) {
    std::string what = pr.value("TYPE");
    if (what.empty()) {
      what = pr.value("PTTYPE");
      if (!what.empty()) {
        had_table = true;
        what += " partition table";
      }
    }
    errno = 0;
    if (blkid_do_wipe(pr.get(), 0) != 0) throw fail("wiping the " + what + " signature failed");
    wiped.push_back(what);
  }
  ::fsync(fd);
  if (had_table && is_block_device(path))
    ::ioctl(fd, BLKRRPART);  // best effort: the kernel forgets partitions
  ::close(fd);
  return wiped;
}

std::vector<BlockDevice> list_block_devices() {
  std::vector<BlockDevice> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/class/block", ec)) {
    BlockDevice d;
    d.name = e.path().filename().string();
    if (skipped_name(d.name)) continue;
    fs::path sys = e.path();
    std::string sectors = read_sysfs(sys / "size");
    if (sectors.empty()) continue;
    d.size = std::stoull(sectors) * 512;  // sysfs counts 512-byte sectors whatever the device's sector size
    if (d.size == 0) continue;
    d.path = "/dev/" + d.name;
    std::string partno = read_sysfs(sys / "partition");
    if (!partno.empty()) {
      d.partition = true;
      d.number = std::stoi(partno);
      std::error_code ec2;
      fs::path real = fs::canonical(sys, ec2);
      if (!ec2) d.parent = real.parent_path().filename().string();
    }
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(),
            [](const BlockDevice& a, const BlockDevice& b) { return a.name < b.name; });
  return out;
}

std::optional<std::string> partition_node(const std::string& disk, int number) {
  std::string name = sysfs_name(disk);
  if (name.empty()) return std::nullopt;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path("/sys/class/block") / name, ec)) {
    if (read_sysfs(e.path() / "partition") == std::to_string(number)) {
      std::string node = "/dev/" + e.path().filename().string();
      if (fs::exists(node)) return node;
    }
  }
  return std::nullopt;
}

std::optional<std::string> resolve_device(const std::string& spec) {
  if (!spec.empty() && spec[0] == '/') {
    std::error_code ec;
    fs::path real = fs::canonical(spec, ec);
    if (ec) return std::nullopt;
    return real.string();
  }
  size_t eq = spec.find('=');
  if (eq == std::string::npos) return std::nullopt;
  std::string tag = spec.substr(0, eq);
  std::string value = spec.substr(eq + 1);
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  bool by_uuid = tag == "UUID" || tag == "PARTUUID";
  if (tag != "LABEL" && tag != "UUID" && tag != "PARTLABEL" && tag != "PARTUUID") {
    throw Error(ErrorKind::InvalidArgument, "\"" + spec +
                                                "\": a device is a path, LABEL=, UUID=, PARTLABEL= or "
                                                "PARTUUID=");
  }
  // Scan every device rather than trust udev's symlinks or blkid's cache: right after mkfs or partitioning
  // both may be stale.
  std::vector<std::string> matches;
  for (const auto& d : list_block_devices()) {
    if (!fs::exists(d.path)) continue;
    Signature s;
    try {
      s = probe_signature(d.path);
    } catch (const Error&) {
      continue;  // an empty drive or a device we may not open
    }
    std::string got = tag == "LABEL"       ? s.label
                      : tag == "UUID"      ? s.uuid
                      : tag == "PARTLABEL" ? s.part_name
                                           : s.part_uuid;
    if (got.empty()) continue;
    if (by_uuid ? lower(got) == lower(value) : got == value) matches.push_back(d.path);
  }
  if (matches.empty()) return std::nullopt;
  if (matches.size() > 1) {
    std::string list;
    for (const auto& m : matches) list += (list.empty() ? "" : ", ") + m;
    throw Error(ErrorKind::Conflict, spec + " matches more than one device (" + list + "); name one by path");
  }
  return matches.front();
}

uint64_t device_size(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::BackendError, path + ": " + std::strerror(errno));
  uint64_t size = 0;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) size = 0;
  } else {
    size = static_cast<uint64_t>(st.st_size);
  }
  ::close(fd);
  return size;
}

bool is_block_device(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

std::string device_users(const std::string& path) {
  std::string name = sysfs_name(path);
  if (name.empty()) return "";
  // The device and, for a disk, its partitions (their sysfs directories sit inside the disk's).
  std::vector<std::string> names{name};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path("/sys/class/block") / name, ec)) {
    if (fs::exists(e.path() / "partition")) names.push_back(e.path().filename().string());
  }
  std::vector<std::string> uses;
  std::vector<std::string> devnos;
  for (const auto& n : names) {
    fs::path sys = fs::path("/sys/class/block") / n;
    for (const auto& h : fs::directory_iterator(sys / "holders", ec)) {
      uses.push_back(n + " is held by " + h.path().filename().string());
    }
    devnos.push_back(read_sysfs(sys / "dev"));  // "7:3"
  }
  // /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT TARGET ..."; octal escapes in TARGET are left as they are.
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    size_t i = 0;
    while (i < line.size() && f.size() < 5) {
      size_t j = line.find(' ', i);
      if (j == std::string::npos) j = line.size();
      f.push_back(line.substr(i, j - i));
      i = j + 1;
    }
    if (f.size() < 5) continue;
    for (size_t k = 0; k < devnos.size(); ++k) {
      if (!devnos[k].empty() && f[2] == devnos[k])
        uses.push_back("/dev/" + names[k] + " is mounted on " + f[4]);
    }
  }
  std::string out;
  for (const auto& u : uses) out += (out.empty() ? "" : "; ") + u;
  return out;
}

Fd open_exclusive(const std::string& path, int flags) {
  bool block = is_block_device(path);
  int fd = ::open(path.c_str(), flags | O_CLOEXEC | (block ? O_EXCL : 0));
  if (fd >= 0) return Fd(fd);
  int e = errno;
  if (e == EBUSY) {
    std::string users = device_users(path);
    throw Error(
        ErrorKind::Conflict,
        path + " is in use (" +
            (users.empty() ? "mounted in another mount namespace or opened exclusively by another process"
                           : users) +
            "); nothing was written");
  }
  throw Error(e == EACCES || e == EPERM ? ErrorKind::PermissionError : ErrorKind::BackendError,
              path + ": cannot open for writing: " + std::strerror(e));
}

bool kernel_partitions(const std::string& disk) {
  if (!is_block_device(disk)) return false;
  fs::path loop = fs::path("/sys/class/block") / sysfs_name(disk) / "loop";
  if (fs::exists(loop)) return read_sysfs(loop / "partscan") == "1";
  return true;
}

}  // namespace opdbus::sys
