#include "bootstrap_model.h"

#include <cctype>
#include <cstdio>
#include <set>

#include "error.h"
#include "journal.h"
#include "text.h"

namespace opdbus::bootstrap {
namespace {

Bootloader parse_bootloader(const std::string& s) {
  if (s == "grub-efi") return Bootloader::GrubEfi;
  if (s == "grub-bios") return Bootloader::GrubBios;
  if (s == "both") return Bootloader::Both;
  if (s == "systemd-boot") return Bootloader::SystemdBoot;
  throw Error(ErrorKind::InvalidArgument, "bootstrap.bootloader: unknown value " + json_quoted(s));
}

Finish parse_finish(const std::string& s) {
  if (s == "nothing") return Finish::Nothing;
  if (s == "poweroff") return Finish::Poweroff;
  if (s == "reboot") return Finish::Reboot;
  throw Error(ErrorKind::InvalidArgument, "bootstrap.finish: unknown value " + json_quoted(s));
}

// "1", "12": the partition number a device path continues with, after an optional 'p'.
std::optional<int> partition_suffix(std::string_view rest) {
  if (!rest.empty() && rest[0] == 'p') rest.remove_prefix(1);
  if (rest.empty() || rest.size() > 3) return std::nullopt;
  int n = 0;
  for (char c : rest) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n >= 1 ? std::optional<int>(n) : std::nullopt;
}

// `value` if it names neither `from` nor a partition of it; else the same on `to`.
std::optional<std::string> retarget_name(std::string_view value, const std::string& from,
                                         const std::string& to) {
  if (value == from) return to;
  if (value.size() <= from.size() || value.substr(0, from.size()) != from) return std::nullopt;
  std::string_view rest = value.substr(from.size());
  // "/dev/sda" + "1" only when the disk's own name does not end in a digit (else "/dev/loop1" + "0" would
  // be read as a partition of /dev/loop1); "/dev/nvme0n1" + "p1".
  bool from_ends_digit = std::isdigit(static_cast<unsigned char>(from.back()));
  if (from_ends_digit != (rest[0] == 'p')) return std::nullopt;
  auto n = partition_suffix(rest);
  if (!n) return std::nullopt;
  return partition_path(to, *n);
}

void retarget_value(JsonValue& v, JsonAlloc& a, const std::string& from, const std::string& to) {
  if (v.IsString()) {
    if (auto r = retarget_name(std::string_view(v.GetString(), v.GetStringLength()), from, to)) {
      v.SetString(r->c_str(), static_cast<rapidjson::SizeType>(r->size()), a);
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) retarget_value(e, a, from, to);
  } else if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      if (auto r = retarget_name(std::string_view(m.name.GetString(), m.name.GetStringLength()), from, to)) {
        m.name.SetString(r->c_str(), static_cast<rapidjson::SizeType>(r->size()), a);
      }
      retarget_value(m.value, a, from, to);
    }
  }
}

}  // namespace

Settings parse_settings(const JsonValue* section) {
  Settings s;
  if (!section || !section->IsObject()) return s;
  const JsonValue& b = *section;
  s.device = opt_string(b, "device");
  if (auto v = opt_string(b, "hostname")) s.hostname = *v;
  if (auto v = opt_string(b, "domain")) s.domain = *v;
  if (auto v = opt_string(b, "timezone")) s.timezone = *v;
  if (auto v = opt_string(b, "locale")) s.locale = *v;
  if (auto v = opt_string(b, "suite")) s.suite = *v;
  if (auto v = opt_string(b, "mirror")) s.mirror = *v;
  if (auto v = opt_string(b, "variant")) s.variant = *v;
  if (auto v = opt_string(b, "kernel")) s.kernel = *v;
  if (auto v = opt_string(b, "kernel_args")) s.kernel_args = *v;
  if (auto v = opt_string(b, "bootloader")) s.bootloader = parse_bootloader(*v);
  if (auto v = opt_strings(b, "include")) s.include = *v;
  s.root_password_hash = opt_string(b, "root_password_hash");
  if (auto v = opt_string(b, "finish")) s.finish = parse_finish(*v);
  return s;
}

