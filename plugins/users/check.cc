// Semantic validation of the users section: everything that becomes a database line, a path or a line of
// authorized_keys is checked here (and, where a pattern can say it, in schemas/v1/users.schema.json).
#include <algorithm>
#include <map>

#include "text.h"
#include "users/model.h"

namespace opdbus::users {
namespace {

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// Standard base64 (with padding); false if `in` is not that.
bool base64_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.empty() || in.size() % 4 != 0) return false;
  out.clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=') {
        if (i + 4 != in.size() || k < 2) return false;
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return false;
        v[k] = value(c);
        if (v[k] < 0) return false;
      }
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return true;
}

const std::vector<std::string_view> kKeyTypes = {
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};

}  // namespace

std::string name_problem(std::string_view name) {
  const std::string expected =
      "a name of 1-32 bytes: a lower-case letter or '_', then lower-case letters, digits, '_' or '-', "
      "optionally ending in '$'";
  if (name.empty() || name.size() > 32) return expected;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
              (i > 0 && ((c >= '0' && c <= '9') || c == '-' || (c == '$' && i + 1 == name.size())));
    if (!ok) return expected;
  }
  return "";
}

std::string field_problem(std::string_view value) {
  for (unsigned char c : value)
    if (c == ':' || is_control(c)) return "a value without ':' or control characters (newline, tab, ...)";
  return "";
}

std::string path_problem(std::string_view path) {
  if (path.empty() || path[0] != '/') return "an absolute path";
  if (auto p = field_problem(path); !p.empty()) return "an absolute path without ':' or control characters";
  for (auto& part : split(path.substr(1), '/'))
    if (part == "." || part == "..") return "an absolute path without \".\" or \"..\" components";
  return "";
}

std::string key_problem(std::string_view key) {
  const std::string expected = "one OpenSSH public key: TYPE BASE64 [COMMENT] (no options, one line)";
  for (unsigned char c : key)
    if (is_control(c)) return expected;
  auto parts = split(key, ' ');
  if (parts.size() < 2) return expected;
  if (std::find(kKeyTypes.begin(), kKeyTypes.end(), parts[0]) == kKeyTypes.end()) return expected;
  std::string blob;
  if (!base64_decode(parts[1], blob) || blob.size() < 4) return expected;
  uint32_t n = (uint32_t(uint8_t(blob[0])) << 24) | (uint32_t(uint8_t(blob[1])) << 16) |
               (uint32_t(uint8_t(blob[2])) << 8) | uint32_t(uint8_t(blob[3]));
  if (n != parts[0].size() || blob.size() < 4 + n || blob.compare(4, n, parts[0]) != 0)
    return expected + " whose blob names the same type";
  return "";
}

std::string hash_problem(std::string_view hash) {
  const std::string expected =
      "a crypt(3) hash (letters, digits and . / $ = , + -; lock with \"locked\", not '!' or '*')";
  if (hash.empty() || hash.size() > 1024) return expected;
  for (char c : hash) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '/' || c == '$' || c == '=' || c == ',' || c == '+' || c == '-';
    if (!ok) return expected;
  }
  return "";
}

