#include "firewall/diff.h"

#include <optional>
#include <set>

#include "error.h"
#include "firewall/model.h"
#include "firewall/ops.h"
#include "firewall/persist.h"
#include "text.h"

namespace opdbus::firewall {
namespace {

std::string rule_text(const Rule& r) {
  return to_json(rule_to_json(r));
}

// Field-by-field changes of one rule, as compact JSON values (nullopt: absent).
std::vector<Change> rule_changes(const Rule* before, const Rule* after) {
  JsonDoc b = before ? rule_to_json(*before) : JsonDoc(rapidjson::kObjectType);
  JsonDoc a = after ? rule_to_json(*after) : JsonDoc(rapidjson::kObjectType);
  std::vector<Change> out;
  for (const char* key : {"chain", "iface", "oif", "source", "destination", "proto", "port", "icmp_type",
                          "limit", "counter", "log", "action", "comment", "nft"}) {
    const JsonValue* x = member(b, key);
    const JsonValue* y = member(a, key);
    if (!x && !y) continue;
    if (x && y && json_equal(*x, *y)) continue;
    Change c;
    c.path = key;
    if (x) c.before = to_json(*x);
    if (y) c.after = to_json(*y);
    out.push_back(std::move(c));
  }
  return out;
}

// Index pairs of a longest common subsequence of equal rules. Above a size where the table would be too big,
// rules are paired by position (still correct, only less readable).
std::vector<std::pair<size_t, size_t>> common_rules(const std::vector<Rule>& want,
                                                    const std::vector<Rule>& have) {
  size_t n = want.size(), m = have.size();
  std::vector<std::pair<size_t, size_t>> out;
  if (n * m > 4'000'000) {
    for (size_t i = 0; i < std::min(n, m); ++i) {
      if (want[i] == have[i]) out.emplace_back(i, i);
    }
    return out;
  }
  std::vector<std::vector<uint32_t>> len(n + 1, std::vector<uint32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      len[i][j] = want[i] == have[j] ? len[i + 1][j + 1] + 1 : std::max(len[i + 1][j], len[i][j + 1]);
    }
  }
  for (size_t i = 0, j = 0; i < n && j < m;) {
    if (want[i] == have[j]) {
      out.emplace_back(i, j);
      ++i, ++j;
    } else if (len[i + 1][j] >= len[i][j + 1]) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

// Two rules that read as one rule changed rather than one removed and another added.
bool similar(const Rule& a, const Rule& b) {
  if (a.chain != b.chain || !a.nft.empty() || !b.nft.empty()) return false;
  if (!a.comment.empty() && a.comment == b.comment) return true;
  return a.proto == b.proto && a.ports == b.ports;
}

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current) {
  Section want;
  auto problems = section_problems(desired, &want);
  if (!problems.empty()) {
    throw Error(ErrorKind::InvalidArgument,
                "firewall" + json_pointer(problems.front().tokens) + ": " + problems.front().message);
  }
  std::vector<Problem> current_problems;
  Section have = parse_section(current, &current_problems);
  bool present = current.IsObject() && member(current, "rules");
  bool boot_files = current.IsObject() && member(current, "persist") &&
                    member(current, "persist")->IsBool() && member(current, "persist")->GetBool();

  std::vector<Action> actions;
  if (declares_nothing(desired)) {
    if (present || boot_files) {
      Action a;
      a.op = Op::Delete;
      a.summary = present ? "delete table inet op_dbus (the section declares nothing)"
                          : "remove the firewall's boot files (the section declares nothing)";
      a.observe = want.observe;
      a.operation = make_operation<Ops>(DeleteTable{});
      actions.push_back(std::move(a));
    }
    return actions;
  }
  // Lockout protection: the connection this command runs over (query reports it as "ssh_connection") must
  // survive the new ruleset; if it would not, every action is destructive (refused without
  // --allow-destructive) and the first one says why.
  std::string lockout;
  if (const JsonValue* ssh = member(current, "ssh_connection"); ssh && ssh->IsString()) {
    if (auto tuple = parse_ssh_connection(ssh->GetString())) {
      if (auto why = lockout_reason(want, *tuple)) {
        lockout = "; LOCKOUT: the new ruleset would drop this SSH connection (" +
                  std::string(ssh->GetString()) + "): " + *why;
      }
    }
  }
  Section same_boot = have;
  same_boot.persist = want.persist;
  auto op = make_operation<Ops>(ReplaceTable{want, !present || !(same_boot == want)});
  auto add = [&](std::vector<std::string> item, Op kind, std::string summary, std::vector<Change> changes) {
    Action a;
    a.item = std::move(item);
    a.op = kind;
    a.summary = std::move(summary);
    a.changes = std::move(changes);
    a.observe = want.observe;
    a.operation = op;
    if (!lockout.empty()) {
      a.destructive = true;
      if (actions.empty()) a.summary += lockout;
    }
    actions.push_back(std::move(a));
  };

  if (!present) {
    std::vector<Change> changes;
    for (const auto& [chain, policy] : want.policy) {
      changes.push_back({"default_policy/" + chain, std::nullopt, json_quoted(policy)});
    }
    changes.push_back({"builtin_rules", std::nullopt, want.builtin_rules ? "true" : "false"});
    changes.push_back({"persist", std::nullopt, want.persist ? "true" : "false"});
    for (const auto& [name, set] : want.sets) {
      changes.push_back({"sets/" + name, std::nullopt, to_json(set_to_json(set))});
    }
    if (want.nat) changes.push_back({"nat", std::nullopt, to_json(nat_to_json(want))});
    for (size_t i = 0; i < want.rules.size(); ++i) {
      changes.push_back({"rules/" + std::to_string(i), std::nullopt, rule_text(want.rules[i])});
    }
    add({}, Op::Create, "create table inet op_dbus with " + std::to_string(want.rules.size()) + " rule(s)",
        std::move(changes));
    return actions;
  }

  for (const auto& [chain, policy] : want.policy) {
    const std::string& was = have.policy[chain];
    if (was == policy) continue;
    add({"default_policy", chain}, Op::Update, "set " + chain + " policy " + was + " -> " + policy,
        {{"", json_quoted(was), json_quoted(policy)}});
  }
  if (want.builtin_rules != have.builtin_rules) {
    add({"builtin_rules"}, Op::Update,
        want.builtin_rules ? "restore the builtin rules (established/related, loopback, invalid)"
                           : "remove the builtin rules (established/related, loopback, invalid)",
        {{"", have.builtin_rules ? "true" : "false", want.builtin_rules ? "true" : "false"}});
  }

  if (want.persist != have.persist) {
    add({"persist"}, want.persist ? Op::Create : Op::Delete,
        want.persist
            ? std::string("load the table at boot: write ") + kBootFile + " and enable " + kUnitName
            : std::string("do not load the table at boot: remove ") + kBootFile + " and " + kUnitName,
        {{"", have.persist ? "true" : "false", want.persist ? "true" : "false"}});
  }
  std::set<std::string> set_names;
  for (const auto& [name, set] : want.sets) set_names.insert(name);
  for (const auto& [name, set] : have.sets) set_names.insert(name);
  for (const auto& name : set_names) {
    auto w = want.sets.find(name);
    auto h = have.sets.find(name);
    if (h == have.sets.end()) {
      add({"sets", name}, Op::Create, "add set " + name + " (" + w->second.type + ")",
          {{"", std::nullopt, to_json(set_to_json(w->second))}});
    } else if (w == want.sets.end()) {
      add({"sets", name}, Op::Delete, "remove set " + name,
          {{"", to_json(set_to_json(h->second)), std::nullopt}});
    } else if (!(w->second == h->second)) {
      add({"sets", name}, Op::Update, "change set " + name,
          {{"", to_json(set_to_json(h->second)), to_json(set_to_json(w->second))}});
    }
  }
  if (!(want.masquerade == have.masquerade && want.forwards == have.forwards && want.nat == have.nat &&
        want.dnat_accept == have.dnat_accept)) {
    JsonDoc before = nat_to_json(have);
    JsonDoc after = nat_to_json(want);
    std::vector<Change> changes;
    for (const char* key : {"masquerade", "forwards"}) {
      const JsonValue* x = member(before, key);
      const JsonValue* y = member(after, key);
      if (!json_equal(*x, *y)) changes.push_back({key, to_json(*x), to_json(*y)});
    }
    if (changes.empty())
      changes.push_back({"", have.nat ? "\"nat chains\"" : "null", want.nat ? "\"nat chains\"" : "null"});
    add({"nat"}, want.nat ? (have.nat ? Op::Update : Op::Create) : Op::Delete,
        want.nat ? "set NAT: " + std::to_string(want.masquerade.size()) + " masquerade, " +
                       std::to_string(want.forwards.size()) + " port forward(s)"
                 : "remove NAT (masquerade, port forwards)",
        std::move(changes));
  }

  auto common = common_rules(want.rules, have.rules);
  common.emplace_back(want.rules.size(), have.rules.size());  // sentinel: the tail after the last match
  size_t i = 0, j = 0;
  for (const auto& [ci, cj] : common) {
    // The gap want[i, ci) x have[j, cj): a wanted rule similar to a current one (same chain, and the same
    // comment or the same protocol and ports) is that rule changed; the rest is added or removed.
    const size_t j0 = j;
    std::vector<bool> used(cj - j0, false);
    for (; i < ci; ++i) {
      std::optional<size_t> pair;
      for (size_t k = j0; k < cj && !pair; ++k) {
        if (!used[k - j0] && similar(want.rules[i], have.rules[k])) pair = k;
      }
      if (pair) {
        used[*pair - j0] = true;
        add({"rules", std::to_string(i)}, Op::Update,
            "change rule " + std::to_string(i) + ": " + rule_text(want.rules[i]),
            rule_changes(&have.rules[*pair], &want.rules[i]));
      } else {
        add({"rules", std::to_string(i)}, Op::Create,
            "add rule " + std::to_string(i) + ": " + rule_text(want.rules[i]),
            rule_changes(nullptr, &want.rules[i]));
      }
    }
    for (; j < cj; ++j) {
      if (used[j - j0]) continue;
      add({"rules", std::to_string(j)}, Op::Delete,
          "remove rule " + std::to_string(j) + " (current): " + rule_text(have.rules[j]),
          rule_changes(&have.rules[j], nullptr));
    }
    i = ci + 1;
    j = cj + 1;
  }
  // Anything else that differs (nothing above names it) still replaces the table.
  if (actions.empty() && !(want == have)) {
    add({}, Op::Update, "replace table inet op_dbus (it differs from the document)", {});
  }
  return actions;
}

}  // namespace opdbus::firewall
