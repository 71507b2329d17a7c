#include "lock.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "error.h"
#include "sys/fs.h"

namespace fs = std::filesystem;
using namespace opdbus;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "opdbus-lock-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("a second apply lock on the same file is refused, naming the holder", "[lock]") {
  TempDir tmp;
  fs::path path = tmp.path / "run/lock/op-dbus.lock";
  std::string pid = std::to_string(::getpid());

  auto first = std::make_optional<ApplyLock>(path);
  CHECK(sys::read_file(path).value_or("") == pid + "\n");

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

TEST_CASE("the lock path honours OPDBUS_LOCK_FILE", "[lock]") {
  ::setenv("OPDBUS_LOCK_FILE", "/tmp/elsewhere.lock", 1);
  CHECK(ApplyLock::default_path() == "/tmp/elsewhere.lock");
  ::unsetenv("OPDBUS_LOCK_FILE");
  CHECK(ApplyLock::default_path() == "/run/lock/op-dbus.lock");
}