std::string_view name_of(Bootloader b) {
  switch (b) {
    case Bootloader::GrubEfi:
      return "grub-efi";
    case Bootloader::GrubBios:
      return "grub-bios";
    case Bootloader::Both:
      return "both";
    case Bootloader::SystemdBoot:
      return "systemd-boot";
  }
  return "?";
}

std::string_view name_of(Finish f) {
  switch (f) {
    case Finish::Nothing:
      return "nothing";
    case Finish::Poweroff:
      return "poweroff";
    case Finish::Reboot:
      return "reboot";
  }
  return "?";
}

namespace {
void filesystem_types(const JsonValue& v, std::set<std::string>& out) {
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if ((key == "filesystem" || key == "type") && m.value.IsString()) out.insert(m.value.GetString());
      filesystem_types(m.value, out);
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) filesystem_types(e, out);
  }
}
}  // namespace

std::vector<std::string> base_packages(const Settings& settings, const JsonValue& storage) {
  std::set<std::string> out = {"dbus", "iproute2", "kmod", "systemd", "systemd-sysv", "udev"};
  std::set<std::string> types;
  filesystem_types(storage, types);
  if (types.count("btrfs") || storage.HasMember("btrfs_subvolumes")) out.insert("btrfs-progs");
  if (types.count("vfat")) out.insert("dosfstools");
  if (types.count("xfs")) out.insert("xfsprogs");
  if (types.count("ext4") || types.count("ext3") || types.count("ext2")) out.insert("e2fsprogs");
  for (const auto& p : settings.include) out.insert(p);
  return {out.begin(), out.end()};
}

std::vector<std::string> bootloader_packages(Bootloader b) {
  switch (b) {
    case Bootloader::GrubEfi:
      return {"grub-efi-amd64"};
    // grub-pc and grub-efi-amd64 conflict; with both, the BIOS core comes from grub-pc-bin's modules and
    // the EFI one from grub-efi-amd64-bin, installed side by side by grub-install with --target.
    case Bootloader::GrubBios:
      return {"grub-pc"};
    case Bootloader::Both:
      return {"grub-efi-amd64", "grub-pc-bin"};
    case Bootloader::SystemdBoot:
      return {"systemd-boot"};
  }
  return {};
}

std::string bootloader_preseed(Bootloader b) {
  if (b != Bootloader::GrubEfi && b != Bootloader::Both) return "";
  return "grub-efi-amd64 grub2/force_efi_extra_removable boolean true\n"
         "grub-efi-amd64 grub2/update_nvram boolean false\n";
}

TargetChoice choose_device(const std::string& command_line, const Settings& settings) {
  if (!command_line.empty()) return {command_line, "command line"};
  if (settings.device) return {*settings.device, "bootstrap.device"};
  throw Error(
      ErrorKind::InvalidArgument,
      "no target disk: give DEVICE on the command line or \"bootstrap\": {\"device\": ...} in the state");
}

std::string partition_path(std::string_view disk, int n) {
  std::string out(disk);
  if (!out.empty() && std::isdigit(static_cast<unsigned char>(out.back()))) out += 'p';
  return out + std::to_string(n);
}

JsonDoc retarget_storage(const JsonValue& storage, const std::string& from, const std::string& to) {
  JsonDoc out;
  out.CopyFrom(storage, out.GetAllocator());
  if (from.empty() || from == to) return out;
  retarget_value(out, out.GetAllocator(), from, to);
  return out;
}

