// The users plugin: the database lines, validation, the plan errors diff() throws, and apply into a
// temporary root (databases, homes from /etc/skel, authorized_keys, symlinks in a home, the lock).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "context.h"
#include "error.h"
#include "json.h"
#include "sys/rootdir.h"
#include "users/apply.h"
#include "users/diff.h"
#include "users/model.h"
#include "users/ops.h"
#include "users/plugin.h"
#include "users/query.h"

using namespace opdbus;
using namespace opdbus::users;
namespace fs = std::filesystem;

namespace {

const std::string kKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILY46FX+y/HoyoZRbojlMHzX0toqR3Z1kPjr4/1c6MVm alice@x";

std::string check(const std::string& section) {
  JsonDoc d = parse_json(section);
  Diagnostics out;
  check_section(d, "s.json", "/plugins/users", out);
  std::string all;
  for (const auto& x : out) all += x.format() + "\n";
  return all;
}

const std::string kTarget = R"("x-target": {"missing_shells": ["/bin/zsh"], "unsafe_ssh": ["eve"]})";
const std::string kCurrent =
    R"({"accounts": {"alice": {"uid": 1500, "gid": 1500, "shell": "/bin/bash", "home": "/home/alice",
        "comment": "", "groups": [], "locked": true},
        "bob": {"uid": 1501, "gid": 2000, "shell": "/bin/bash", "home": "/home/bob", "comment": "", "groups": [],
        "locked": true}},
       "groups": {"alice": {"gid": 1500}, "devs": {"gid": 2000}}, )" +
    kTarget + "}";

