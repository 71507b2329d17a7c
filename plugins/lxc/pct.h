// Proxmox VE: the same document through pct and pvesh. Containers are found by their hostname (the
// document's name); a new one gets the next free VMID (`pvesh get /cluster/nextid`). These functions build
// every argv from values check() has validated and refuse anything else; they and the parsers are pure
// (tests/unit/lxc_pct_test.cc). Not tested against a real Proxmox host (docs/plugins/lxc.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lxc/model.h"

namespace opdbus::lxc::pct {

struct Listed {
  int vmid = 0;
  bool running = false;
};

// `pct list`: "VMID Status Lock Name" rows -> name -> (vmid, running).
std::map<std::string, Listed> parse_list(const std::string& text);
// `pct config VMID` ("key: value" lines) -> the section's model (memory, cpus, network, mounts, autostart).
Container parse_config(const std::string& text);
// `pveam list STORAGE`: the newest "debian-12-standard_..." volume for "debian-12", or nullopt.
std::optional<std::string> pick_template(const std::string& pveam_list, const std::string& template_name);

std::vector<std::string> create_argv(int vmid, const std::string& name, const std::string& ostemplate,
                                     const Container& spec);
std::vector<std::string> set_argv(int vmid, const Container& spec);
std::vector<std::string> start_argv(int vmid);
std::vector<std::string> shutdown_argv(int vmid, int timeout_seconds);
std::vector<std::string> destroy_argv(int vmid);

}  // namespace opdbus::lxc::pct
