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

// A home whose files follow an id change: not "/" (that would be the whole tree) and not a path that could
// never be one.
bool reownable(const std::string& home) {
  return path_problem(home).empty() && home != "/";
}

size_t components(const std::string& path) {
  size_t n = 0;
  for (auto& part : split(path, '/')) n += !part.empty();
  return n;
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
  // Groups whose gid changes in this plan: old -> new (accounts with the old primary gid follow them).
  std::map<uint32_t, uint32_t> gid_moves;
  auto leaving_account = [&](const std::string& name) {
    auto w = want.accounts.find(name);
    return w != want.accounts.end() && w->second.absent;
  };

  // ---- groups: create (ids given first, so an allocated one never takes a declared one)
  for (const auto& [name, g] : want.groups)
    if (!g.absent && g.gid) used_gids.insert(*g.gid);
  for (const auto& [name, g] : want.groups) {
    if (g.absent) continue;
    auto cur = have.groups.find(name);
    if (cur != have.groups.end()) {
      if (g.gid && cur->second.gid != g.gid) {
        if (auto other = group_with_gid(*g.gid, name); !other.empty()) {
          refuse("group " + json_quoted(name) + ": gid " + id_text(*g.gid) + " is taken by group " +
                 json_quoted(other));
        }
        uint32_t from = cur->second.gid.value_or(0);
        gid_of[name] = *g.gid;
        gid_moves[from] = *g.gid;
        ChangeGroupId op{name, from, *g.gid, {}};
        std::vector<std::string> homes;
        for (const auto& [acc, spec] : have.accounts) {
          if (spec.gid != from || leaving_account(acc)) continue;
          std::string home = spec.home.value_or("");
          if (!reownable(home)) continue;
          op.reown.push_back(Reown{home, std::nullopt, std::nullopt, from, *g.gid});
          homes.push_back(home);
        }
        std::string summary =
            "change the gid of group " + name + " (" + id_text(from) + " -> " + id_text(*g.gid) + ")";
        if (!homes.empty()) summary += ", re-own its files in " + join(homes, ", ");
        Action act = make_action({"groups", name}, Op::Update, summary, kCreateGroups);
        act.changes.push_back({"gid", id_text(from), id_text(*g.gid)});
        act.operation = make_operation<Ops>(std::move(op));
        actions.push_back(std::move(act));
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
    if (!a.absent && a.uid) used_uids.insert(*a.uid);
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
      op.expires = a.expires ? expires_field(*a.expires) : "";
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
      if (!op.expires.empty()) act.changes.push_back({"expires", std::nullopt, json_quoted(*a.expires)});
      act.operation = make_operation<Ops>(std::move(op));
      actions.push_back(std::move(act));
    } else {
      uid = cur->uid.value_or(0);
      gid = cur->gid.value_or(0);
      if (auto m = gid_moves.find(gid); m != gid_moves.end())
        gid = m->second;  // its group's gid changes first
      home = cur->home.value_or("/home/" + name);
      ModifyAccount op;
      op.name = name;
      Action act = make_action({"accounts", name}, Op::Update, "modify account " + name, kAccounts);
      if (a.uid && cur->uid != a.uid) {
        op.uid = a.uid;
        act.changes.push_back({"uid", id_text(uid), id_text(*a.uid)});
      }
      auto str_field = [&](const char* key, const std::optional<std::string>& want_v,
                           const std::optional<std::string>& have_v, std::optional<std::string>& into) {
        if (want_v && want_v != have_v) {
          into = want_v;
          act.changes.push_back(
              {key, have_v ? std::optional(json_quoted(*have_v)) : std::nullopt, json_quoted(*want_v)});
        }
      };
      if (a.gid && *a.gid != gid) {
        op.gid = a.gid;
        act.changes.push_back({"gid", id_text(cur->gid.value_or(0)), id_text(*a.gid)});
      }
      if ((op.uid || op.gid) && reownable(home)) {
        Reown r{home, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
        if (op.uid) r.from_uid = uid, r.to_uid = *op.uid;
        if (op.gid) r.from_gid = gid, r.to_gid = *op.gid;
        op.reown = r;
        act.summary += " (re-own its files in " + home + ")";
      }
      if (op.uid) uid = *op.uid;
      if (op.gid) gid = *op.gid;
      if (a.expires) {
        std::optional<std::string> want_exp;
        if (*a.expires != "never") want_exp = *a.expires;
        if (want_exp != cur->expires) {
          op.expires = expires_field(*a.expires);
          act.changes.push_back(
              {"expires", json_quoted(cur->expires.value_or("never")), json_quoted(*a.expires)});
        }
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

  // ---- group members (after the accounts exist): the complete list
  for (const auto& [name, g] : want.groups) {
    if (g.absent || !g.members) continue;
    for (const auto& m : *g.members) {
      auto w = want.accounts.find(m);
      bool declared = w != want.accounts.end() && !w->second.absent;
      if (!declared && (!have.accounts.count(m) || leaving_account(m))) {
        refuse("group " + json_quoted(name) + ": member " + json_quoted(m) +
               " is not an account and is not declared");
      }
    }
    std::vector<std::string> cur_members;
    if (auto cur = have.groups.find(name); cur != have.groups.end())
      cur_members = cur->second.members.value_or(std::vector<std::string>{});
    if (sorted(cur_members) == sorted(*g.members)) continue;
    Action act = make_action({"groups", name}, Op::Update, "set the members of group " + name, kMembers);
    act.changes.push_back({"members", list_text(cur_members), list_text(*g.members)});
    act.operation = make_operation<Ops>(SetMembers{name, *g.members});
    actions.push_back(std::move(act));
  }

  // ---- removals
  for (const auto& [name, a] : want.accounts) {
    if (!a.absent || !have.accounts.count(name)) continue;
    const AccountSpec& cur = have.accounts.at(name);
    const std::string who = "account " + json_quoted(name);
    RemoveAccount op;
    op.name = name;
    auto g = want.groups.find(name);
    op.own_group = !(g != want.groups.end() && !g->second.absent);
    std::string summary = "remove account " + name + " (its home stays)";
    if (a.remove_home) {
      std::string home = cur.home.value_or("");
      if (!path_problem(home).empty() || components(home) < 2) {
        refuse(who + ": its home " + json_quoted(home) +
               " is not removed with it: not an absolute path of at least two components");
      }
      if (have.target.foreign_homes.count(name)) {
        refuse(who + ": its home " + home +
               " is not a directory it owns (a symlink, a file or another owner's); refusing to remove it");
      }
      for (const auto& [other, spec] : have.accounts) {
        std::string oh = spec.home.value_or("");
        if (other != name && !leaving_account(other) && (oh == home || starts_with(oh, home + "/"))) {
          refuse(who + ": its home " + home + " holds the home of account " + json_quoted(other) +
                 "; refusing to remove it");
        }
      }
      op.remove_home = true;
      op.home = home;
      op.uid = cur.uid.value_or(0);
      summary = "remove account " + name + " and its home " + home;
    }
    Action act = make_action({"accounts", name}, Op::Delete, summary, kRemoveAccounts);
    act.destructive = true;
    act.changes.push_back({"uid", id_text(cur.uid.value_or(0)), std::nullopt});
    if (op.remove_home) act.changes.push_back({"home", json_quoted(op.home), std::nullopt});
    act.operation = make_operation<Ops>(std::move(op));
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