std::string plan_error(const std::string& desired) {
  JsonDoc d = parse_json(desired), c = parse_json(kCurrent);
  try {
    diff_section(d, c);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

struct TempRoot {
  fs::path path;
  TempRoot() {
    char tmpl[] = "/tmp/users-test-XXXXXX";
    path = ::mkdtemp(tmpl);
    fs::create_directories(path / "etc/skel/.config");
    fs::create_directories(path / "bin");
    write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    write("etc/shadow", "root:*:19000:0:99999:7:::\n");
    write("etc/group", "root:x:0:\n");
    write("etc/gshadow", "root:*::\n");
    ::chmod((path / "etc/shadow").c_str(), 0640);
    write("etc/skel/.profile", "echo hi\n");
    write("etc/skel/.config/app", "x\n");
    write("bin/sh", "#!/bin/sh\n");
    ::chmod((path / "bin/sh").c_str(), 0755);
  }
  ~TempRoot() { fs::remove_all(path); }
  void write(const std::string& rel, const std::string& text) { std::ofstream(path / rel) << text; }
  std::string read(const std::string& rel) {
    std::ifstream f(path / rel);
    return std::string(std::istreambuf_iterator<char>(f), {});
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

}  // namespace

TEST_CASE("database lines survive a parse and render unchanged", "[users][model]") {
  std::string text = "root:x:0:0:root:/root:/bin/bash\n# a comment\n+nis\nbad line\nbob:x:1:1::/:/bin/sh\n";
  Db db(text, 7);
  CHECK(db.text() == text);
  REQUIRE(db.find("bob"));
  CHECK(db.find("bob")->fields[6] == "/bin/sh");
  CHECK_FALSE(db.find("+nis"));
  db.put({"carol", "x", "2", "2", "", "/home/carol", "/bin/sh"});
  CHECK(db.erase("bob"));
  CHECK(db.text() ==
        "root:x:0:0:root:/root:/bin/bash\n# a comment\n+nis\nbad line\ncarol:x:2:2::/home/carol:/bin/sh\n");
  CHECK(split_members("a,,b") == std::vector<std::string>{"a", "b"});
  Ranges r = parse_login_defs("UID_MIN 2000\n#UID_MAX 5\nGID_MAX\t\t7000\nSYS_UID_MAX abc\n");
  CHECK(r.uid_min == 2000);
  CHECK(r.uid_max == 60000);
  CHECK(r.gid_max == 7000);
  CHECK(r.sys_uid_max == 999);
}

TEST_CASE("names follow useradd's rules", "[users][check]") {
  CHECK(name_problem("alice").empty());
  CHECK(name_problem("_svc-1").empty());
  CHECK(name_problem("host$").empty());
  CHECK(name_problem(std::string(32, 'a')).empty());
  CHECK_FALSE(name_problem(std::string(33, 'a')).empty());
  CHECK_FALSE(name_problem("").empty());
  CHECK_FALSE(name_problem("1abc").empty());
  CHECK_FALSE(name_problem("Alice").empty());
  CHECK_FALSE(name_problem("a/b").empty());
  CHECK_FALSE(name_problem("a\nb").empty());
  CHECK_FALSE(name_problem("a:b").empty());
  CHECK_FALSE(name_problem("a$b").empty());
  CHECK_FALSE(name_problem(".").empty());
  CHECK_FALSE(name_problem("..").empty());
  CHECK_FALSE(name_problem("-o").empty());
}

TEST_CASE("keys must be one OpenSSH public key each", "[users][check]") {
  CHECK(key_problem(kKey).empty());
  CHECK(key_problem(kKey.substr(0, kKey.rfind(' '))).empty());  // without a comment
  CHECK_FALSE(key_problem("command=\"/bin/sh\" " + kKey).empty());
  CHECK_FALSE(key_problem(kKey + "\nssh-rsa AAAA").empty());
  CHECK_FALSE(key_problem("ssh-ed25519").empty());
  CHECK_FALSE(key_problem("ssh-ed25519 not*base64").empty());
  CHECK_FALSE(key_problem("ssh-rsa " + kKey.substr(12)).empty());  // the blob names ssh-ed25519
  CHECK_FALSE(key_problem("ssh-ed25519 AAAA").empty());
}

TEST_CASE("check names the pointer of every bad value", "[users][check]") {
  std::string out = check(R"({"accounts": {"a/b": {}, "ok": {"shell": "/bin/../sh", "comment": "x\ny",
      "groups": ["devs", "devs", "Bad"], "ssh_authorized_keys": ["ssh-rsa AAAA"], "password_hash": "!$1$x"},
      "twin": {"uid": 5}, "twin2": {"uid": 5}},
      "groups": {"g": {"members": ["ok"]}, "h": {"gid": 7}, "i": {"gid": 7}}})");
  CHECK(out.find("s.json: /plugins/users/accounts/a~1b: expected a name of 1-32 bytes") != std::string::npos);
  CHECK(out.find("/plugins/users/accounts/ok/shell: expected an absolute path without \".\"") !=
        std::string::npos);
  CHECK(out.find("/plugins/users/accounts/ok/comment: expected a value without ':'") != std::string::npos);
  CHECK(out.find("/plugins/users/accounts/ok/groups/1: group \"devs\" is listed twice") != std::string::npos);
  CHECK(out.find("/plugins/users/accounts/ok/groups/2: expected") != std::string::npos);
  CHECK(out.find("/plugins/users/accounts/ok/ssh_authorized_keys/0: expected one OpenSSH public key") !=
        std::string::npos);
  CHECK(out.find("/plugins/users/accounts/ok/password_hash: expected a crypt(3) hash") != std::string::npos);
  CHECK(out.find("$1$x") == std::string::npos);  // a hash is never echoed
  CHECK(out.find("/plugins/users/accounts/twin2/uid: uid 5 is also declared for account \"twin\"") !=
        std::string::npos);
  CHECK(out.find("/plugins/users/groups/i/gid: gid 7 is also declared for group \"h\"") != std::string::npos);
  // "ok" lists its groups (the complete list) without "g", whose members name it: a contradiction.
  CHECK(out.find("/plugins/users/groups/g/members/0: account \"ok\" is a member here, but its \"groups\"") !=
        std::string::npos);
  CHECK(check(R"({"accounts": {"alice": {"uid": 1, "shell": "/bin/sh", "groups": ["x"]}}})").empty());
}

TEST_CASE("diff refuses what can never be reached against the current state", "[users][diff]") {
  CHECK(plan_error(R"({"accounts": {"carol": {"uid": 1500}}})")
            .find("uid 1500 is taken by account \"alice\"") != std::string::npos);
  CHECK(plan_error(R"({"groups": {"qa": {"gid": 2000}}})").find("gid 2000 is taken by group \"devs\"") !=
        std::string::npos);
  CHECK(plan_error(R"({"accounts": {"carol": {"shell": "/bin/zsh"}}})").find("not an executable file") !=
        std::string::npos);
  CHECK(plan_error(R"({"accounts": {"eve": {"ssh_authorized_keys": []}}})").find("refusing") !=
        std::string::npos);
  CHECK(
      plan_error(R"({"accounts": {"alice": {"uid": 1501}}})").find("uid 1501 is taken by account \"bob\"") !=
      std::string::npos);
  CHECK(plan_error(R"({"groups": {"devs": {"gid": 1500}}})").find("gid 1500 is taken by group \"alice\"") !=
        std::string::npos);
  CHECK(plan_error(R"({"accounts": {"alice": {"locked": false}}})").find("no password hash") !=
        std::string::npos);
  CHECK(plan_error(R"({"accounts": {"carol": {"groups": ["nope"]}}})").find("\"nope\" does not exist") !=
        std::string::npos);
  CHECK(plan_error(R"({"accounts": {"carol": {"gid": 4242}}})").find("no group has gid 4242") !=
        std::string::npos);
  CHECK(plan_error(R"({"groups": {"devs": {"state": "absent"}}})").find("primary group of account \"bob\"") !=
        std::string::npos);
  // ... but removing bob with it is fine, and a uid freed by a removal can be taken.
  CHECK(plan_error(R"({"groups": {"devs": {"state": "absent"}}, "accounts": {"bob": {"state": "absent"},
      "carol": {"uid": 1501}}})") == "(no error)");
}

