// The users plugin, issue 9's second part: a uid or gid change of an existing account or group (the entry
// changes and the home is re-owned: files of the old id only, never through a symlink), "expires" (shadow
// field 8), "remove_home" with "state": "absent", and group "members" (the complete list; a contradiction
// with an account's "groups" is refused by check()).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "error.h"
#include "json.h"
#include "users/apply.h"
#include "users/diff.h"
#include "users/model.h"
#include "users/ops.h"
#include "users/query.h"

using namespace opdbus;
using namespace opdbus::users;
namespace fs = std::filesystem;

namespace {

std::string check(const std::string& section) {
  JsonDoc d = parse_json(section);
  Diagnostics out;
  check_section(d, "s.json", "/plugins/users", out);
  std::string all;
  for (const auto& x : out) all += x.format() + "\n";
  return all;
}

struct TempRoot {
  fs::path path;
  explicit TempRoot(const char* tag = "users-ids-test") {
    std::string tmpl = std::string("/tmp/") + tag + "-XXXXXX";
    path = ::mkdtemp(tmpl.data());
    fs::create_directories(path / "etc/skel");
    fs::create_directories(path / "bin");
    write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    write("etc/shadow", "root:*:19000:0:99999:7:::\n");
    write("etc/group", "root:x:0:\n");
    write("etc/gshadow", "root:*::\n");
    ::chmod((path / "etc/shadow").c_str(), 0640);
    write("etc/skel/.profile", "echo hi\n");
    write("bin/sh", "#!/bin/sh\n");
    ::chmod((path / "bin/sh").c_str(), 0755);
  }
  ~TempRoot() { fs::remove_all(path); }
  void write(const std::string& rel, const std::string& text) { std::ofstream(path / rel) << text; }
  std::string read(const std::string& rel) {
    std::ifstream f(path / rel);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  struct stat lst(const std::string& rel) {
    struct stat st {};
    REQUIRE(::lstat((path / rel).c_str(), &st) == 0);
    return st;
  }
};

// query -> diff -> apply every action, as the engine does.
std::vector<Action> converge(const fs::path& root, const std::string& desired) {
  auto backend = make_root_backend(root);
  JsonDoc d = parse_json(desired);
  JsonDoc cur = query_section(*backend, &d);
  auto actions = diff_section(d, cur);
  for (const auto& a : actions) apply_action(*backend, a);
  return actions;
}

std::string plan_error(const fs::path& root, const std::string& desired) {
  auto backend = make_root_backend(root);
  JsonDoc d = parse_json(desired);
  JsonDoc cur = query_section(*backend, &d);
  try {
    diff_section(d, cur);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Field `i` (0-based) of NAME's line in a database file.
std::string field_of(const std::string& text, const std::string& name, size_t i) {
  size_t at = text.find("\n" + name + ":");
  if (at == std::string::npos) return "(no line)";
  std::string line = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  std::vector<std::string> f;
  size_t from = 0;
  for (size_t c; (c = line.find(':', from)) != std::string::npos; from = c + 1)
    f.push_back(line.substr(from, c - from));
  f.push_back(line.substr(from));
  return i < f.size() ? f[i] : "(no field)";
}

std::string summaries(const std::vector<Action>& actions) {
  std::string out;
  for (const auto& a : actions) out += a.summary + "\n";
  return out;
}

}  // namespace

TEST_CASE("dates convert to shadow's day numbers and back", "[users][model]") {
  CHECK(date_to_days("1970-01-01") == 0);
  CHECK(date_to_days("2000-03-01") == 11017);
  CHECK(date_to_days("2024-02-29") == 19782);
  CHECK(days_to_date(19782) == "2024-02-29");
  CHECK(days_to_date(0) == "1970-01-01");
  for (long d : {1L, 59L, 365L, 10957L, 20000L, 47482L}) CHECK(date_to_days(days_to_date(d)) == d);
  CHECK_FALSE(date_to_days("2023-02-29"));
  CHECK_FALSE(date_to_days("1969-12-31"));
  CHECK_FALSE(date_to_days("2030-13-01"));
  CHECK_FALSE(date_to_days("2030-1-01"));
  CHECK(expires_field("never") == "");
  CHECK(expires_field("1970-01-11") == "10");
}

TEST_CASE("check refuses bad dates, remove_home without absent and members contradicting groups",
          "[users][check]") {
  std::string out = check(R"({"accounts": {
      "a": {"expires": "2023-02-29"}, "b": {"remove_home": true}, "c": {"groups": ["devs"]},
      "d": {"groups": []}, "gone": {"state": "absent", "remove_home": true}},
      "groups": {"devs": {"members": ["c", "d", "gone", "c"]}, "ops": {"members": ["e"]},
                 "old": {"state": "absent", "members": ["e"]}}})");
  CHECK(out.find("/plugins/users/accounts/a/expires: expected a date YYYY-MM-DD") != std::string::npos);
  CHECK(out.find("/plugins/users/accounts/b/remove_home: only with \"state\": \"absent\"") !=
        std::string::npos);
  CHECK(
      out.find("/plugins/users/groups/devs/members/1: account \"d\" is a member here, but its \"groups\"") !=
      std::string::npos);
  CHECK(out.find("/plugins/users/groups/devs/members/2: account \"gone\" is declared absent") !=
        std::string::npos);
  CHECK(out.find("/plugins/users/groups/devs/members/3: account \"c\" is listed twice") != std::string::npos);
  CHECK(out.find("/plugins/users/groups/old/members/0: group \"old\" is declared absent") !=
        std::string::npos);
  CHECK(out.find("members/0: account \"c\"") == std::string::npos);  // c agrees on both sides
  CHECK(out.find("groups/ops/members") == std::string::npos);        // e declares no groups: members decide
  // The other side: an account listing a group whose members leave it out.
  std::string out2 = check(R"({"accounts": {"e": {"groups": ["ops"]}}, "groups": {"ops": {"members": []}}})");
  CHECK(out2.find(
            "/plugins/users/accounts/e/groups/0: group \"ops\"'s \"members\" (the complete list) does not "
            "name \"e\"") != std::string::npos);
  CHECK(check(R"({"accounts": {"e": {"expires": "never"}, "f": {"expires": "2030-01-31"}}})").empty());
}

TEST_CASE("a new uid re-owns the home's files of the old uid only, never through a symlink",
          "[users][apply]") {
  TempRoot t;
  TempRoot outside("users-ids-outside");
  converge(t.path, R"({"accounts": {"alice": {"uid": 1500, "shell": "/bin/sh"}}})");
  REQUIRE(t.lst("home/alice").st_uid == 1500);
  fs::create_directories(t.path / "home/alice/deep/er");
  t.write("home/alice/deep/er/f", "x\n");
  ::lchown((t.path / "home/alice/deep").c_str(), 1500, 1500);
  ::lchown((t.path / "home/alice/deep/er").c_str(), 1500, 1500);
  ::lchown((t.path / "home/alice/deep/er/f").c_str(), 1500, 1500);
  t.write("home/alice/roots", "r\n");  // someone else's file in the home stays theirs
  ::chown((t.path / "home/alice/roots").c_str(), 0, 0);
  t.write("home/alice/tool", "#!/bin/sh\n");  // a set-uid file keeps its mode
  ::chown((t.path / "home/alice/tool").c_str(), 1500, 1500);
  ::chmod((t.path / "home/alice/tool").c_str(), 04755);
  outside.write("precious", "p\n");
  ::chown((outside.path / "precious").c_str(), 1500, 1500);
  fs::create_symlink(outside.path / "precious", t.path / "home/alice/link-out");
  fs::create_directory_symlink(outside.path, t.path / "home/alice/dir-out");
  ::lchown((t.path / "home/alice/link-out").c_str(), 1500, 1500);

  std::string doc = R"({"accounts": {"alice": {"uid": 1600}}})";
  auto actions = converge(t.path, doc);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].summary == "modify account alice (re-own its files in /home/alice)");
  CHECK(actions[0].changes.at(0).path == "uid");
  CHECK(t.read("etc/passwd").find("\nalice:x:1600:1500::/home/alice:/bin/sh\n") != std::string::npos);
  for (auto rel : {"home/alice", "home/alice/.profile", "home/alice/deep", "home/alice/deep/er",
                   "home/alice/deep/er/f", "home/alice/link-out", "home/alice/tool"}) {
    INFO(rel);
    CHECK(t.lst(rel).st_uid == 1600);
    CHECK(t.lst(rel).st_gid == 1500);
  }
  CHECK((t.lst("home/alice/tool").st_mode & 07777) == 04755);
  CHECK(t.lst("home/alice/roots").st_uid == 0);
  CHECK(outside.lst("precious").st_uid == 1500);  // the link was re-owned, not what it points to
  CHECK(outside.lst(".").st_uid == 0);
  CHECK(converge(t.path, doc).empty());
}

