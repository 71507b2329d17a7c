#include "lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "temp_dir.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include "tap_skip.h"

#include "error.h"
#include "sys/fs.h"
#include "sys/rootdir.h"

namespace fs = std::filesystem;
using namespace opdbus;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The message of the Error the lock throws, and its kind.
std::pair<ErrorKind, std::string> refusal(const fs::path& path) {
  try {
    ApplyLock lock(path);
  } catch (const Error& e) {
    return {e.kind(), e.message()};
  }
  return {ErrorKind::Bug, "(granted)"};
}

}  // namespace

TEST_CASE("a second apply lock on the same file is refused, naming the holder", "[lock]") {
  TempDir tmp;
  fs::path path = tmp.path / "run/op-dbus/apply.lock";
  std::string pid = std::to_string(::getpid());

  auto first = std::make_optional<ApplyLock>(path);
  CHECK(sys::read_file(path).value_or("") == pid + "\n");
  struct stat st {};
  REQUIRE(::stat(path.parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);

  try {
    ApplyLock second(path);
    FAIL("the second lock was granted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Conflict);
    CHECK_THAT(e.message(), Catch::Contains("another op-dbus apply is running"));
    CHECK_THAT(e.message(), Catch::Contains("(pid " + pid + ","));
    CHECK_THAT(e.message(), Catch::Contains(path.string()));
  }

  first.reset();
  CHECK_NOTHROW(ApplyLock(path));
  ApplyLock again(path);
  CHECK(sys::read_file(path).value_or("") == pid + "\n");
}

TEST_CASE("the live lock is /run/op-dbus/apply.lock unless OPDBUS_LOCK_FILE says otherwise", "[lock]") {
  ::setenv("OPDBUS_LOCK_FILE", "/tmp/elsewhere.lock", 1);
  CHECK(ApplyLock::live_path() == "/tmp/elsewhere.lock");
  ::unsetenv("OPDBUS_LOCK_FILE");
  CHECK(ApplyLock::live_path() == "/run/op-dbus/apply.lock");
}

TEST_CASE("a symlink planted at the lock path is refused and its target untouched", "[lock]") {
  TempDir tmp;
  fs::create_directory(tmp.path / "lockdir", tmp.path);
  fs::permissions(tmp.path / "lockdir", fs::perms::owner_all);
  fs::path victim = tmp.path / "victim";
  std::ofstream(victim) << "precious contents\n";
  fs::create_symlink(victim, tmp.path / "lockdir/apply.lock");

  auto [kind, message] = refusal(tmp.path / "lockdir/apply.lock");
  CHECK(kind == ErrorKind::PermissionError);
  CHECK_THAT(message, Catch::Contains("is a symbolic link"));
  CHECK_THAT(message, Catch::Contains("rm " + (tmp.path / "lockdir/apply.lock").string()));
  CHECK(slurp(victim) == "precious contents\n");
  CHECK(fs::is_symlink(tmp.path / "lockdir/apply.lock"));
}

TEST_CASE("a lock file that belongs to another user is refused, not truncated", "[lock]") {
  TempDir tmp;
  fs::path path = tmp.path / "apply.lock";
  std::ofstream(path) << "4242\nsomeone else's\n";
  if (::geteuid() != 0) SKIP("chown to another user needs root");
  REQUIRE(::chown(path.c_str(), 12345, 12345) == 0);
  auto [kind, message] = refusal(path);
  CHECK(kind == ErrorKind::PermissionError);
  CHECK_THAT(message, Catch::Contains("belongs to uid 12345"));
  CHECK(slurp(path) == "4242\nsomeone else's\n");
}

TEST_CASE("a lock directory others can write to, or that belongs to another user, is refused", "[lock]") {
  TempDir tmp;
  fs::create_directory(tmp.path / "open");
  REQUIRE(::chmod((tmp.path / "open").c_str(), 01777) == 0);
  auto [kind, message] = refusal(tmp.path / "open/apply.lock");
  CHECK(kind == ErrorKind::PermissionError);
  CHECK_THAT(message, Catch::Contains("writable by other users (mode 1777)"));
  CHECK_FALSE(fs::exists(tmp.path / "open/apply.lock"));

  if (::geteuid() == 0) {
    fs::create_directory(tmp.path / "theirs");
    REQUIRE(::chmod((tmp.path / "theirs").c_str(), 0700) == 0);
    REQUIRE(::chown((tmp.path / "theirs").c_str(), 12345, 12345) == 0);
    auto [kind2, message2] = refusal(tmp.path / "theirs/apply.lock");
    CHECK(kind2 == ErrorKind::PermissionError);
    CHECK_THAT(message2, Catch::Contains("belongs to uid 12345"));
  }
}

TEST_CASE("a FIFO or a hard link at the lock path is refused without blocking", "[lock]") {
  TempDir tmp;
  REQUIRE(::mkfifo((tmp.path / "fifo.lock").c_str(), 0600) == 0);
  auto [kind, message] = refusal(tmp.path / "fifo.lock");
  CHECK(kind == ErrorKind::PermissionError);
  CHECK_THAT(message, Catch::Contains("not a regular file"));

  std::ofstream(tmp.path / "other") << "data\n";
  fs::create_hard_link(tmp.path / "other", tmp.path / "linked.lock");
  auto [kind2, message2] = refusal(tmp.path / "linked.lock");
  CHECK(kind2 == ErrorKind::PermissionError);
  CHECK_THAT(message2, Catch::Contains("2 hard links"));
  CHECK(slurp(tmp.path / "other") == "data\n");
}

TEST_CASE("each --root tree has its own lock: trees never block each other nor the live lock", "[lock]") {
  TempDir tmp;
  fs::create_directories(tmp.path / "a");
  fs::create_directories(tmp.path / "b");
  fs::create_directories(tmp.path / "run");
  fs::permissions(tmp.path / "run", fs::perms::owner_all);
  ::setenv("OPDBUS_LOCK_FILE", (tmp.path / "run/apply.lock").c_str(), 1);

  sys::RootDir a(tmp.path / "a"), b(tmp.path / "b"), live("/");
  ApplyLock la(a);
  ApplyLock lb(b);
  ApplyLock ll(live);
  ::unsetenv("OPDBUS_LOCK_FILE");
  CHECK(la.path() == tmp.path / "a/var/lib/op-dbus/apply.lock");
  CHECK(lb.path() == tmp.path / "b/var/lib/op-dbus/apply.lock");
  CHECK(ll.path() == tmp.path / "run/apply.lock");
  CHECK(fs::is_regular_file(tmp.path / "a/var/lib/op-dbus/apply.lock"));
  struct stat st {};
  REQUIRE(::stat((tmp.path / "a/var/lib/op-dbus").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);

  // The same tree twice is one lock.
  try {
    ApplyLock again(a);
    FAIL("a second lock on the same tree was granted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Conflict);
  }
}

TEST_CASE("a tree whose var/lib/op-dbus points out of it keeps its lock inside it", "[lock]") {
  TempDir tmp;
  fs::path root = tmp.path / "root", outside = tmp.path / "outside";
  fs::create_directories(root / "var/lib");
  fs::create_directories(outside);
  // The same path exists inside the tree, as it would in a copied system.
  fs::create_directories(root / outside.relative_path());
  fs::create_directory_symlink(outside, root / "var/lib/op-dbus");
  {
    sys::RootDir r(root);
    ApplyLock lock(r);
  }
  CHECK(fs::is_empty(outside));
  // Resolved as a chroot would: the absolute target names DIR/<target>.
  CHECK(fs::is_regular_file(root / outside.relative_path() / "apply.lock"));
}
