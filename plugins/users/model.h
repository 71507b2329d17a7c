// The users section as typed values (docs/plugins/users.md), the account databases as lines, and the
// validation of every value that ends up in a database line, a path or authorized_keys.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostic.h"
#include "json.h"

namespace opdbus::users {

struct AccountSpec {
  std::string name;
  bool absent = false;
  std::optional<uint32_t> uid, gid;
  std::optional<std::string> shell, home, comment, password_hash;
  std::optional<std::vector<std::string>> groups;  // the complete list of supplementary groups
  std::optional<std::vector<std::string>> keys;    // ssh_authorized_keys, order kept
  std::optional<std::string> expires;              // "YYYY-MM-DD", or "never"
  bool system = false;
  bool remove_home = false;  // with "state": "absent"
  std::optional<bool> create_home, locked;
};

struct GroupSpec {
  std::string name;
  bool absent = false;
  std::optional<uint32_t> gid;
  std::optional<std::vector<std::string>> members;  // the complete list of supplementary members
};

// The id ranges of login.defs (Debian's defaults when the file does not say).
struct Ranges {
  uint32_t uid_min = 1000, uid_max = 60000, sys_uid_min = 100, sys_uid_max = 999;
  uint32_t gid_min = 1000, gid_max = 60000, sys_gid_min = 100, sys_gid_max = 999;
};

// What query() learns about the target besides the section itself (the "x-target" member of the current
// state handed to diff; never in `show`): login.defs ranges, desired shells that are missing, accounts whose
// ~/.ssh may not be written (a symlink or not a directory).
struct Target {
  Ranges ranges;
  std::set<std::string> missing_shells;
  std::set<std::string> unsafe_ssh;      // account names
  std::set<std::string> irregular_keys;  // accounts whose authorized_keys is a symlink or not a file
  std::set<std::string> foreign_homes;   // accounts to remove with their home, whose home is not a
                                         // directory they own (a symlink, a file, another owner)
};

struct Section {
  std::map<std::string, AccountSpec> accounts;
  std::map<std::string, GroupSpec> groups;
  Target target;
};

Section parse_section(const JsonValue& section);

inline constexpr std::string_view kDefaultShell = "/bin/sh";
inline constexpr std::string_view kTargetKey = "x-target";

// ---- validation rules (check.cc); each returns "" when the value is fine, else what was expected
std::string name_problem(std::string_view name);
std::string field_problem(std::string_view value);  // no ':' and no control characters
std::string path_problem(std::string_view path);    // absolute, field_problem, no "." or ".." components
std::string key_problem(std::string_view key);      // one OpenSSH public key: TYPE BASE64 [COMMENT]
std::string hash_problem(std::string_view hash);
std::string expires_problem(std::string_view date);  // "YYYY-MM-DD" (a real day from 1970-01-01) or "never"

// "YYYY-MM-DD" <-> days since 1970-01-01 (the unit of /etc/shadow's fields); nullopt if not a real date.
std::optional<long> date_to_days(std::string_view date);
std::string days_to_date(long days);
// The shadow field 8 for an "expires" value: "" for "never", else the day number.
std::string expires_field(std::string_view expires);

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out);

// ---- the databases (/etc/passwd, shadow, group, gshadow): lines split at ':'; a line that is not an entry
// (a comment, a NIS "+" line) is kept verbatim
struct DbLine {
  std::vector<std::string> fields;  // empty for a verbatim line
  std::string raw;
  const std::string& name() const { return fields.at(0); }
};

class Db {
 public:
  Db() = default;
  Db(std::string_view text, size_t fields);
  std::string text() const;
  DbLine* find(std::string_view name);
  const DbLine* find(std::string_view name) const;
  void put(std::vector<std::string> fields);  // replaces the entry of that name, or appends
  bool erase(std::string_view name);
  const std::vector<DbLine>& lines() const { return lines_; }
  std::vector<DbLine>& lines() { return lines_; }

 private:
  std::vector<DbLine> lines_;
};

std::vector<std::string> split_members(std::string_view field);  // "a,b" -> {a, b}
Ranges parse_login_defs(std::string_view text);

}  // namespace opdbus::users