std::string expires_problem(std::string_view date) {
  if (date == "never" || date_to_days(date)) return "";
  return "a date YYYY-MM-DD from 1970-01-01 on (the day the account is disabled, as useradd -e), or "
         "\"never\"";
}

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out) {
  SectionReport report(file, section_pointer, out);
  if (!section.IsObject()) return;
  if (member(section, kTargetKey)) report.problem({std::string(kTargetKey)}, "reserved for op-dbus itself");
  Section s = parse_section(section);

  std::map<uint32_t, std::string> gids;
  for (const auto& [name, g] : s.groups) {
    if (auto p = name_problem(name); !p.empty()) report.expected({"groups", name}, p, json_quoted(name));
    if (g.members) {
      std::set<std::string> seen;
      for (size_t i = 0; i < g.members->size(); ++i) {
        const std::string& m = (*g.members)[i];
        std::vector<std::string> t = {"groups", name, "members", std::to_string(i)};
        if (auto p = name_problem(m); !p.empty()) {
          report.expected(t, p, json_quoted(m));
        } else if (!seen.insert(m).second) {
          report.problem(t, "account " + json_quoted(m) + " is listed twice");
        } else if (g.absent) {
          report.problem(t, "group " + json_quoted(name) + " is declared absent and cannot have members");
        } else if (auto it = s.accounts.find(m); it != s.accounts.end() && it->second.absent) {
          report.problem(t, "account " + json_quoted(m) + " is declared absent");
        } else if (it != s.accounts.end() && it->second.groups) {
          // Both sides declared: they must say the same thing.
          const auto& ag = *it->second.groups;
          if (std::find(ag.begin(), ag.end(), name) == ag.end()) {
            report.problem(t, "account " + json_quoted(m) +
                                  " is a member here, but its \"groups\" (the complete "
                                  "list) does not name " +
                                  json_quoted(name));
          }
        }
      }
    }
    if (g.gid && !g.absent) {
      if (auto [it, fresh] = gids.emplace(*g.gid, name); !fresh) {
        report.problem({"groups", name, "gid"}, "gid " + std::to_string(*g.gid) +
                                                    " is also declared for group " + json_quoted(it->second));
      }
    }
  }

  std::map<uint32_t, std::string> uids;
  for (const auto& [name, a] : s.accounts) {
    std::vector<std::string> at = {"accounts", name};
    auto field = [&](const char* key) {
      auto t = at;
      t.push_back(key);
      return t;
    };
    if (auto p = name_problem(name); !p.empty()) report.expected(at, p, json_quoted(name));
    if (a.remove_home && !a.absent)
      report.problem(field("remove_home"), "only with \"state\": \"absent\" (the home of a removed account)");
    if (a.absent) continue;
    if (a.expires)
      if (auto p = expires_problem(*a.expires); !p.empty())
        report.expected(field("expires"), p, json_quoted(*a.expires));
    if (a.uid) {
      if (auto [it, fresh] = uids.emplace(*a.uid, name); !fresh) {
        report.problem(field("uid"), "uid " + std::to_string(*a.uid) + " is also declared for account " +
                                         json_quoted(it->second));
      }
    }
    if (a.shell)
      if (auto p = path_problem(*a.shell); !p.empty())
        report.expected(field("shell"), p, json_quoted(*a.shell));
    if (a.home)
      if (auto p = path_problem(*a.home); !p.empty()) report.expected(field("home"), p, json_quoted(*a.home));
    if (a.comment)
      if (auto p = field_problem(*a.comment); !p.empty())
        report.expected(field("comment"), p, json_quoted(*a.comment));
    // The hash itself is never echoed: it is a secret.
    if (a.password_hash)
      if (auto p = hash_problem(*a.password_hash); !p.empty())
        report.expected(field("password_hash"), p, "(secret)");
    if (a.groups) {
      std::set<std::string> seen;
      for (size_t i = 0; i < a.groups->size(); ++i) {
        const std::string& g = (*a.groups)[i];
        auto t = field("groups");
        t.push_back(std::to_string(i));
        if (auto p = name_problem(g); !p.empty()) {
          report.expected(t, p, json_quoted(g));
        } else if (!seen.insert(g).second) {
          report.problem(t, "group " + json_quoted(g) + " is listed twice");
        } else if (auto it = s.groups.find(g); it != s.groups.end() && it->second.absent) {
          report.problem(t, "group " + json_quoted(g) + " is declared absent");
        } else if (it != s.groups.end() && it->second.members) {
          const auto& gm = *it->second.members;
          if (std::find(gm.begin(), gm.end(), name) == gm.end()) {
            report.problem(t, "group " + json_quoted(g) +
                                  "'s \"members\" (the complete list) does not name " + json_quoted(name));
          }
        }
      }
    }
    if (a.keys) {
      for (size_t i = 0; i < a.keys->size(); ++i) {
        const std::string& k = (*a.keys)[i];
        auto t = field("ssh_authorized_keys");
        t.push_back(std::to_string(i));
        if (auto p = key_problem(k); !p.empty()) report.expected(t, p, json_quoted(k));
      }
    }
  }
}

}  // namespace opdbus::users
