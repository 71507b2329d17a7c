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
  void fields(JsonObject& o) const {
    o.set("name", name).set("uid", uid).set("gid", gid).set("own_group", own_group).set("comment", comment);
    o.set("home", home).set("shell", shell).set("locked", locked).set("groups", groups);
    o.set("create_home", create_home).set("system", system);
    if (password_hash) o.set("password_hash", "(secret)");
  }
};

// Changes the fields that are set; `groups` is then the complete list of supplementary groups.
struct ModifyAccount {
  static constexpr std::string_view kName = "modify-account";
  std::string name;
  std::optional<uint32_t> gid;
  std::optional<std::string> comment, home, shell, password_hash;
  std::optional<bool> locked;
  std::optional<std::vector<std::string>> groups;
  void fields(JsonObject& o) const {
    o.set("name", name);
    if (gid) o.set("gid", *gid);
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
// home stays.
struct RemoveAccount {
  static constexpr std::string_view kName = "remove-account";
  std::string name;
  bool own_group = true;
  void fields(JsonObject& o) const { o.set("name", name).set("own_group", own_group); }
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

using Ops = std::variant<CreateGroup, RemoveGroup, CreateAccount, ModifyAccount, RemoveAccount, WriteKeys>;

}  // namespace opdbus::users
