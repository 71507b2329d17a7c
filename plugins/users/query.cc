#include "users/query.h"

#include <algorithm>

#include "error.h"
#include "text.h"

namespace opdbus::users {
namespace {

uint32_t id_of(const std::string& field) {
  try {
    size_t used = 0;
    unsigned long long v = std::stoull(field, &used);
    if (used == field.size() && v <= 4294967295ull) return static_cast<uint32_t>(v);
  } catch (const std::exception&) {
  }
  return 4294967295u;
}

std::optional<std::vector<std::string>> read_keys(const sys::RootDir& root, const std::string& home) {
  auto text = root.read_file(home + "/.ssh/authorized_keys");
  if (!text) return std::nullopt;
  std::vector<std::string> keys;
  for (auto& line : split(*text, '\n'))
    if (!trim(line).empty()) keys.push_back(line);
  return keys;
}

}  // namespace

Databases read_databases(const sys::RootDir& root) {
  Databases d;
  auto passwd = root.read_file("/etc/passwd");
  if (!passwd) throw Error(ErrorKind::Unavailable, "no /etc/passwd under " + root.path().string());
  d.passwd = Db(*passwd, 7);
  if (auto t = root.read_file("/etc/shadow")) d.shadow = Db(*t, 9), d.has_shadow = true;
  if (auto t = root.read_file("/etc/group")) d.group = Db(*t, 4);
  if (auto t = root.read_file("/etc/gshadow")) d.gshadow = Db(*t, 4), d.has_gshadow = true;
  return d;
}

JsonDoc query_section(Backend& backend, const JsonValue* desired) {
  const sys::RootDir& root = backend.root();
  Databases db = read_databases(root);
  Ranges ranges = parse_login_defs(root.read_file("/etc/login.defs").value_or(""));
  Section want;
  if (desired) want = parse_section(*desired);

  JsonDoc out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  JsonValue accounts(rapidjson::kObjectType), groups(rapidjson::kObjectType);

  for (const auto& l : db.group.lines()) {
    if (l.fields.empty()) continue;
    uint32_t gid = id_of(l.fields[2]);
    if (!desired && (gid < ranges.gid_min || gid > ranges.gid_max)) continue;
    JsonValue g(rapidjson::kObjectType);
    g.AddMember("gid", JsonValue(gid), a);
    if (desired) {  // for diff (members); `show` lists memberships under the accounts only
      JsonValue members(rapidjson::kArrayType);
      for (auto& m : split_members(l.fields[3])) members.PushBack(str_value(m, a), a);
      g.AddMember("members", members, a);
    }
    groups.AddMember(str_value(l.name(), a), g, a);
  }

  for (const auto& l : db.passwd.lines()) {
    if (l.fields.empty()) continue;
    const std::string& name = l.name();
    uint32_t uid = id_of(l.fields[2]);
    auto w = want.accounts.find(name);
    const AccountSpec* spec = w == want.accounts.end() ? nullptr : &w->second;
    if (!desired && (uid < ranges.uid_min || uid > ranges.uid_max)) continue;
    JsonValue o(rapidjson::kObjectType);
    o.AddMember("uid", JsonValue(uid), a);
    o.AddMember("gid", JsonValue(id_of(l.fields[3])), a);
    o.AddMember("comment", str_value(l.fields[4], a), a);
    o.AddMember("home", str_value(l.fields[5], a), a);
    o.AddMember("shell", str_value(l.fields[6], a), a);
    JsonValue member_of(rapidjson::kArrayType);
    for (const auto& g : db.group.lines()) {
      if (g.fields.empty()) continue;
      for (auto& m : split_members(g.fields[3]))
        if (m == name) member_of.PushBack(str_value(g.name(), a), a);
    }
    o.AddMember("groups", member_of, a);
    if (const DbLine* s = db.shadow.find(name)) {
      const std::string& pw = s->fields[1];
      o.AddMember("locked", JsonValue(starts_with(pw, "!")), a);
      std::string hash = starts_with(pw, "!") ? pw.substr(1) : pw;
      if (spec && spec->password_hash && !hash.empty() && hash != "*")
        o.AddMember("password_hash", str_value(hash, a), a);
      const std::string& exp = s->fields[7];
      if (!exp.empty() && exp.size() < 10 &&
          std::all_of(exp.begin(), exp.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        o.AddMember("expires", str_value(days_to_date(std::stol(exp)), a), a);
      }
    }
    if (!desired || (spec && spec->keys)) {
      auto keys = read_keys(root, l.fields[5]);
      if (keys || desired) {
        JsonValue arr(rapidjson::kArrayType);
        for (auto& k : keys.value_or(std::vector<std::string>{})) arr.PushBack(str_value(k, a), a);
        o.AddMember("ssh_authorized_keys", arr, a);
      }
    }
    accounts.AddMember(str_value(name, a), o, a);
  }

  out.AddMember("accounts", accounts, a);
  out.AddMember("groups", groups, a);
  if (!desired) return out;

  // What diff needs to know about the target besides the section.
  JsonValue target(rapidjson::kObjectType), missing(rapidjson::kArrayType), unsafe(rapidjson::kArrayType);
  JsonValue irregular(rapidjson::kArrayType);
  std::set<std::string> shells;
  for (const auto& [name, spec] : want.accounts) {
    if (spec.absent) continue;
    const DbLine* cur = db.passwd.find(name);
    if (spec.shell) shells.insert(*spec.shell);
    if (!cur) shells.insert(std::string(kDefaultShell));
    if (spec.keys) {
      std::string home = spec.home ? *spec.home : cur ? cur->fields[5] : "/home/" + name;
      auto st = root.lstat(home + "/.ssh");
      auto home_st = root.lstat(home);
      if ((st && st->kind != sys::FileKind::Directory) ||
          (home_st && home_st->kind != sys::FileKind::Directory)) {
        unsafe.PushBack(str_value(name, a), a);
      }
      auto keys_st = root.lstat(home + "/.ssh/authorized_keys");
      if (keys_st && keys_st->kind != sys::FileKind::File) irregular.PushBack(str_value(name, a), a);
    }
  }
  JsonValue foreign(rapidjson::kArrayType);
  for (const auto& [name, spec] : want.accounts) {
    const DbLine* cur = db.passwd.find(name);
    if (!spec.absent || !spec.remove_home || !cur) continue;
    auto st = root.lstat(cur->fields[5]);
    if (st && (st->kind != sys::FileKind::Directory || st->uid != id_of(cur->fields[2])))
      foreign.PushBack(str_value(name, a), a);
  }
  for (const auto& shell : shells) {
    if (!path_problem(shell).empty()) continue;
    auto st = root.stat(shell);
    if (!st || st->kind != sys::FileKind::File || (st->mode & 0111) == 0)
      missing.PushBack(str_value(shell, a), a);
  }
  JsonValue r(rapidjson::kObjectType);
  r.AddMember("UID_MIN", JsonValue(ranges.uid_min), a).AddMember("UID_MAX", JsonValue(ranges.uid_max), a);
  r.AddMember("SYS_UID_MIN", JsonValue(ranges.sys_uid_min), a);
  r.AddMember("SYS_UID_MAX", JsonValue(ranges.sys_uid_max), a);
  r.AddMember("GID_MIN", JsonValue(ranges.gid_min), a).AddMember("GID_MAX", JsonValue(ranges.gid_max), a);
  r.AddMember("SYS_GID_MIN", JsonValue(ranges.sys_gid_min), a);
  r.AddMember("SYS_GID_MAX", JsonValue(ranges.sys_gid_max), a);
  target.AddMember("ranges", r, a);
  target.AddMember("missing_shells", missing, a);
  target.AddMember("unsafe_ssh", unsafe, a);
  target.AddMember("irregular_keys", irregular, a);
  target.AddMember("foreign_homes", foreign, a);
  out.AddMember(str_value(kTargetKey, a), target, a);
  return out;
}

}  // namespace opdbus::users
