// The pure half of the firewall plugin: desired section x current section (query's) -> Actions. No I/O.
//
// The plan is rule-level so it reads as what changes: one Action per rule added ("rules/N", Create), removed
// (Delete) or changed in place (Update, one Change per field), per default policy changed
// ("default_policy/CHAIN") and for builtin_rules; a missing table is one Create of the whole table. Rules are
// matched by a longest common subsequence, so inserting a rule at the top shows as one rule added, not every
// rule changed. Every Action carries the same ReplaceTable (ops.h): the apply is one transaction whatever the
// plan shows. An empty section ({}) declares no table: nothing when there is none, else one Delete of it.
#pragma once

#include <vector>

#include "action.h"
#include "json.h"

namespace opdbus::firewall {

// Throws Error(InvalidArgument) for a section check() refuses.
std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current);

}  // namespace opdbus::firewall
