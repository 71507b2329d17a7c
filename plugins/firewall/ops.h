// The firewall plugin's one operation. Whatever the rule-level diff says, the table is replaced as a whole in
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

  void fields(JsonObject& o) const {
    o.set("table", std::string(kFamily) + " " + kTable);
    o.set("rules", static_cast<uint64_t>(desired.rules.size()));
    o.set("builtin_rules", desired.builtin_rules);
    o.set("default_policy", desired.policy);
  }
};

using Ops = std::variant<ReplaceTable>;

}  // namespace opdbus::firewall