const std::vector<Stage>& stages() {
  static const std::vector<Stage> list = {
      {"check",
       "the target disk: a block device, not the running system's, not in use, empty or wipe allowed"},
      {"storage", "partition table, filesystems, btrfs subvolumes, mounted under the target directory"},
      {"base", "debootstrap the Debian base system into the target (or unpack it from the cache)"},
      {"configure", "hostname, hosts, timezone, locale, apt sources"},
      {"chroot", "bind /dev, /proc, /sys and /run into the target"},
      {"packages", "kernel, bootloader and the document's packages, with apt inside the target"},
      {"plugins", "the root password, then every other plugin applied into the target (--root)"},
      {"op-dbus", "op-dbus from its .deb, /etc/op-dbus/state.json, the first-boot unit"},
      {"bootloader", "GRUB (UEFI and/or BIOS) or systemd-boot, and its configuration"},
      {"finish", "unmount everything; then power off, reboot or nothing, as the document says"},
  };
  return list;
}

bool runtime_plugin(std::string_view plugin) {
  return plugin == "network" || plugin == "firewall" || plugin == "lxc" || plugin == "kvm";
}

std::string firstboot_unit(const std::vector<std::string>& runtime_plugins) {
  if (runtime_plugins.empty()) return "";
  std::string args;
  for (const auto& p : runtime_plugins) args += " --plugin " + p;
  return "# Written by op-dbus bootstrap: applies the parts of /etc/op-dbus/state.json that need the "
         "running\n"
         "# system (" +
         join(runtime_plugins, ", ") +
         ") once, at the first boot, when the network is up and libvirtd and LXC are running (the network "
         "and\n"
         "# firewall plugins' own boot units have set up the early parts already). It does not run again "
         "once\n"
         "# the apply succeeded.\n"
         "[Unit]\n"
         "Description=Apply the op-dbus state at first boot\n"
         "Wants=network-online.target\n"
         "After=network-online.target dbus.service libvirtd.service lxc.service op-dbus-network.service\n"
         "After=op-dbus-network-ovs.service op-dbus-firewall.service\n"
         "ConditionPathExists=/etc/op-dbus/state.json\n"
         "ConditionPathExists=!/var/lib/op-dbus/firstboot.done\n"
         "\n"
         "[Service]\n"
         "Type=oneshot\n"
         "RemainAfterExit=yes\n"
         "ExecStart=/usr/bin/op-dbus apply" +
         args +
         " /etc/op-dbus/state.json\n"
         "ExecStartPost=/usr/bin/touch /var/lib/op-dbus/firstboot.done\n"
         "\n"
         "[Install]\n"
         "WantedBy=multi-user.target\n";
}

// ---- the base-system cache

std::string base_cache_id(std::string_view base_key, std::string_view arch) {
  return sha256_hex(std::string(base_key) + "arch=" + std::string(arch) + "\n");
}

std::string format_base_record(const BaseCacheRecord& r) {
  return "size=" + std::to_string(r.size) + "\nsha256=" + r.sha256 + "\n" + r.key;
}

std::optional<BaseCacheRecord> parse_base_record(std::string_view text) {
  auto line = [&](std::string_view prefix) -> std::optional<std::string> {
    if (text.substr(0, prefix.size()) != prefix) return std::nullopt;
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    std::string value(text.substr(prefix.size(), nl - prefix.size()));
    text.remove_prefix(nl + 1);
    return value;
  };
  BaseCacheRecord r;
  auto size = line("size=");
  if (!size || size->empty() || size->size() > 19) return std::nullopt;
  for (char c : *size) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  r.size = std::stoull(*size);
  auto digest = line("sha256=");
  if (!digest || digest->size() != 64) return std::nullopt;
  for (char c : *digest) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  r.sha256 = *digest;
  // The key ends with the architecture line: a record cut short loses it.
  if (text.empty() || text.back() != '\n' || text.find("arch=") == std::string_view::npos)
    return std::nullopt;
  r.key = std::string(text);
  return r;
}

