#include "lxc/pct.h"

#include <algorithm>

#include "error.h"
#include "text.h"

namespace opdbus::lxc::pct {
namespace {

[[noreturn]] void refuse(const std::string& what) {
  throw Error(ErrorKind::InvalidArgument, "lxc (pct): " + what);
}

std::vector<std::string> words(const std::string& line) {
  auto w = split(trim(line), ' ');
  w.erase(std::remove(w.begin(), w.end(), ""), w.end());
  return w;
}

std::map<std::string, std::string> options(const std::string& value) {
  std::map<std::string, std::string> out;
  for (const auto& part : split(value, ',')) {
    auto eq = part.find('=');
    if (eq == std::string::npos) {
      out[""] = part;  // the positional value (a mount point's volume)
    } else {
      out[part.substr(0, eq)] = part.substr(eq + 1);
    }
  }
  return out;
}

std::string net0(const Network& n) {
  if (!valid_bridge_name(n.bridge)) refuse("bridge " + json_quoted(n.bridge) + " is not an interface name");
  std::string v = "name=eth0,bridge=" + n.bridge;
  bool v6 = n.ip.find(':') != std::string::npos;
  if (!n.ip.empty()) {
    if (!canonical_cidr(n.ip)) refuse("ip " + json_quoted(n.ip) + " is not an address with a prefix length");
    v += std::string(v6 ? ",ip6=" : ",ip=") + n.ip;
  } else {
    v += ",ip=dhcp";
  }
  if (!n.gateway.empty()) {
    if (!canonical_address(n.gateway)) refuse("gateway " + json_quoted(n.gateway) + " is not an address");
    v += std::string(n.gateway.find(':') != std::string::npos ? ",gw6=" : ",gw=") + n.gateway;
  }
  return v;
}

void limits(std::vector<std::string>& argv, const Container& spec) {
  if (spec.memory)
    argv.insert(argv.end(), {"--memory", std::to_string(std::max<uint64_t>(16, *spec.memory >> 20))});
  if (spec.cpus) argv.insert(argv.end(), {"--cores", std::to_string(*spec.cpus)});
  if (spec.autostart) argv.insert(argv.end(), {"--onboot", *spec.autostart ? "1" : "0"});
  if (spec.network) argv.insert(argv.end(), {"--net0", net0(*spec.network)});
  if (spec.mounts) {
    for (size_t i = 0; i < spec.mounts->size(); ++i) {
      const Mount& m = (*spec.mounts)[i];
      if (!valid_host_path(m.source) || !valid_host_path(m.target))
        refuse("mount paths must be plain absolute paths");
      argv.insert(argv.end(),
                  {"--mp" + std::to_string(i), m.source + ",mp=" + m.target + (m.read_only ? ",ro=1" : "")});
    }
  }
}

void check_vmid(int vmid) {
  if (vmid < 100 || vmid > 999999999) refuse("VMID " + std::to_string(vmid) + " is out of range");
}

}  // namespace

std::map<std::string, Listed> parse_list(const std::string& text) {
  std::map<std::string, Listed> out;
  for (const auto& line : split(text, '\n')) {
    auto w = words(line);
    if (w.size() < 3 || w[0] == "VMID") continue;
    Listed l;
    try {
      l.vmid = std::stoi(w[0]);
    } catch (const std::exception&) {
      continue;
    }
    l.running = w[1] == "running";
    out[w.back()] = l;  // the Lock column may be empty
  }
  return out;
}

Container parse_config(const std::string& text) {
  Container c;
  std::vector<Mount> mounts;
  c.autostart = false;
  for (const auto& line : split(text, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    try {
      if (key == "memory") c.memory = std::stoull(value) << 20;
      if (key == "cores") c.cpus = std::stoll(value);
    } catch (const std::exception&) {
    }
    if (key == "onboot") c.autostart = value == "1";
    if (key == "net0") {
      auto o = options(value);
      Network n;
      n.bridge = o["bridge"];
      std::string ip = o.count("ip") ? o["ip"] : o["ip6"];
      if (ip != "dhcp" && ip != "auto" && ip != "manual") n.ip = canonical_cidr(ip).value_or(ip);
      std::string gw = o.count("gw") ? o["gw"] : o["gw6"];
      if (!gw.empty()) n.gateway = canonical_address(gw).value_or(gw);
      c.network = n;
    }
    if (starts_with(key, "mp") && key.size() > 2) {
      auto o = options(value);
      if (!o[""].empty() && o[""][0] == '/') mounts.push_back({o[""], o["mp"], o["ro"] == "1"});
    }
  }
  std::sort(mounts.begin(), mounts.end(), [](const Mount& a, const Mount& b) {
    return a.target < b.target || (a.target == b.target && a < b);
  });
  if (!mounts.empty()) c.mounts = mounts;
  return c;
}

std::optional<std::string> pick_template(const std::string& pveam_list, const std::string& template_name) {
  std::string prefix = template_name + "-standard_";
  std::optional<std::string> best;
  for (const auto& line : split(pveam_list, '\n')) {
    auto w = words(line);
    if (w.empty()) continue;
    auto slash = w[0].find("vztmpl/");
    if (slash == std::string::npos || !is_pve_volume(w[0])) continue;
    if (!starts_with(w[0].substr(slash + 7), prefix)) continue;
    if (!best || w[0] > *best) best = w[0];
  }
  return best;
}

std::vector<std::string> create_argv(int vmid, const std::string& name, const std::string& ostemplate,
                                     const Container& spec) {
  check_vmid(vmid);
  if (!valid_container_name(name)) refuse("name " + json_quoted(name) + " is not a host name");
  if (!is_pve_volume(ostemplate)) refuse("template " + json_quoted(ostemplate) + " is not a Proxmox volume");
  std::vector<std::string> argv = {"pct", "create", std::to_string(vmid), ostemplate, "--hostname", name};
  if (spec.storage && !valid_container_name(*spec.storage)) refuse("storage " + json_quoted(*spec.storage));
  if (spec.rootfs) {
    uint64_t gib = std::max<uint64_t>(1, (*spec.rootfs + (1ull << 30) - 1) >> 30);
    argv.insert(argv.end(), {"--rootfs", spec.storage.value_or("local-lvm") + ":" + std::to_string(gib)});
  } else if (spec.storage) {
    argv.insert(argv.end(), {"--storage", *spec.storage});
  }
  limits(argv, spec);
  return argv;
}

std::vector<std::string> set_argv(int vmid, const Container& spec) {
  check_vmid(vmid);
  std::vector<std::string> argv = {"pct", "set", std::to_string(vmid)};
  limits(argv, spec);
  return argv;
}

std::vector<std::string> start_argv(int vmid) {
  check_vmid(vmid);
  return {"pct", "start", std::to_string(vmid)};
}

std::vector<std::string> shutdown_argv(int vmid, int timeout_seconds) {
  check_vmid(vmid);
  return {"pct",         "shutdown", std::to_string(vmid), "--timeout", std::to_string(timeout_seconds),
          "--forceStop", "1"};
}

std::vector<std::string> destroy_argv(int vmid) {
  check_vmid(vmid);
  return {"pct", "destroy", std::to_string(vmid)};
}

}  // namespace opdbus::lxc::pct
