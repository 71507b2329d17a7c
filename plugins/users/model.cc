#include "users/model.h"

#include <algorithm>
#include <cstdio>

#include "text.h"

namespace opdbus::users {
namespace {

std::optional<uint32_t> opt_id(const JsonValue& o, std::string_view key) {
  const JsonValue* v = member(o, key);
  if (!v || !v->IsUint()) return std::nullopt;
  return v->GetUint();
}

std::set<std::string> string_set(const JsonValue& o, std::string_view key) {
  auto v = get_strings(o, key);
  return {v.begin(), v.end()};
}

}  // namespace

Section parse_section(const JsonValue& section) {
  Section s;
  if (!section.IsObject()) return s;
  if (const JsonValue* accounts = member(section, "accounts"); accounts && accounts->IsObject()) {
    for (auto it = accounts->MemberBegin(); it != accounts->MemberEnd(); ++it) {
      if (!it->value.IsObject()) continue;
      const JsonValue& o = it->value;
      AccountSpec a;
      a.name = it->name.GetString();
      a.absent = get_string(o, "state") == "absent";
      a.uid = opt_id(o, "uid");
      a.gid = opt_id(o, "gid");
      a.shell = opt_string(o, "shell");
      a.home = opt_string(o, "home");
      a.comment = opt_string(o, "comment");
      a.password_hash = opt_string(o, "password_hash");
      a.groups = opt_strings(o, "groups");
      a.keys = opt_strings(o, "ssh_authorized_keys");
      a.expires = opt_string(o, "expires");
      a.system = get_bool(o, "system");
      a.remove_home = get_bool(o, "remove_home");
      a.create_home = opt_bool(o, "create_home");
      a.locked = opt_bool(o, "locked");
      s.accounts[a.name] = std::move(a);
    }
  }
  if (const JsonValue* groups = member(section, "groups"); groups && groups->IsObject()) {
    for (auto it = groups->MemberBegin(); it != groups->MemberEnd(); ++it) {
      if (!it->value.IsObject()) continue;
      GroupSpec g;
      g.name = it->name.GetString();
      g.absent = get_string(it->value, "state") == "absent";
      g.gid = opt_id(it->value, "gid");
      g.members = opt_strings(it->value, "members");
      s.groups[g.name] = std::move(g);
    }
  }
  if (const JsonValue* t = member(section, kTargetKey); t && t->IsObject()) {
    s.target.missing_shells = string_set(*t, "missing_shells");
    s.target.unsafe_ssh = string_set(*t, "unsafe_ssh");
    s.target.irregular_keys = string_set(*t, "irregular_keys");
    s.target.foreign_homes = string_set(*t, "foreign_homes");
    if (const JsonValue* r = member(*t, "ranges"); r && r->IsObject()) {
      auto get = [&](const char* k, uint32_t& v) {
        if (auto x = opt_id(*r, k)) v = *x;
      };
      Ranges& g = s.target.ranges;
      get("UID_MIN", g.uid_min), get("UID_MAX", g.uid_max), get("SYS_UID_MIN", g.sys_uid_min);
      get("SYS_UID_MAX", g.sys_uid_max), get("GID_MIN", g.gid_min), get("GID_MAX", g.gid_max);
      get("SYS_GID_MIN", g.sys_gid_min), get("SYS_GID_MAX", g.sys_gid_max);
    }
  }
  return s;
}

Db::Db(std::string_view text, size_t fields) {
  for (auto& line : split(text, '\n')) {
    DbLine l;
    l.raw = line;
    auto f = split(line, ':');
    if (f.size() == fields && !f[0].empty() && f[0][0] != '#' && f[0][0] != '+' && f[0][0] != '-') {
      l.fields = std::move(f);
    }
    lines_.push_back(std::move(l));
  }
  // split() of "a\nb\n" ends with an empty piece: the final newline, not a line.
  if (!lines_.empty() && lines_.back().fields.empty() && lines_.back().raw.empty()) lines_.pop_back();
}

std::string Db::text() const {
  std::string out;
  for (const auto& l : lines_) {
    out += l.fields.empty() ? l.raw : join(l.fields, ":");
    out += '\n';
  }
  return out;
}

DbLine* Db::find(std::string_view name) {
  for (auto& l : lines_)
    if (!l.fields.empty() && l.name() == name) return &l;
  return nullptr;
}

const DbLine* Db::find(std::string_view name) const {
  return const_cast<Db*>(this)->find(name);
}

void Db::put(std::vector<std::string> fields) {
  if (DbLine* l = find(fields.at(0))) {
    l->fields = std::move(fields);
    return;
  }
  DbLine l;
  l.fields = std::move(fields);
  lines_.push_back(std::move(l));
}

bool Db::erase(std::string_view name) {
  auto it = std::find_if(lines_.begin(), lines_.end(),
                         [&](const DbLine& l) { return !l.fields.empty() && l.name() == name; });
  if (it == lines_.end()) return false;
  lines_.erase(it);
  return true;
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
std::optional<long> date_to_days(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (date[i] < '0' || date[i] > '9') return std::nullopt;
  auto num = [&](size_t from, size_t len) {
    long v = 0;
    for (size_t i = from; i < from + len; ++i) v = v * 10 + (date[i] - '0');
    return v;
  };
  long y = num(0, 4), m = num(5, 2), d = num(8, 2);
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1] + (m == 2 && leap ? 1 : 0))
    return std::nullopt;
  y -= m <= 2;
  long era = y / 400;
  long yoe = y - era * 400;
  long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::string days_to_date(long days) {
  long z = days + 719468;
  long era = (z >= 0 ? z : z - 146096) / 146097;
  long doe = z - era * 146097;
  long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long y = yoe + era * 400;
  long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long mp = (5 * doy + 2) / 153;
  long d = doy - (153 * mp + 2) / 5 + 1;
  long m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04ld-%02ld-%02ld", y, m, d);
  return buf;
}

std::string expires_field(std::string_view expires) {
  auto days = date_to_days(expires);
  return days ? std::to_string(*days) : std::string();
}

std::vector<std::string> split_members(std::string_view field) {
  std::vector<std::string> out;
  if (field.empty()) return out;
  for (auto& m : split(field, ','))
    if (!m.empty()) out.push_back(m);
  return out;
}

Ranges parse_login_defs(std::string_view text) {
  Ranges r;
  std::map<std::string, uint32_t*> keys = {
      {"UID_MIN", &r.uid_min},         {"UID_MAX", &r.uid_max},         {"SYS_UID_MIN", &r.sys_uid_min},
      {"SYS_UID_MAX", &r.sys_uid_max}, {"GID_MIN", &r.gid_min},         {"GID_MAX", &r.gid_max},
      {"SYS_GID_MIN", &r.sys_gid_min}, {"SYS_GID_MAX", &r.sys_gid_max},
  };
  for (auto& raw : split(text, '\n')) {
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find_first_of(" \t");
    if (sp == std::string::npos) continue;
    auto it = keys.find(line.substr(0, sp));
    if (it == keys.end()) continue;
    std::string value = trim(line.substr(sp));
    if (value.empty() || value.size() > 10 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    uint64_t v = std::stoull(value);
    if (v <= 4294967294u) *it->second = static_cast<uint32_t>(v);
  }
  return r;
}

}  // namespace opdbus::users