TEST_CASE("a new gid of a group moves its accounts and re-owns their homes' files of that gid",
          "[users][apply]") {
  TempRoot t;
  converge(t.path, R"({"groups": {"devs": {"gid": 2000}},
      "accounts": {"alice": {"uid": 1500, "gid": 2000, "shell": "/bin/sh"}, "bob": {"uid": 1501, "shell": "/bin/sh"}}})");
  REQUIRE(t.lst("home/alice/.profile").st_gid == 2000);
  std::string doc = R"({"groups": {"devs": {"gid": 2100}}, "accounts": {"alice": {"gid": 2100}}})";
  auto actions = converge(t.path, doc);
  REQUIRE(actions.size() == 1);  // alice follows her group: no change of her own
  CHECK(actions[0].summary == "change the gid of group devs (2000 -> 2100), re-own its files in /home/alice");
  CHECK(t.read("etc/group").find("\ndevs:x:2100:\n") != std::string::npos);
  CHECK(t.read("etc/passwd").find("\nalice:x:1500:2100:") != std::string::npos);
  CHECK(t.lst("home/alice/.profile").st_gid == 2100);
  CHECK(t.lst("home/bob/.profile").st_gid == 1501);
  CHECK(converge(t.path, doc).empty());

  // An account moved to another primary group: files of the old primary group follow (usermod -g).
  auto moved = converge(t.path, R"({"accounts": {"bob": {"gid": 2100}}})");
  REQUIRE(moved.size() == 1);
  CHECK(t.read("etc/passwd").find("\nbob:x:1501:2100:") != std::string::npos);
  CHECK(t.lst("home/bob/.profile").st_gid == 2100);
  // A gid taken by another group is a plan error.
  CHECK(plan_error(t.path, R"({"groups": {"devs": {"gid": 1501}}})")
            .find("gid 1501 is taken by group \"bob\"") != std::string::npos);
}

