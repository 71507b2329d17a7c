// The users plugin's operations. diff() builds them, apply() visits them; their JSON form appears only in the
// journal, where a password hash is never written ("(secret)").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "json_object.h"

namespace opdbus::users {

// A group line in /etc/group and /etc/gshadow.
struct CreateGroup {
  static constexpr std::string_view kName = "create-group";
  std::string name;
  uint32_t gid = 0;
  void fields(JsonObject& o) const { o.set("name", name).set("gid", gid); }
};

// Files under a home directory owned by the old uid (gid) get the new one, as usermod -u (-g) does: only
// those, never following a symlink (a symlink itself is re-owned), inside the root.
struct Reown {
  std::string home;
  std::optional<uint32_t> from_uid, to_uid, from_gid, to_gid;
  void fields(JsonObject& o) const {
    o.set("reown_home", home);
    if (from_uid && to_uid) o.set("reown_uid", std::to_string(*from_uid) + " -> " + std::to_string(*to_uid));
    if (from_gid && to_gid) o.set("reown_gid", std::to_string(*from_gid) + " -> " + std::to_string(*to_gid));
  }
};

// A new gid for an existing group (as groupmod -g): the group lines, the accounts whose primary group it is
// (their passwd gid), and the files of their homes owned by the old gid (`reown`, done first).
struct ChangeGroupId {
  static constexpr std::string_view kName = "change-group-id";
  std::string name;
  uint32_t from_gid = 0, gid = 0;
  std::vector<Reown> reown;
  void fields(JsonObject& o) const {
    o.set("name", name).set("from_gid", from_gid).set("gid", gid);
    std::vector<std::string> homes;
    for (const auto& r : reown) homes.push_back(r.home);
    o.set("reown_homes", homes);
  }
};

// The group's member list (in /etc/group and /etc/gshadow) is exactly `members`.
struct SetMembers {
  static constexpr std::string_view kName = "set-members";
  std::string name;
  std::vector<std::string> members;
  void fields(JsonObject& o) const { o.set("name", name).set("members", members); }
};

// Removes the group's lines (and nothing else).
struct RemoveGroup {
  static constexpr std::string_view kName = "remove-group";
  std::string name;
  void fields(JsonObject& o) const { o.set("name", name); }
};

// A new account: its passwd and shadow lines, its own group when `own_group` (useradd's USERGROUPS_ENAB),
// its supplementary groups, and its home from /etc/skel when `create_home`.
struct CreateAccount {
  static constexpr std::string_view kName = "create-account";
  std::string name;
  uint32_t uid = 0, gid = 0;
  bool own_group = false;
  std::string comment, home, shell;
  std::optional<std::string> password_hash;
  bool locked = true;
  std::vector<std::string> groups;
  bool create_home = false;
  bool system = false;  // no password aging fields, as useradd -r
  std::string expires;  // shadow field 8 ("" or days since 1970-01-01)
  void fields(JsonObject& o) const {
    o.set("name", name).set("uid", uid).set("gid", gid).set("own_group", own_group).set("comment", comment);
    o.set("home", home).set("shell", shell).set("locked", locked).set("groups", groups);
    o.set("create_home", create_home).set("system", system);
    if (!expires.empty()) o.set("expires", expires);
    if (password_hash) o.set("password_hash", "(secret)");
  }
};

// Changes the fields that are set; `groups` is then the complete list of supplementary groups. A new uid or
// gid first re-owns the home (`reown`), then the lines change: a crash in between is finished by the next
// apply (the entry still has the old id, the walk re-owns what is left).
struct ModifyAccount {
  static constexpr std::string_view kName = "modify-account";
  std::string name;
  std::optional<uint32_t> uid, gid;
  std::optional<std::string> comment, home, shell, password_hash;
  std::optional<std::string> expires;  // shadow field 8 ("" = never)
  std::optional<bool> locked;
  std::optional<std::vector<std::string>> groups;
  std::optional<Reown> reown;
  void fields(JsonObject& o) const {
    o.set("name", name);
    if (uid) o.set("uid", *uid);
    if (gid) o.set("gid", *gid);
    if (expires) o.set("expires", *expires);
    if (reown) reown->fields(o);
    if (comment) o.set("comment", *comment);
    if (home) o.set("home", *home);
    if (shell) o.set("shell", *shell);
    if (password_hash) o.set("password_hash", "(secret)");
    if (locked) o.set("locked", *locked);
    if (groups) o.set("groups", *groups);
  }
};

// Removes the account's lines and its group memberships, and (when `own_group`, as userdel does) the group
// of its name if that is its primary group, has no members and is no other account's primary group. Its
// home stays unless `remove_home` (then the home directory `home`, owned by `uid`, goes first, as userdel -r).
struct RemoveAccount {
  static constexpr std::string_view kName = "remove-account";
  std::string name;
  bool own_group = true;
  bool remove_home = false;
  std::string home;
  uint32_t uid = 0;
  void fields(JsonObject& o) const {
    o.set("name", name).set("own_group", own_group);
    if (remove_home) o.set("remove_home", home);
  }
};

// ~/.ssh/authorized_keys holds exactly `keys`; ~/.ssh 0700 and the file 0600, owned by the account.
struct WriteKeys {
  static constexpr std::string_view kName = "write-keys";
  std::string name;
  std::string home;
  uint32_t uid = 0, gid = 0;
  std::vector<std::string> keys;
  void fields(JsonObject& o) const {
    o.set("name", name).set("home", home).set("uid", uid).set("gid", gid).set("keys", keys);
  }
};

using Ops = std::variant<CreateGroup, ChangeGroupId, SetMembers, RemoveGroup, CreateAccount, ModifyAccount,
                         RemoveAccount, WriteKeys>;

}  // namespace opdbus::users
