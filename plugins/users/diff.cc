#include "users/diff.h"

#include <algorithm>
#include <set>

#include "error.h"
#include "text.h"
#include "users/model.h"
#include "users/ops.h"

namespace opdbus::users {
namespace {

std::string id_text(uint32_t v) {
  return std::to_string(v);
}

std::string list_text(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (auto& s : v) q.push_back(json_quoted(s));
  return "[" + join(q, ", ") + "]";
}

[[noreturn]] void refuse(const std::string& what) {
  throw Error(ErrorKind::InvalidArgument, "users: " + what);
}

// A new id as useradd/groupadd choose it: one above the highest id in use in [lo, hi], else the lowest free
// one; for system ids the highest free one (useradd -r).
uint32_t allocate(const std::set<uint32_t>& used, uint32_t lo, uint32_t hi, bool system,
                  const std::string& what) {
  if (lo <= hi) {
    if (system) {
      for (uint64_t v = hi + 1ull; v-- > lo;)
        if (!used.count(static_cast<uint32_t>(v))) return static_cast<uint32_t>(v);
    } else {
      auto top = used.upper_bound(hi);
      if (top != used.begin() && *std::prev(top) >= lo && *std::prev(top) < hi) return *std::prev(top) + 1;
      if (top == used.begin() || *std::prev(top) < lo) return lo;
      for (uint64_t v = lo; v <= hi; ++v)
        if (!used.count(static_cast<uint32_t>(v))) return static_cast<uint32_t>(v);
    }
  }
  refuse("no free id left in " + std::to_string(lo) + ".." + std::to_string(hi) + " for " + what);
}

Action make_action(std::vector<std::string> item, Op op, std::string summary, int order) {
  Action act;
  act.plugin = "users";
  act.item = std::move(item);
  act.op = op;
  act.summary = std::move(summary);
  act.order = order;
  return act;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired_json, const JsonValue& current_json) {
  const Section want = parse_section(desired_json);
  const Section have = parse_section(current_json);
  const Ranges& ranges = have.target.ranges;
  std::vector<Action> actions;

  // Names that disappear in this plan do not hold their ids any more.
  std::set<uint32_t> used_gids, used_uids;
  for (const auto& [name, g] : have.groups) {
    auto w = want.groups.find(name);
    if (!(w != want.groups.end() && w->second.absent) && g.gid) used_gids.insert(*g.gid);
  }
  for (const auto& [name, acc] : have.accounts) {
    auto w = want.accounts.find(name);
    if (!(w != want.accounts.end() && w->second.absent) && acc.uid) used_uids.insert(*acc.uid);
  }
  auto group_with_gid = [&](uint32_t gid, const std::string& except) -> std::string {
    for (const auto& [name, g] : have.groups) {
      auto w = want.groups.find(name);
      if (name != except && g.gid == gid && !(w != want.groups.end() && w->second.absent)) return name;
    }
    return "";
  };
  // Groups that will exist after the plan, with their gids.
  std::map<std::string, uint32_t> gid_of;
  for (const auto& [name, g] : have.groups)
    if (g.gid) gid_of[name] = *g.gid;

  // ---- groups: create (ids given first, so an allocated one never takes a declared one)
  for (const auto& [name, g] : want.groups)
    if (!g.absent && g.gid && !have.groups.count(name)) used_gids.insert(*g.gid);
  for (const auto& [name, g] : want.groups) {
    if (g.absent) continue;
    auto cur = have.groups.find(name);
    if (cur != have.groups.end()) {
      if (g.gid && cur->second.gid != g.gid) {
        refuse("group " + json_quoted(name) + ": not supported yet: changing the gid of an existing group (" +
               id_text(cur->second.gid.value_or(0)) + " -> " + id_text(*g.gid) + ")");
      }
      continue;
    }
    uint32_t gid = 0;
    if (g.gid) {
      if (auto other = group_with_gid(*g.gid, name); !other.empty()) {
        refuse("group " + json_quoted(name) + ": gid " + id_text(*g.gid) + " is taken by group " +
               json_quoted(other));
      }
      gid = *g.gid;
    } else {
      gid = allocate(used_gids, ranges.gid_min, ranges.gid_max, false, "group " + json_quoted(name));
      used_gids.insert(gid);
    }
    gid_of[name] = gid;
    Action act = make_action({"groups", name}, Op::Create,
                             "create group " + name + " (gid " + id_text(gid) + ")", kCreateGroups);
    act.changes.push_back({"gid", std::nullopt, id_text(gid)});
    act.operation = make_operation<Ops>(CreateGroup{name, gid});
    actions.push_back(std::move(act));
  }

  // ---- accounts
  for (const auto& [name, a] : want.accounts)
    if (!a.absent && a.uid && !have.accounts.count(name)) used_uids.insert(*a.uid);
  for (const auto& [name, a] : want.accounts) {
    if (a.absent) continue;
    const std::string who = "account " + json_quoted(name);
    auto cur_it = have.accounts.find(name);
    const AccountSpec* cur = cur_it == have.accounts.end() ? nullptr : &cur_it->second;

    if (a.shell && have.target.missing_shells.count(*a.shell)) {
      refuse(who + ": shell " + json_quoted(*a.shell) + " is not an executable file in the target");
    }
    for (const auto& g : a.groups.value_or(std::vector<std::string>{})) {
      if (!gid_of.count(g)) refuse(who + ": group " + json_quoted(g) + " does not exist and is not declared");
    }
    if (a.gid) {
      bool found = false;
      for (const auto& [gname, gid] : gid_of) found = found || gid == *a.gid;
      if (!found) refuse(who + ": no group has gid " + id_text(*a.gid) + " (declare it in \"groups\")");
    }
    if (a.uid) {
      for (const auto& [other, acc] : have.accounts) {
        auto w = want.accounts.find(other);
        if (other != name && acc.uid == a.uid && !(w != want.accounts.end() && w->second.absent)) {
          refuse(who + ": uid " + id_text(*a.uid) + " is taken by account " + json_quoted(other));
        }
      }
    }

    uint32_t uid = 0, gid = 0;
    std::string home;
    if (!cur) {
      if (!a.shell && have.target.missing_shells.count(std::string(kDefaultShell))) {
        refuse(who + ": the default shell " + std::string(kDefaultShell) + " is missing in the target");
      }
      uid = a.uid ? *a.uid
                  : allocate(used_uids, a.system ? ranges.sys_uid_min : ranges.uid_min,
                             a.system ? ranges.sys_uid_max : ranges.uid_max, a.system, who);
      used_uids.insert(uid);
      bool own_group = false;
      if (a.gid) {
        gid = *a.gid;
      } else if (auto it = gid_of.find(name); it != gid_of.end()) {
        gid = it->second;
      } else {
        own_group = true;
        if (!used_gids.count(uid) && (a.system ? uid <= ranges.sys_gid_max : uid >= ranges.gid_min)) {
          gid = uid;
        } else {
          gid = allocate(used_gids, a.system ? ranges.sys_gid_min : ranges.gid_min,
                         a.system ? ranges.sys_gid_max : ranges.gid_max, a.system, who + "'s group");
        }
        used_gids.insert(gid);
        gid_of[name] = gid;
      }
      home = a.home ? *a.home : "/home/" + name;
      CreateAccount op;
      op.name = name, op.uid = uid, op.gid = gid, op.own_group = own_group;
      op.comment = a.comment.value_or(""), op.home = home,
      op.shell = a.shell.value_or(std::string(kDefaultShell));
      op.password_hash = a.password_hash;
      op.locked = a.locked.value_or(!a.password_hash.has_value());
      if (!op.password_hash && !op.locked) refuse(who + ": cannot be unlocked without a password_hash");
      op.groups = a.groups.value_or(std::vector<std::string>{});
      op.create_home = a.create_home.value_or(!a.system);
      op.system = a.system;
      Action act = make_action(
          {"accounts", name}, Op::Create,
          "create account " + name + " (uid " + id_text(uid) + ", gid " + id_text(gid) + ")", kAccounts);
      act.changes.push_back({"uid", std::nullopt, id_text(uid)});
      act.changes.push_back({"gid", std::nullopt, id_text(gid)});
      act.changes.push_back({"shell", std::nullopt, json_quoted(op.shell)});
      act.changes.push_back({"home", std::nullopt, json_quoted(home)});
      if (!op.comment.empty()) act.changes.push_back({"comment", std::nullopt, json_quoted(op.comment)});
      if (!op.groups.empty()) act.changes.push_back({"groups", std::nullopt, list_text(op.groups)});
      if (op.password_hash)
        act.changes.push_back({"password_hash", std::nullopt, json_quoted(*op.password_hash)});
      act.changes.push_back({"locked", std::nullopt, op.locked ? "true" : "false"});
      act.operation = make_operation<Ops>(std::move(op));
      actions.push_back(std::move(act));
    } else {
      if (a.uid && cur->uid != a.uid) {
        refuse(who + ": not supported yet: changing the uid of an existing account (" +
               id_text(cur->uid.value_or(0)) + " -> " + id_text(*a.uid) + ")");
      }
      uid = cur->uid.value_or(0);
      gid = cur->gid.value_or(0);
      home = cur->home.value_or("/home/" + name);
      ModifyAccount op;
      op.name = name;
      Action act = make_action({"accounts", name}, Op::Update, "modify account " + name, kAccounts);
      auto str_field = [&](const char* key, const std::optional<std::string>& want_v,
                           const std::optional<std::string>& have_v, std::optional<std::string>& into) {
        if (want_v && want_v != have_v) {
          into = want_v;
          act.changes.push_back(
              {key, have_v ? std::optional(json_quoted(*have_v)) : std::nullopt, json_quoted(*want_v)});
        }
      };
      if (a.gid && a.gid != cur->gid) {
        op.gid = a.gid;
        act.changes.push_back({"gid", id_text(cur->gid.value_or(0)), id_text(*a.gid)});
        gid = *a.gid;
      }
      str_field("comment", a.comment, cur->comment, op.comment);
      str_field("home", a.home, cur->home, op.home);
      str_field("shell", a.shell, cur->shell, op.shell);
      str_field("password_hash", a.password_hash, cur->password_hash, op.password_hash);
      if (op.home) home = *op.home;
      if (a.groups && sorted(*a.groups) != sorted(cur->groups.value_or(std::vector<std::string>{}))) {
        op.groups = a.groups;
        act.changes.push_back(
            {"groups", list_text(cur->groups.value_or(std::vector<std::string>{})), list_text(*a.groups)});
      }
      if (a.locked && a.locked != cur->locked) {
        if (!*a.locked && !a.password_hash && !cur->password_hash) {
          refuse(who + ": cannot be unlocked: it has no password hash (set \"password_hash\")");
        }
        op.locked = a.locked;
        act.changes.push_back(
            {"locked", cur->locked.value_or(false) ? "true" : "false", *a.locked ? "true" : "false"});
      }
      if (!act.changes.empty()) {
        act.operation = make_operation<Ops>(std::move(op));
        actions.push_back(std::move(act));
      }
    }

    if (a.keys) {
      if (have.target.unsafe_ssh.count(name)) {
        refuse(who + ": " + home + " or " + home +
               "/.ssh is not a directory (a symlink?); refusing to write " + "authorized_keys through it");
      }
      std::vector<std::string> cur_keys =
          cur ? cur->keys.value_or(std::vector<std::string>{}) : std::vector<std::string>{};
      if (!cur || *a.keys != cur_keys || have.target.irregular_keys.count(name)) {
        Action act = make_action(
            {"accounts", name}, cur ? Op::Update : Op::Create,
            "write " + home + "/.ssh/authorized_keys (" + std::to_string(a.keys->size()) + " key(s))", kKeys);
        act.changes.push_back({"ssh_authorized_keys", cur ? std::optional(list_text(cur_keys)) : std::nullopt,
                               list_text(*a.keys)});
        act.operation = make_operation<Ops>(WriteKeys{name, home, uid, gid, *a.keys});
        actions.push_back(std::move(act));
      }
    }
  }

  // ---- removals
  for (const auto& [name, a] : want.accounts) {
    if (!a.absent || !have.accounts.count(name)) continue;
    Action act = make_action({"accounts", name}, Op::Delete, "remove account " + name + " (its home stays)",
                             kRemoveAccounts);
    act.destructive = true;
    act.changes.push_back({"uid", id_text(have.accounts.at(name).uid.value_or(0)), std::nullopt});
    auto g = want.groups.find(name);
    act.operation = make_operation<Ops>(RemoveAccount{name, !(g != want.groups.end() && !g->second.absent)});
    actions.push_back(std::move(act));
  }
  for (const auto& [name, g] : want.groups) {
    if (!g.absent) continue;
    auto cur = have.groups.find(name);
    if (cur == have.groups.end()) continue;
    for (const auto& [acc, spec] : have.accounts) {
      auto w = want.accounts.find(acc);
      bool leaving = w != want.accounts.end() && w->second.absent;
      uint32_t primary = (w != want.accounts.end() && w->second.gid) ? *w->second.gid : spec.gid.value_or(0);
      if (!leaving && primary == cur->second.gid) {
        refuse("group " + json_quoted(name) + " cannot be removed: it is the primary group of account " +
               json_quoted(acc));
      }
    }
    Action act = make_action({"groups", name}, Op::Delete, "remove group " + name, kRemoveGroups);
    act.destructive = true;
    act.changes.push_back({"gid", id_text(cur->second.gid.value_or(0)), std::nullopt});
    act.operation = make_operation<Ops>(RemoveGroup{name});
    actions.push_back(std::move(act));
  }
  return actions;
}

}  // namespace opdbus::users