TEST_CASE("expires is shadow's field 8 and round-trips", "[users][apply]") {
  TempRoot t;
  std::string doc = R"({"accounts": {"alice": {"shell": "/bin/sh", "expires": "2030-01-31"}}})";
  converge(t.path, doc);
  CHECK(field_of(t.read("etc/shadow"), "alice", 7) == std::to_string(*date_to_days("2030-01-31")));
  CHECK(converge(t.path, doc).empty());
  auto backend = make_root_backend(t.path);
  JsonDoc shown = query_section(*backend, nullptr);
  CHECK(get_string(*member(*member(shown, "accounts"), "alice"), "expires") == "2030-01-31");
  auto cleared = converge(t.path, R"({"accounts": {"alice": {"expires": "never"}}})");
  REQUIRE(cleared.size() == 1);
  CHECK(cleared[0].changes.at(0).path == "expires");
  CHECK(field_of(t.read("etc/shadow"), "alice", 7) == "");
  CHECK(field_of(t.read("etc/shadow"), "alice", 1) == "!");
  CHECK(converge(t.path, R"({"accounts": {"alice": {"expires": "never"}}})").empty());
}

TEST_CASE("group members are the complete list", "[users][apply]") {
  TempRoot t;
  std::string doc = R"({"groups": {"devs": {"members": ["bob", "alice"]}},
      "accounts": {"alice": {"shell": "/bin/sh"}, "bob": {"shell": "/bin/sh"}, "carol": {"shell": "/bin/sh"}}})";
  auto actions = converge(t.path, doc);
  CHECK(summaries(actions).find("set the members of group devs") != std::string::npos);
  CHECK(t.read("etc/group").find("\ndevs:x:1000:bob,alice\n") != std::string::npos);
  CHECK(t.read("etc/gshadow").find("\ndevs:!::bob,alice\n") != std::string::npos);
  CHECK(converge(t.path, doc).empty());
  // carol added by hand is taken out again
  std::string g = t.read("etc/group");
  g.replace(g.find("bob,alice"), 9, "bob,alice,carol");
  t.write("etc/group", g);
  auto fixed = converge(t.path, doc);
  REQUIRE(fixed.size() == 1);
  CHECK(fixed[0].changes.at(0).path == "members");
  CHECK(t.read("etc/group").find("\ndevs:x:1000:bob,alice\n") != std::string::npos);
  CHECK(plan_error(t.path, R"({"groups": {"devs": {"members": ["zed"]}}})")
            .find("member \"zed\" is not an account and is not declared") != std::string::npos);
}

