// Semantic validation of the storage section beyond its schema. Every name or value that becomes a device
// path, an fstab field, a mount option or an argv element of a tool is checked here, at validate time, and
// diff() refuses a section that fails (so `plan --current` and apply never see one):
//
//   devices        "/dev/..." paths (normalised, no whitespace, commas or control characters), or LABEL=,
//                  UUID=, PARTLABEL=, PARTUUID= with a value of the right form
//   labels         no control characters; a filesystem label does not start with "-" (tools take it as argv)
//   subvolumes     relative paths without empty, "." or ".." parts; no leading "-", whitespace, commas,
//                  backslashes, quotes or control characters (the name goes into "subvol=NAME")
//   mount points   absolute and normalised; no whitespace, backslashes or control characters
//   fstype         a lower-case name: [a-z0-9][a-z0-9_.+-]*, at most 32 characters
//   mount options  each one [A-Za-z0-9_.:+@/=-]+ (no spaces, quotes or commas inside one option)
//   mkfs options   flags: "-x", "-xVALUE", "--name" or "--name=VALUE", or a separate VALUE right after a flag
//                  without one ("-F", "32"); a VALUE has no "/", is not "." or "..", and uses
//                  [A-Za-z0-9_.:,+^=-]. So an option can never name a path; a bare value cannot name a device
//                  either, because the live backend runs mkfs from an empty directory.
#include <cctype>

#include "storage/model.h"
#include "text.h"