namespace {
// The reasons for one kind of entry: `what` names it, `fallback` says what runs instead.
BaseSource choose_source(std::string_view what, std::string_view fallback, bool no_cache,
                         std::string_view key, const std::optional<std::string>& record,
                         std::optional<uint64_t> tar_size) {
  const std::string w(what), tail = ": " + std::string(fallback);
  if (no_cache) return {false, "--no-cache" + tail};
  if (!record && !tar_size) return {false, "no cached " + w + " for these settings" + tail};
  if (!record) return {false, "the cached " + w + " has no record (a partial write)" + tail};
  if (!tar_size) return {false, "the cached " + w + "'s tarball is missing" + tail};
  auto r = parse_base_record(*record);
  if (!r) return {false, "the cached " + w + "'s record is damaged" + tail};
  if (r->key != key) return {false, "the cached " + w + " was made with other settings" + tail};
  if (r->size != *tar_size) {
    return {false, "the cached " + w + "'s tarball has " + std::to_string(*tar_size) + " bytes, " +
                       std::to_string(r->size) + " were written (a partial copy)" + tail};
  }
  return {true, w + " from the cache"};
}
}  // namespace

BaseSource choose_base_source(bool no_cache, std::string_view key, const std::optional<std::string>& record,
                              std::optional<uint64_t> tar_size) {
  return choose_source("base system", "debootstrap", no_cache, key, record, tar_size);
}

std::vector<std::string> stage_packages(const Settings& settings, bool has_packagekit) {
  std::vector<std::string> pkgs = {settings.kernel};
  for (auto& p : bootloader_packages(settings.bootloader)) pkgs.push_back(p);
  if (settings.locale != "C.UTF-8" && settings.locale != "C" && settings.locale != "POSIX") {
    pkgs.push_back("locales");
  }
  if (has_packagekit) pkgs.push_back("packagekit");
  return pkgs;
}

std::string packages_cache_key(std::string_view base_key, const std::vector<std::string>& packages,
                               std::string_view preseed, std::string_view locale,
                               const std::optional<std::string>& packagekit_json) {
  std::set<std::string> sorted(packages.begin(), packages.end());
  std::vector<std::string> list(sorted.begin(), sorted.end());
  return std::string(base_key) + "packages=" + join(list, ",") +
         "\npreseed=" + (preseed.empty() ? std::string("none") : sha256_hex(std::string(preseed))) +
         "\nlocale=" + std::string(locale) +
         "\npackagekit=" + (packagekit_json ? sha256_hex(*packagekit_json) : std::string("none")) +
         "\nformat=1\n";
}

BaseSource choose_packages_source(bool no_cache, std::string_view key,
                                  const std::optional<std::string>& record,
                                  std::optional<uint64_t> tar_size) {
  return choose_source("installed system", "the base system, then apt", no_cache, key, record, tar_size);
}

std::string cache_trust_problem(std::string_view what, uint32_t uid, uint32_t mode, uint32_t euid) {
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", mode & 07777);
  if (uid != 0 && uid != euid) {
    return std::string(what) + " belongs to uid " + std::to_string(uid) + ", not to root";
  }
  if (mode & 0002) return std::string(what) + " is writable by others (mode " + octal + ")";
  if (mode & 0020) return std::string(what) + " is writable by its group (mode " + octal + ")";
  return "";
}

bool tar_only_mount_points_changed(std::string_view output) {
  static const std::string_view kSuffix = ": file changed as we read it";
  bool any = false;
  while (!output.empty()) {
    size_t nl = output.find('\n');
    std::string_view line = output.substr(0, nl);
    output = nl == std::string_view::npos ? std::string_view() : output.substr(nl + 1);
    if (line.empty()) continue;
    if (line != "tar: ./proc" + std::string(kSuffix) && line != "tar: ./sys" + std::string(kSuffix) &&
        line != "tar: ./dev" + std::string(kSuffix) && line != "tar: ./run" + std::string(kSuffix)) {
      return false;
    }
    any = true;
  }
  return any;
}

}  // namespace opdbus::bootstrap
