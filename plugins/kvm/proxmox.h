// The kvm plugin on a Proxmox VE host (/etc/pve exists): the same document through `qm` and `pvesh`, Proxmox's
// own tools, since Proxmox keeps VMs in its cluster filesystem rather than in libvirt. Everything here builds
// argv vectors and reads the tools' output; the runner that executes them is handed in, so tests record the
// commands. NOT tested on a real Proxmox host (none is available to the test suite): the command lines follow
// Proxmox VE 8's qm(1) and pvesh(1) manuals.
//
//   query: `pvesh get /nodes/localhost/qemu --output-format json` (the VMs of this node: vmid, name, status),
//          then `qm config VMID` per VM.
//   apply: `qm create` / `qm set` (disks are allocated by Proxmox from `STORAGE:SIZE_IN_GiB`, so creating a
//          volume is part of them), `qm resize`, `qm start`, `qm shutdown --timeout T --forceStop 1`,
//          `qm destroy --purge 1`.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "action.h"
#include "json.h"
#include "kvm/model.h"

namespace opdbus::kvm::proxmox {

// Runs argv and returns its output; throws Error(BackendError) with the tool's own words on failure.
using Runner = std::function<std::string(const std::vector<std::string>& argv)>;

// The VMID of a VM id: "vm-100", "100", "pve-vm-100" -> 100 (the trailing number, 100-999999999).
std::optional<long> vmid_of(std::string_view id);
// The id `show` gives VMID N that no document names: "vm-N".
std::string id_of(long vmid);

// `qm config` output -> the section's VM (disks scsiN, virtioN, sataN, then non-CD ideN, by index; the CD-ROM
// is ide2 with media=cdrom).
Vm parse_config(std::string_view config);

std::vector<std::string> create_argv(long vmid, const Vm& vm);
// `qm set` for what the document gives; disks with an index >= `current_disks` are allocated.
std::vector<std::string> set_argv(long vmid, const Vm& vm, size_t current_disks);
std::vector<std::string> resize_argv(long vmid, const std::string& disk_key, uint64_t bytes);
std::vector<std::string> start_argv(long vmid);
std::vector<std::string> shutdown_argv(long vmid, int timeout);
std::vector<std::string> destroy_argv(long vmid);
std::vector<std::string> list_argv();
std::vector<std::string> config_argv(long vmid);

JsonDoc query_section(const Runner& run, const JsonValue* desired);
void apply_action(const Runner& run, const Action& action);

}  // namespace opdbus::kvm::proxmox
