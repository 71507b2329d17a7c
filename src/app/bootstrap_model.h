// `op-dbus bootstrap`: the pure part. The document's "bootstrap" section as typed settings with their
// defaults, the stages in order, and the storage section retargeted from the disk the document names to the
// disk the installation writes (the command line's DEVICE wins). No I/O here: unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"

namespace opdbus::bootstrap {

enum class Bootloader { GrubEfi, GrubBios, Both, SystemdBoot };
enum class Finish { Nothing, Poweroff, Reboot };

struct Settings {
  std::optional<std::string> device;  // bootstrap.device
  std::string hostname = "debian";
  std::string domain;  // "" = none
  std::string timezone = "Etc/UTC";
  std::string locale = "C.UTF-8";
  std::string suite = "bookworm";
  std::string mirror;  // "" = the host's mirror for the suite, else deb.debian.org
  std::string variant = "minbase";
  std::string kernel = "linux-image-amd64";
  std::string kernel_args;  // extra kernel command line (schema: no quotes, no shell characters)
  Bootloader bootloader = Bootloader::GrubEfi;
  std::vector<std::string> include;  // extra packages for the base system (debootstrap --include)
  std::optional<std::string> root_password_hash;  // secret
  Finish finish = Finish::Nothing;

  std::string fqdn() const { return domain.empty() ? hostname : hostname + "." + domain; }
};

// Reads the "bootstrap" section (or the defaults when the document has none). The schema has checked it.
Settings parse_settings(const JsonValue* section);

std::string_view name_of(Bootloader b);
std::string_view name_of(Finish f);

// What debootstrap --include gets: what a bootable, manageable system needs beyond minbase (systemd as init,
// udev, dbus, kmod, iproute2), the tools for the filesystems the storage section makes, and the document's
// own bootstrap.include. Sorted, unique.
std::vector<std::string> base_packages(const Settings& settings, const JsonValue& storage);

// The packages the bootloader needs inside the target.
std::vector<std::string> bootloader_packages(Bootloader b);

// debconf answers given in the target before the bootloader's packages are installed ("" = none). For
// grub-efi: later grub upgrades inside the installed system also refresh the removable path
// EFI/BOOT/BOOTX64.EFI (what firmware without boot entries starts) and leave NVRAM alone, as bootstrap did.
std::string bootloader_preseed(Bootloader b);

// The disk to install on: the command line's DEVICE, else bootstrap.device. `source` says which
// ("command line" / "bootstrap.device"). Throws InvalidArgument when neither is given.
struct TargetChoice {
  std::string device;
  std::string source;
};
TargetChoice choose_device(const std::string& command_line, const Settings& settings);

// The partition device of `disk` numbered `n`, as the kernel names it: /dev/sda + 2 = /dev/sda2,
// /dev/nvme0n1 + 2 = /dev/nvme0n1p2, /dev/loop3 + 1 = /dev/loop3p1 (a 'p' when the disk name ends in a digit).
std::string partition_path(std::string_view disk, int n);

// A copy of the storage section in which every key and string value naming `from` (the disk the document
// describes) or one of its partitions names `to` or the same partition of it instead. Nothing else changes.
// When `from` is empty or equals `to`, the copy is identical.
JsonDoc retarget_storage(const JsonValue& storage, const std::string& from, const std::string& to);

// The stages, in order, with what each does (for --dry-run and the progress lines).
struct Stage {
  std::string_view name;
  std::string_view summary;
};
const std::vector<Stage>& stages();

// Plugins applied at first boot by op-dbus-firstboot.service rather than into the tree: they act on a running
// kernel or daemon (network also writes its boot files offline; those are applied into the tree as well).
bool runtime_plugin(std::string_view plugin);

// The first-boot unit's text for the runtime plugins the document names (empty list: no unit).
std::string firstboot_unit(const std::vector<std::string>& runtime_plugins);

// ---- the base-system cache (docs/bootstrap.md "The base-system cache")
// After debootstrap, the base system is kept as CACHE/base/<id>.tar with its record CACHE/base/<id>.key;
// a later bootstrap with the same key and architecture unpacks it instead of running debootstrap.

// The cache entry's name: the sha256 (hex) of the base key and "arch=ARCH".
std::string base_cache_id(std::string_view base_key, std::string_view arch);

// What the record beside a tarball holds: the size and sha256 measured when it was written, and the key it
// was made from (the base key followed by "arch=ARCH").
struct BaseCacheRecord {
  uint64_t size = 0;
  std::string sha256;  // 64 lowercase hex digits
  std::string key;
};
std::string format_base_record(const BaseCacheRecord& r);
// nullopt when the text is not a whole record (a partial write, another format).
std::optional<BaseCacheRecord> parse_base_record(std::string_view text);

// Where the base system comes from, and why (the progress line and --dry-run print the reason).
struct BaseSource {
  bool from_cache = false;
  std::string reason;
};
// `record` is the record file's text (nullopt: none), `tar_size` the tarball's size (nullopt: none).
// The cache is used only when both exist, the record is whole, names the same key, and the sizes agree; the
// digest is checked by the caller before unpacking (it needs the file).
BaseSource choose_base_source(bool no_cache, std::string_view key, const std::optional<std::string>& record,
                              std::optional<uint64_t> tar_size);

// ---- the installed-system cache (docs/bootstrap.md "The installed-system cache")
// After the packages stage, the whole tree (base system, kernel, bootloader packages, locales, PackageKit and
// the packagekit section's packages and repositories) is kept as CACHE/packages/<id>.tar with its record; a
// later bootstrap with the same key unpacks it in the base stage and skips debootstrap and apt.

// What the packages stage installs with apt: the kernel, the bootloader's packages, `locales` for a locale
// other than C/POSIX, and `packagekit` when the document has a packagekit section. In that order.
std::vector<std::string> stage_packages(const Settings& settings, bool has_packagekit);

// The key of that tree: the base key, then the packages (sorted), digests of the debconf answers and of the
// packagekit section (compact JSON; "none" when absent), the locale (locale-gen's output is in the tree) and
// the entry format. The configure stage's files (hostname, hosts, timezone) are not in it: that stage runs
// again after unpacking; nor is the root password, which is set after the tree is taken.
std::string packages_cache_key(std::string_view base_key, const std::vector<std::string>& packages,
                               std::string_view preseed, std::string_view locale,
                               const std::optional<std::string>& packagekit_json);

// As choose_base_source, for the installed-system entry (the reasons name it; the fallback is the base
// system, then apt).
BaseSource choose_packages_source(bool no_cache, std::string_view key,
                                  const std::optional<std::string>& record, std::optional<uint64_t> tar_size);

// A cache entry builds the system that is installed, as root: it is used only when nobody but its owner (root,
// or whoever runs bootstrap) could have written it. `what` names the file or directory; `uid` and `mode` are
// its stat(2) owner and mode (symbolic links followed), `euid` who runs bootstrap. "" when it can be trusted,
// else the reason ("CACHE/packages is writable by others (mode 0777)").
std::string cache_trust_problem(std::string_view what, uint32_t uid, uint32_t mode, uint32_t euid);

// GNU tar exits 1 ("some files differ") when a file changed while it was read. Keeping the target in the cache,
// the mount points of the chroot's virtual filesystems (./proc, ./sys, ./dev, ./run: their contents are
// excluded, the directories kept) change under it whenever the host adds a device or a process; nothing else
// may. True when every line of tar's output says that of one of those four directories, and nothing else.
bool tar_only_mount_points_changed(std::string_view output);

}  // namespace opdbus::bootstrap
