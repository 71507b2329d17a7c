#include "lxc/query.h"

#include <cstdlib>

#include "error.h"
#include "lxc/model.h"
#include "text.h"

namespace opdbus::lxc {
namespace {

[[noreturn]] void refuse(ErrorKind kind, const std::string& name, const std::string& what) {
  throw Error(kind, "lxc/containers/" + name + ": " + what);
}

// What the document asks that this backend can never do, for the containers it would make.
void refuse_unreachable(Backend& backend, const Section& want, const std::map<std::string, Container>& have) {
  const bool pct = backend.kind() == "pct";
  unsigned cpus = backend.host_cpus();
  for (const auto& [name, w] : want.containers) {
    if (w.state == State::Absent) continue;
    if (w.cpus && cpus > 0 && *w.cpus > static_cast<int64_t>(cpus)) {
      refuse(ErrorKind::InvalidArgument, name,
             "config.cpus is " + std::to_string(*w.cpus) + " but this host has " + std::to_string(cpus) +
                 " CPU(s)");
    }
    if (w.mounts) {
      for (size_t i = 0; i < w.mounts->size(); ++i) {
        const std::string& source = (*w.mounts)[i].source;
        if (!backend.host_directory(source)) {
          refuse(ErrorKind::InvalidArgument, name,
                 "config.mounts[" + std::to_string(i) + "]: the source " + json_quoted(source) +
                     " is not a directory on this host");
        }
      }
    }
    if (have.count(name)) continue;  // creation-only fields are not compared with an existing container
    if (!pct) {
      if (w.template_name && is_pve_volume(*w.template_name)) {
        refuse(ErrorKind::NotSupported, name,
               "template " + json_quoted(*w.template_name) +
                   " is a Proxmox volume; this host has no Proxmox "
                   "(/etc/pve): use \"debian-12\" and the like");
      }
      if (w.storage && *w.storage != "dir" && *w.storage != "btrfs") {
        refuse(ErrorKind::NotSupported, name,
               "storage " + json_quoted(*w.storage) +
                   " is not a liblxc backing store op-dbus supports here "
                   "(\"dir\" or \"btrfs\"; Proxmox storage names need a Proxmox host)");
      }
      if (w.rootfs) {
        refuse(ErrorKind::NotSupported, name,
               "config.rootfs (a root filesystem size) needs a Proxmox host; liblxc's dir and btrfs storage "
               "have no size");
      }
    } else {
      if (w.idmap)
        refuse(ErrorKind::NotSupported, name,
               "config.idmap on Proxmox: pct makes unprivileged containers with its own map");
      if (!w.raw.empty())
        refuse(ErrorKind::NotSupported, name, "config.raw on Proxmox: pct has no raw lxc keys");
      if (w.clone_from) refuse(ErrorKind::NotSupported, name, "clone_from on Proxmox is not supported yet");
    }
  }
}

}  // namespace

std::string effective_lxcpath(Backend& backend, const JsonValue* desired) {
  if (desired) {
    std::string p = get_string(*desired, "lxcpath");
    if (!p.empty()) return p;
  }
  if (const char* env = std::getenv("OPDBUS_LXC_PATH"); env && *env) {
    if (!valid_host_path(env) || std::string(env) == "/") {
      throw Error(ErrorKind::InvalidArgument,
                  "lxc: OPDBUS_LXC_PATH " + json_quoted(env) + " is not an absolute directory path");
    }
    return env;
  }
  return backend.default_lxcpath();
}

JsonDoc query_section(Backend& backend, const JsonValue* desired) {
  Section want;
  if (desired) want = parse_section(*desired, nullptr);
  std::set<std::string> names, raw_keys;
  for (const auto& [name, c] : want.containers) {
    names.insert(name);
    if (c.clone_from) names.insert(*c.clone_from);  // the diff must know whether a clone's source exists
    for (const auto& [k, v] : c.raw) raw_keys.insert(k);
  }
  Section s;
  s.lxcpath = effective_lxcpath(backend, desired);
  if (desired && names.empty()) return section_to_json(s);  // nothing named: nothing to read
  s.containers = backend.list(s.lxcpath, names, raw_keys);
  if (desired) refuse_unreachable(backend, want, s.containers);
  return section_to_json(s);
}

}  // namespace opdbus::lxc