TEST_CASE("remove_home removes the home the account owns; a symlinked or shared one is refused",
          "[users][apply]") {
  TempRoot t;
  TempRoot outside("users-ids-outside");
  outside.write("keep", "k\n");
  converge(t.path, R"({"accounts": {"alice": {"shell": "/bin/sh"}, "bob": {"shell": "/bin/sh"},
      "carol": {"shell": "/bin/sh", "home": "/srv/carol"}, "dave": {"shell": "/bin/sh", "home": "/srv/carol/dave"},
      "root2": {"shell": "/bin/sh", "home": "/", "create_home": false}}})");
  fs::create_directory_symlink(outside.path, t.path / "home/alice/out");

  auto removed = converge(t.path, R"({"accounts": {"alice": {"state": "absent", "remove_home": true}}})");
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].summary == "remove account alice and its home /home/alice");
  CHECK(removed[0].destructive);
  CHECK_FALSE(fs::exists(fs::symlink_status(t.path / "home/alice")));
  CHECK(outside.read("keep") == "k\n");
  CHECK(t.read("etc/passwd").find("alice") == std::string::npos);

  // bob's home replaced by a symlink out of the tree: refused, nothing removed
  fs::remove_all(t.path / "home/bob");
  fs::create_directory_symlink(outside.path, t.path / "home/bob");
  CHECK(plan_error(t.path, R"({"accounts": {"bob": {"state": "absent", "remove_home": true}}})")
            .find("not a directory it owns") != std::string::npos);
  CHECK(plan_error(t.path, R"({"accounts": {"carol": {"state": "absent", "remove_home": true}}})")
            .find("holds the home of account \"dave\"") != std::string::npos);
  CHECK(plan_error(t.path, R"({"accounts": {"root2": {"state": "absent", "remove_home": true}}})")
            .find("at least two components") != std::string::npos);
  // apply alone (a plan made before the symlink appeared) refuses too
  auto backend = make_root_backend(t.path);
  Action a;
  a.plugin = "users";
  a.item = {"accounts", "bob"};
  RemoveAccount op;
  op.name = "bob", op.remove_home = true, op.home = "/home/bob", op.uid = 1001;
  a.operation = make_operation<Ops>(op);
  CHECK_THROWS_WITH(apply_action(*backend, a), Catch::Contains("refusing to remove it"));
  CHECK(outside.read("keep") == "k\n");
  CHECK(t.read("etc/passwd").find("\nbob:") != std::string::npos);
}