namespace opdbus::storage {
namespace {

bool has_control(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool all_of_chars(std::string_view s, std::string_view extra) {
  for (unsigned char c : s) {
    if (!std::isalnum(c) && extra.find(static_cast<char>(c)) == std::string_view::npos) return false;
  }
  return true;
}

// "/a/b" with no empty, "." or ".." parts (and no trailing "/"); "/" itself when `root_ok`.
bool normalised_absolute(std::string_view p, bool root_ok) {
  if (p == "/") return root_ok;
  if (p.empty() || p[0] != '/') return false;
  for (const auto& part : split(p.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

// Code points, not bytes (a UTF-8 continuation byte is 10xxxxxx).
size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

}  // namespace

std::optional<std::string> device_name_problem(const std::string& spec, bool path_only) {
  if (spec.rfind("/dev/", 0) == 0) {
    if (!normalised_absolute(spec, false) || spec == "/dev")
      return "a device path is normalised (no empty, \".\" or \"..\" parts)";
    for (unsigned char c : spec) {
      if (c <= 0x20 || c == 0x7f || c == ',' || c == '"' || c == '\'')
        return "a device path has no whitespace, commas, quotes or control characters";
    }
    return std::nullopt;
  }
  if (path_only) return std::nullopt;  // normalise() says a partitioned device is named by its path
  if (!spec.empty() && spec[0] == '/')
    return "a device path is under /dev (image files are not block devices)";
  for (const char* tag : {"UUID=", "PARTUUID="}) {
    if (starts_with(spec, tag)) {
      std::string v = spec.substr(std::string_view(tag).size());
      if (v.empty() || !all_of_chars(v, "-"))
        return std::string(tag) + " takes hexadecimal digits and dashes";
      return std::nullopt;
    }
  }
  for (const char* tag : {"LABEL=", "PARTLABEL="}) {
    if (starts_with(spec, tag)) {
      std::string v = spec.substr(std::string_view(tag).size());
      if (v.empty() || has_control(v)) return std::string(tag) + " takes a label without control characters";
      return std::nullopt;
    }
  }
  return "names no device: use a path under /dev, LABEL=, UUID=, PARTLABEL= or PARTUUID=";
}

std::optional<std::string> mount_point_problem(const std::string& target) {
  if (!normalised_absolute(target, true))
    return "not a mount point op-dbus writes: an absolute, normalised path (no empty, \".\" or \"..\" "
           "parts, no trailing /)";
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f || c == '\\')
      return "not a mount point op-dbus writes: no whitespace, backslashes or control characters";
  }
  return std::nullopt;
}

std::optional<std::string> label_problem(const std::string& label, bool argv) {
  if (has_control(label)) return "a label has no control characters (tabs, newlines, ...)";
  if (argv && !label.empty() && label[0] == '-') return "a filesystem label does not start with \"-\"";
  return std::nullopt;
}

std::optional<std::string> subvolume_problem(const std::string& name) {
  if (name.empty()) return "a subvolume name is not empty";
  if (name[0] == '-') return "a subvolume name does not start with \"-\"";
  for (unsigned char c : name) {
    if (c <= 0x20 || c == 0x7f || c == ',' || c == '\\' || c == '"' || c == '\'')
      return "a subvolume name has no whitespace, commas, backslashes, quotes or control characters";
  }
  for (const auto& part : split(name, '/')) {
    if (part.empty() || part == "." || part == "..")
      return "a subvolume name is a relative path without empty, \".\" or \"..\" parts";
  }
  return std::nullopt;
}

std::optional<std::string> fstype_problem(const std::string& type) {
  if (type.empty() || type.size() > 32 ||
      !(std::islower(static_cast<unsigned char>(type[0])) ||
        std::isdigit(static_cast<unsigned char>(type[0]))))
    return "a filesystem type is a lower-case name like \"ext4\" or \"fuse.sshfs\"";
  for (unsigned char c : type) {
    if (!std::islower(c) && !std::isdigit(c) && c != '_' && c != '.' && c != '+' && c != '-')
      return "a filesystem type is a lower-case name like \"ext4\" or \"fuse.sshfs\"";
  }
  return std::nullopt;
}

std::optional<std::string> mount_option_problem(const std::string& option) {
  if (option.empty() || !all_of_chars(option, "_.:+@/=-"))
    return "a mount option uses letters, digits and _ . : + @ / = - only (no spaces, quotes or commas)";
  return std::nullopt;
}

std::optional<std::string> mkfs_option_problem(const std::string& option, const std::string* previous) {
  static const char* kWhy =
      "mkfs options are flags (\"-x\", \"-xVALUE\", \"--name\", \"--name=VALUE\") and the values of the "
      "flags "
      "before them; a value has no \"/\" and is not \".\" or \"..\": an option can never name a device or a "
      "path";
  std::string value;
  if (option.size() >= 3 && option[0] == '-' && option[1] == '-') {
    size_t eq = option.find('=');
    std::string name = option.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (name.empty() || !std::isalnum(static_cast<unsigned char>(name[0])) || !all_of_chars(name, "_-"))
      return kWhy;
    if (eq != std::string::npos) {
      value = option.substr(eq + 1);
      if (value.empty()) return kWhy;
    }
  } else if (option.size() >= 2 && option[0] == '-' && std::isalnum(static_cast<unsigned char>(option[1]))) {
    value = option.substr(2);
  } else if (!option.empty() && option[0] != '-') {
    // A separate value ("-F", "32"): only right after a flag that carries none of its own.
    bool after_bare_flag =
        previous && previous->size() >= 2 && (*previous)[0] == '-' &&
        ((*previous)[1] == '-' ? previous->find('=') == std::string::npos : previous->size() == 2);
    if (!after_bare_flag) return kWhy;
    value = option;
  } else {
    return kWhy;
  }
  if (value == "." || value == ".." || !all_of_chars(value, "_.:,+^=-")) return kWhy;
  return std::nullopt;
}

std::optional<std::string> mkfs_options_problem(const std::vector<std::string>& options) {
  for (size_t i = 0; i < options.size(); ++i) {
    if (auto why = mkfs_option_problem(options[i], i ? &options[i - 1] : nullptr)) {
      return json_quoted(options[i]) + ": " + *why;
    }
  }
  return std::nullopt;
}

std::vector<Problem> value_problems(const Section& s) {
  std::vector<Problem> out;
  auto add = [&](std::vector<std::string> at, const std::string& what,
                 const std::optional<std::string>& why) {
    if (why) out.push_back(Problem{std::move(at), json_quoted(what) + ": " + *why});
  };
  for (const auto& [key, d] : s.devices) {
    add({"devices", key}, key, device_name_problem(key, true));
    for (const auto& p : d.partitions) {
      std::vector<std::string> at{"devices", key, "partitions", std::to_string(p.index)};
      if (p.label) add(at, *p.label, label_problem(*p.label, false));
      // libfdisk would cut a longer name short, and the plan would never converge.
      if (p.label && utf8_length(*p.label) > 36) {
        add(at, *p.label, std::optional<std::string>("a GPT partition name holds at most 36 characters"));
      }
    }
  }
  for (const auto& [key, f] : s.filesystems) {
    add(f.origin, key, device_name_problem(key, false));
    if (f.label) add(f.origin, *f.label, label_problem(*f.label, true));
    if (auto why = mkfs_options_problem(f.options)) out.push_back(Problem{f.origin, *why});
  }
  for (const auto& [dev, list] : s.subvolumes) {
    add({"btrfs_subvolumes", dev}, dev, device_name_problem(dev, false));
    for (size_t i = 0; i < list.size(); ++i) {
      add({"btrfs_subvolumes", dev, std::to_string(list[i].index)}, list[i].name,
          subvolume_problem(list[i].name));
    }
  }
  for (const auto& [target, m] : s.mounts) {
    add(m.origin, target, mount_point_problem(target));
    if (!m.device.empty()) add(m.origin, m.device, device_name_problem(m.device, false));
    if (m.subvol) add(m.origin, *m.subvol, subvolume_problem(*m.subvol));
    if (m.fstype) add(m.origin, *m.fstype, fstype_problem(*m.fstype));
    for (const auto& o : m.options) add(m.origin, o, mount_option_problem(o));
  }
  return out;
}

std::vector<Problem> section_problems(const JsonValue& section, Section* normalised) {
  std::vector<Problem> problems;
  Section s = normalise(section, &problems);
  for (auto& p : value_problems(s)) problems.push_back(std::move(p));
  if (normalised) *normalised = std::move(s);
  return problems;
}

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out) {
  SectionReport report(file, section_pointer, out);
  for (const auto& p : section_problems(section, nullptr)) report.problem(p.tokens, p.message);
}

}  // namespace opdbus::storage