TEST_CASE("apply writes the databases, the home and the keys; a second plan is empty", "[users][apply]") {
  TempRoot t;
  std::string doc = R"({"groups": {"devs": {}}, "accounts": {"alice": {"shell": "/bin/sh", "groups": ["devs"],
      "ssh_authorized_keys": [")" +
                    kKey + R"("]}}})";
  auto actions = converge(t.path, doc);
  CHECK(actions.size() == 3);
  CHECK(t.read("etc/passwd") == "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1001::/home/alice:/bin/sh\n");
  CHECK(t.read("etc/group") == "root:x:0:\ndevs:x:1000:alice\nalice:x:1001:\n");
  CHECK(t.read("etc/gshadow") == "root:*::\ndevs:!::alice\nalice:!::\n");
  CHECK(t.read("etc/shadow").find("\nalice:!:") != std::string::npos);
  struct stat st;
  REQUIRE(::stat((t.path / "etc/shadow").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  REQUIRE(::stat((t.path / "home/alice/.config/app").c_str(), &st) == 0);
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 1001);
  REQUIRE(::stat((t.path / "home/alice/.ssh").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::stat((t.path / "home/alice/.ssh/authorized_keys").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == 1000);
  CHECK(t.read("home/alice/.ssh/authorized_keys") == kKey + "\n");
  CHECK(converge(t.path, doc).empty());
}

TEST_CASE("a ~/.ssh symlinked out of the root is refused; a symlinked authorized_keys is replaced",
          "[users][apply]") {
  TempRoot t;
  TempRoot outside;
  std::string doc =
      R"({"accounts": {"eve": {"shell": "/bin/sh", "ssh_authorized_keys": [")" + kKey + R"("]}}})";
  converge(t.path, doc);
  fs::remove_all(t.path / "home/eve/.ssh");
  fs::create_directory_symlink(outside.path, t.path / "home/eve/.ssh");
  std::string other = R"({"accounts": {"eve": {"ssh_authorized_keys": []}}})";
  CHECK_THROWS_WITH(converge(t.path, other), Catch::Contains("refusing"));
  // apply alone (a plan made before the link appeared) refuses too.
  auto backend = make_root_backend(t.path);
  Action a;
  a.plugin = "users";
  a.item = {"accounts", "eve"};
  a.operation = make_operation<Ops>(WriteKeys{"eve", "/home/eve", 1000, 1000, {}});
  CHECK_THROWS_WITH(apply_action(*backend, a), Catch::Contains("not a directory"));
  CHECK_FALSE(fs::exists(outside.path / "authorized_keys"));

  fs::remove(t.path / "home/eve/.ssh");
  fs::create_directory(t.path / "home/eve/.ssh");
  outside.write("keys", "precious\n");
  fs::create_symlink(outside.path / "keys", t.path / "home/eve/.ssh/authorized_keys");
  converge(t.path, other);
  CHECK(outside.read("keys") == "precious\n");
  CHECK(fs::is_regular_file(fs::symlink_status(t.path / "home/eve/.ssh/authorized_keys")));
}

TEST_CASE("apply waits for /etc/.pwd.lock and fails when it stays held", "[users][apply]") {
  TempRoot t;
  int fd = ::open((t.path / "etc/.pwd.lock").c_str(), O_WRONLY | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  pid_t child = ::fork();
  if (child == 0) {  // hold the lock as lckpwdf would, from another process, for 20 s at most
    struct flock fl {};
    fl.l_type = F_WRLCK;
    ::fcntl(fd, F_SETLK, &fl);
    ::sleep(20);
    ::_exit(0);
  }
  ::close(fd);
  ::usleep(300000);
  auto backend = make_root_backend(t.path);
  CHECK_THROWS_WITH(backend->lock(), Catch::Contains("held by another program"));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  CHECK(backend->lock() != nullptr);
}
