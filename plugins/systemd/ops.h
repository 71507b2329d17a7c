// The systemd plugin's operations: what one Action asks apply() to do. diff() builds them, apply() visits
// them; their JSON form ({"op": "enable", "unit": "ssh.service"}) appears only in the journal.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "json_object.h"

namespace opdbus::systemd {

// Writes a unit file or drop-in (atomically, mode 0644).
struct WriteFile {
  static constexpr std::string_view kName = "write";
  std::string path;
  std::string content;
  void fields(JsonObject& o) const { o.set("path", path).set("content", content); }
};

// Removes a unit's file and its drop-in directory.
struct RemoveFiles {
  static constexpr std::string_view kName = "remove";
  std::string unit;
  std::vector<std::string> paths;
  void fields(JsonObject& o) const { o.set("unit", unit).set("paths", paths); }
};

// daemon-reload, so the manager sees changed unit files.
struct Reload {
  static constexpr std::string_view kName = "reload";
  void fields(JsonObject&) const {}
};

// The operations on one unit.
struct UnitOperation {
  std::string unit;
  void fields(JsonObject& o) const { o.set("unit", unit); }
};
struct Enable : UnitOperation {
  static constexpr std::string_view kName = "enable";
};
struct Disable : UnitOperation {
  static constexpr std::string_view kName = "disable";
};
struct Mask : UnitOperation {
  static constexpr std::string_view kName = "mask";
};
struct Unmask : UnitOperation {
  static constexpr std::string_view kName = "unmask";
};
struct Start : UnitOperation {
  static constexpr std::string_view kName = "start";
};
struct Stop : UnitOperation {
  static constexpr std::string_view kName = "stop";
};
struct Restart : UnitOperation {
  static constexpr std::string_view kName = "restart";
};

using Ops = std::variant<WriteFile, RemoveFiles, Reload, Enable, Disable, Mask, Unmask, Start, Stop, Restart>;

}  // namespace opdbus::systemd
