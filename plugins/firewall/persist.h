// Loading table inet op_dbus at boot: the batch op-dbus applied is kept as /etc/op-dbus/firewall.json and
// loaded by op-dbus-firewall.service (`nft -j -f`, before network-pre.target, after nftables.service),
// enabled through sysinit.target.wants. Every file is reached through sys::RootDir: "/" live, DIR with --root.
#pragma once

#include <optional>
#include <string>

namespace opdbus::sys {
class RootDir;
}

namespace opdbus::firewall {

inline constexpr const char* kBootFile = "/etc/op-dbus/firewall.json";
inline constexpr const char* kUnitName = "op-dbus-firewall.service";
inline constexpr const char* kUnitPath = "/etc/systemd/system/op-dbus-firewall.service";
inline constexpr const char* kWantsLink = "/etc/systemd/system/sysinit.target.wants/op-dbus-firewall.service";

// The unit, byte for byte as op-dbus writes it.
std::string unit_text();

struct BootFiles {
  std::optional<std::string> batch;  // the boot file's contents
  bool unit = false;                 // the unit file is there, as op-dbus writes it
  bool enabled = false;              // and the sysinit.target.wants link points at it
  bool installed() const { return batch && unit && enabled; }
  bool any() const { return batch || unit || enabled; }
};

BootFiles read_boot(const sys::RootDir& root);
void write_boot(const sys::RootDir& root, const std::string& batch);
void remove_boot(const sys::RootDir& root);

// A batch made by render_batch() as the listing `nft -j list table inet op_dbus` would give after it ran
// (what --root reads back from the boot file); nullopt when the batch leaves no table.
std::optional<std::string> listing_from_batch(const std::string& batch);

}  // namespace opdbus::firewall
