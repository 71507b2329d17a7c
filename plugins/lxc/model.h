// The lxc section as typed values. parse_section() reads a document's section or a query's (they have the
// same format) and normalises it, so equivalent forms compare equal: "2G", "2048M", "2GiB" and 2048 (MiB)
// are one memory size; "dhcp" and no address are one network; mounts compare as a sorted list.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "diagnostic.h"
#include "json.h"

namespace opdbus::lxc {

struct Network {
  std::string bridge;   // "" = none declared
  std::string ip;       // "192.168.1.101/24"; "" = none (dhcp inside the container, or nothing)
  std::string gateway;  // "" = none
  bool operator==(const Network&) const = default;
};

struct Mount {
  std::string source;  // absolute host path
  std::string target;  // absolute path inside the container
  bool read_only = false;
  auto operator<=>(const Mount&) const = default;
};

struct IdMap {
  std::string type;  // "u" or "g"
  uint32_t container = 0;
  uint32_t host = 0;
  uint32_t count = 0;
  auto operator<=>(const IdMap&) const = default;
};

enum class State { Started, Stopped, Absent };

struct Container {
  // Used only when the container is made (never compared with an existing one).
  std::optional<std::string> template_name;  // "debian-12"
  std::optional<std::string> storage;        // "dir", "btrfs"; a storage name on Proxmox
  std::optional<uint64_t> rootfs;            // bytes
  std::optional<std::string> clone_from;     // a container of the same lxcpath
  std::optional<std::vector<IdMap>> idmap;   // unprivileged container (sorted)
  // Compared and changed.
  std::optional<uint64_t> memory;  // bytes
  std::optional<int64_t> cpus;
  std::optional<Network> network;
  std::optional<std::vector<Mount>> mounts;  // sorted by target
  std::map<std::string, std::string> raw;    // extra lxc.* keys
  std::optional<bool> autostart;
  State state = State::Started;
  bool restart_allowed = false;  // "restart": "allowed"
  bool observe = false;
};

struct Section {
  std::string lxcpath;  // "" = the backend's default
  bool observe = false;
  std::map<std::string, Container> containers;
};

struct Problem {
  std::vector<std::string> tokens;
  std::string message;
  std::string expected;  // when set: report as expected/found
  std::string found;
};

// Parses and normalises; every refused value becomes a Problem (when `problems` is given).
Section parse_section(const JsonValue& section, std::vector<Problem>* problems);
// The document form (what query reports and `show` prints); round-trips through parse_section.
JsonDoc section_to_json(const Section& s);

// "2G" -> 2 GiB, 512 (a number: MiB) -> 512 MiB; binary units whatever the spelling (K, KB, KiB).
std::optional<uint64_t> parse_size(const JsonValue& v);
// The shortest exact form: "2G", "1536M", "12345B".
std::string size_text(uint64_t bytes);

// Validation of values that reach the system (lxcpath, liblxc config lines, pct argv).
bool valid_container_name(const std::string& name);
bool valid_bridge_name(const std::string& name);
bool valid_host_path(const std::string& path);  // absolute, plain characters, no "." or ".." parts
std::optional<std::string> raw_key_problem(const std::string& key);
bool valid_raw_value(const std::string& value);
// "10.0.3.5/24" -> ok; canonical form or nullopt.
std::optional<std::string> canonical_cidr(const std::string& text);
std::optional<std::string> canonical_address(const std::string& text);
// "debian-12" -> "bookworm"; nullopt for a template this plugin does not know.
std::optional<std::string> debian_release(const std::string& template_name);
// A Proxmox volume id "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".
bool is_pve_volume(const std::string& template_name);

// ---- check.cc
std::vector<Problem> section_problems(const JsonValue& section);
void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out);

}  // namespace opdbus::lxc
