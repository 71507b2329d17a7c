// The kvm section as typed values (docs/plugins/kvm.md), and the two translations the plugin needs: a VM to
// libvirt domain XML (render_domain_xml) and libvirt's XML back to a VM (parse_domain_xml), reading only the
// fields the document owns, so what libvirt adds or chooses (controllers, a MAC, PCI addresses, the emulator
// path) never shows as drift. Equivalent forms compare equal after parse_section(): "32G" and 32, "started"
// and "running". Pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostic.h"
#include "json.h"

namespace opdbus::kvm {

inline constexpr std::string_view kDefaultPool = "default";
inline constexpr int kDefaultShutdownTimeout = 60;
// The XML namespace of op-dbus's own metadata in a domain (the os_type, which libvirt has no field for).
inline constexpr std::string_view kMetadataNs = "https://op-dbus.invalid/xmlns/kvm/1";

struct Disk {
  std::string storage = std::string(kDefaultPool);  // pool
  uint64_t size = 0;                                // bytes
  // An image on the host (qcow2 or raw) the disk's volume is a qcow2 overlay of ("" none: a raw volume).
  std::string source;
  bool operator==(const Disk&) const = default;
};

struct Nic {
  std::string bridge;
  std::string model = "virtio";
  std::string mac;  // "" in a document: libvirt chooses (and the diff ignores it); lower case
  bool operator==(const Nic&) const = default;
};

struct Vm {
  std::string id;    // the key in "vms"
  std::string name;  // the libvirt domain name: `name`, else the id
  std::optional<std::string> os_type, virt_type, cpu_model, firmware, cdrom;
  std::optional<int64_t> cores, memory;          // memory in MiB
  std::optional<std::vector<std::string>> boot;  // the boot order ("boot", or "boot.order")
  // Direct kernel boot ("boot": {"kernel", "initrd", "cmdline"}): files on the host, QEMU loads them.
  std::optional<std::string> kernel, initrd, cmdline;
  // The serial console ("console"): "" a pty (logged by virtlogd to console_log_path()), else the path of the
  // file it is written to; nullopt when the document does not say.
  std::optional<std::string> console;
  std::optional<std::vector<Disk>> disks;
  std::optional<std::vector<Nic>> network;
  std::optional<std::string> cloud_init;  // canonical compact JSON of the "cloud_init" object
  std::optional<bool> autostart;
  std::string state = "running";  // running, stopped, absent
  bool restart_allowed = false;
  int shutdown_timeout = kDefaultShutdownTimeout;
  bool delete_disks = false;
};

// An image a disk is made from: its format ("qcow2" or "raw") and its virtual size in bytes.
struct Image {
  std::string format;
  uint64_t size = 0;
};

struct Section {
  std::map<std::string, Vm> vms;
  // Active storage pools, when the current state says (query's "x-target"); nullopt otherwise.
  std::optional<std::vector<std::string>> pools;
  // "proxmox" when query went through qm/pvesh (proxmox.h), else "" (libvirt).
  std::string backend;
  // Host files the document names (kernel, initrd) that do not exist, when the current state says; nullopt
  // otherwise.
  std::optional<std::vector<std::string>> missing_files;
  // The images disks are made from (a disk's "source"), by path, when the current state says.
  std::map<std::string, Image> images;
};

// The member of the current state (never in `show`) that carries what query() learnt besides the VMs.
inline constexpr std::string_view kTargetKey = "x-target";

Section parse_section(const JsonValue& section);
// A size as the schema allows it ("32G", "512M", "1.5T", "100B", or a number of GiB) in bytes; G means GiB.
std::optional<uint64_t> parse_size(const JsonValue& v);
// The shortest exact form: "32G", "512M", "4K", or "N" + "B".
std::string size_text(uint64_t bytes);

// A VM in the section's format (what query reports and `show` prints).
JsonDoc vm_to_json(const Vm& vm, JsonAlloc* alloc = nullptr);

// ---- check.cc: "" when fine, else what was expected
std::string name_problem(std::string_view name);        // domain, pool names
std::string bridge_problem(std::string_view name);      // interface names
std::string path_problem(std::string_view path);        // absolute, no control characters, no "." or ".."
std::string cmdline_problem(std::string_view cmdline);  // a kernel command line: no control characters
bool is_volume_id(std::string_view s);                  // a Proxmox ISO volume id: "local:iso/debian.iso"
void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out);

// ---- domain XML
// A disk's volume as a domain refers to it: a pool volume (type 'volume') or a file path (type 'file').
struct DiskRef {
  std::string pool, volume, path;
  std::string format;  // the driver type: "raw" (what op-dbus makes by default) or "qcow2"
};

// What a redefinition keeps from the current definition so the domain stays the same machine: its UUID, the
// MACs libvirt chose for NICs the document gives none for, and the volumes behind existing disks.
struct Preserved {
  std::string uuid;
  std::vector<std::string> macs;  // by NIC index
  std::vector<DiskRef> disks;     // by disk index
};

// The volume op-dbus makes for disk `index` of domain `name`: "NAME-diskINDEX.img", or "NAME-diskINDEX.qcow2"
// for a disk made from an image.
std::string volume_name(const std::string& domain, size_t index, bool from_image = false);
// A raw, sparse volume of `capacity` bytes; with `source`, a qcow2 overlay of that image (of `source_format`).
std::string render_volume_xml(const std::string& volume, uint64_t capacity, const std::string& source = "",
                              const std::string& source_format = "");
// The backing image's path in a volume's XML (libvirt's <backingStore><path>), "" when none.
std::string volume_backing(std::string_view volume_xml);
// The serial console's log file on the host.
std::string console_log_path(const std::string& domain);
// The complete domain definition for `vm`. Every value is XML-escaped.
std::string render_domain_xml(const Vm& vm, const Preserved& keep);

// ---- cloud-init (NoCloud): the seed op-dbus generates from "cloud_init"
struct SeedFiles {
  std::string meta_data, user_data, network_config;  // network_config "" when the document gives no network
};
// The object with its members sorted, as compact JSON: what a VM's cloud_init compares as.
std::string canonical_json(const JsonValue& v);
// The seed's files. Every value is written as a JSON string, which YAML reads as the same string, so no value
// can add a key or a line. The instance-id changes with the content, so cloud-init applies a changed seed.
SeedFiles render_seed(const std::string& domain, const std::string& cloud_init_json);
// Where the seed ISO of `domain` lives on the host.
std::string seed_path(const std::string& domain);

struct ParsedDomain {
  Vm vm;  // name, os_type, virt_type, cores, memory, cpu_model, firmware, boot, kernel, initrd, cmdline, cdrom,
          // console, network; disks sizes 0
  std::vector<DiskRef> disks;
  Preserved preserved;
};
// Throws Error(BackendError) when the XML is not well-formed.
ParsedDomain parse_domain_xml(std::string_view xml);

}  // namespace opdbus::kvm
