// The firewall plugin's operations. Whatever the rule-level diff says, the table is replaced as a whole in
// one libnftables transaction, so every Action of a plan carries the same ReplaceTable; apply() carries it
// out once (the later ones find the table already as desired and do nothing).
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "firewall/model.h"
#include "json_object.h"

namespace opdbus::firewall {

struct ReplaceTable {
  static constexpr std::string_view kName = "replace_table";
  Section desired;
  // The running table differs from `desired` (false: only the boot files do). Whether the kernel is asked at
  // all is decided by the plan, so apply does not list the table again.
  bool table_differs = true;

  void fields(JsonObject& o) const {
    o.set("table", std::string(kFamily) + " " + kTable);
    o.set("rules", static_cast<uint64_t>(desired.rules.size()));
    o.set("builtin_rules", desired.builtin_rules);
    o.set("persist", desired.persist);
    o.set("table_differs", table_differs);
    o.set("default_policy", desired.policy);
  }
};

// The document declares nothing (an empty section): the table op-dbus owned is deleted, in one transaction,
// and its boot files removed.
struct DeleteTable {
  static constexpr std::string_view kName = "delete_table";

  void fields(JsonObject& o) const { o.set("table", std::string(kFamily) + " " + kTable); }
};

using Ops = std::variant<ReplaceTable, DeleteTable>;

}  // namespace opdbus::firewall
