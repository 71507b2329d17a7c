// check(): what the schema cannot say. Every name that reaches libvirt's XML, a volume name or a host path
// (the console log, a kernel, an initrd) is refused here when it could escape (a '/', "." or ".."), break a line, or exceed what
// libvirt and the kernel accept; two VMs may not name the same domain.
#include <map>

#include "diagnostic.h"
#include "kvm/model.h"
#include "text.h"

namespace opdbus::kvm {
namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '+' || c == '-';
}

}  // namespace

std::string name_problem(std::string_view name) {
  const std::string expected =
      "a name of 1-64 letters, digits, '.', '_', '+' or '-', not starting with '.', '-' or '+'";
  if (name.empty() || name.size() > 64) return expected;
  if (name[0] == '.' || name[0] == '-' || name[0] == '+') return expected;
  for (char c : name) {
    if (!name_char(c)) return expected;
  }
  return "";
}

std::string bridge_problem(std::string_view name) {
  const std::string expected =
      "a bridge name of 1-15 letters, digits, '_', '.', ':' or '-', starting with a letter, digit or '_'";
  if (name.empty() || name.size() > 15 || name[0] == '.' || name[0] == '-' || name[0] == ':') return expected;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == ':' || c == '-';
    if (!ok) return expected;
  }
  return "";
}

std::string path_problem(std::string_view path) {
  const std::string expected = "an absolute path without control characters or \".\"/\"..\" components";
  if (path.empty() || path[0] != '/' || path.size() > 4096) return expected;
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return expected;
  }
  for (const auto& part : split(path, '/')) {
    if (part == "." || part == "..") return expected;
  }
  return "";
}

std::string cmdline_problem(std::string_view cmdline) {
  const std::string expected = "a kernel command line of 1-2048 characters on one line";
  if (cmdline.empty() || cmdline.size() > 2048) return expected;
  for (char c : cmdline) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return expected;
  }
  return "";
}

bool is_volume_id(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  for (char c : s.substr(0, colon)) {
    if (!name_char(c) || c == '+') return false;
  }
  std::string_view rest = s.substr(colon + 1);
  if (!starts_with(rest, "iso/") || rest.size() == 4) return false;
  for (char c : rest.substr(4)) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return rest.substr(4) != "." && rest.substr(4) != "..";
}

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out) {
  SectionReport report(file, section_pointer, out);
  const JsonValue* vms = member(section, "vms");
  if (!vms || !vms->IsObject()) return;
  std::map<std::string, std::string> domains;  // domain name -> id
  for (auto it = vms->MemberBegin(); it != vms->MemberEnd(); ++it) {
    std::string id = it->name.GetString();
    const JsonValue& v = it->value;
    if (!v.IsObject()) continue;
    auto name = opt_string(v, "name");
    if (!name) {
      if (auto why = name_problem(id); !why.empty()) {
        report.expected({"vms", id}, "a VM id usable as a domain name (or a \"name\"): " + why,
                        json_quoted(id));
        continue;
      }
    } else if (auto why = name_problem(*name); !why.empty()) {
      report.expected({"vms", id, "name"}, why, json_quoted(*name));
      continue;
    }
    std::string domain = name.value_or(id);
    if (auto [pos, fresh] = domains.emplace(domain, id); !fresh) {
      report.problem({"vms", id}, "names domain \"" + domain + "\" as VM \"" + pos->second + "\" does");
    }
    if (auto cdrom = opt_string(v, "cdrom")) {
      std::string why = is_volume_id(*cdrom) ? "" : path_problem(*cdrom);
      if (!why.empty()) report.expected({"vms", id, "cdrom"}, why, json_quoted(*cdrom));
    }
    if (const JsonValue* boot = member(v, "boot"); boot && boot->IsObject()) {
      for (const char* key : {"kernel", "initrd"}) {
        if (auto path = opt_string(*boot, key)) {
          if (auto why = path_problem(*path); !why.empty())
            report.expected({"vms", id, "boot", key}, why, json_quoted(*path));
        }
      }
      if (auto cmdline = opt_string(*boot, "cmdline")) {
        if (auto why = cmdline_problem(*cmdline); !why.empty())
          report.expected({"vms", id, "boot", "cmdline"}, why, json_quoted(*cmdline));
      }
      if (!member(*boot, "kernel")) {
        for (const char* key : {"initrd", "cmdline"}) {
          if (member(*boot, key))
            report.problem({"vms", id, "boot", key},
                           "only means something with \"kernel\" (a direct kernel boot)");
        }
      }
    }
    if (const JsonValue* console = member(v, "console"); console && console->IsObject()) {
      if (auto log = opt_string(*console, "log")) {
        std::string why = path_problem(*log);
        if (why.empty() && ends_with(*log, "/")) why = "the path of a file, not of a directory";
        if (!why.empty()) report.expected({"vms", id, "console", "log"}, why, json_quoted(*log));
      }
    }
    if (const JsonValue* disks = member(v, "disks"); disks && disks->IsArray()) {
      for (rapidjson::SizeType i = 0; i < disks->Size(); ++i) {
        const JsonValue& d = (*disks)[i];
        if (auto pool = opt_string(d, "storage")) {
          if (auto why = name_problem(*pool); !why.empty()) {
            report.expected({"vms", id, "disks", std::to_string(i), "storage"}, "a storage pool name: " + why,
                            json_quoted(*pool));
          }
        }
        if (auto source = opt_string(d, "source")) {
          if (auto why = path_problem(*source); !why.empty())
            report.expected({"vms", id, "disks", std::to_string(i), "source"}, why, json_quoted(*source));
        }
        if (const JsonValue* size = member(d, "size"); size && !parse_size(*size)) {
          report.expected({"vms", id, "disks", std::to_string(i), "size"},
                          "a size from 1 byte to 1 EiB like \"32G\", or a number of GiB", to_json(*size));
        }
      }
    }
    if (const JsonValue* nics = member(v, "network"); nics && nics->IsArray()) {
      for (rapidjson::SizeType i = 0; i < nics->Size(); ++i) {
        const JsonValue& n = (*nics)[i];
        auto bridge = opt_string(n, "bridge");
        if (!bridge) {
          report.problem(
              {"vms", id, "network", std::to_string(i)},
              "a network interface needs a \"bridge\" (the only kind of network op-dbus attaches)");
        } else if (auto why = bridge_problem(*bridge); !why.empty()) {
          report.expected({"vms", id, "network", std::to_string(i), "bridge"}, why, json_quoted(*bridge));
        }
      }
    }
    if (get_bool(v, "delete_disks") && get_string(v, "state") != "absent") {
      report.problem({"vms", id, "delete_disks"}, "only means something with \"state\": \"absent\"");
    }
  }
}

}  // namespace opdbus::kvm
