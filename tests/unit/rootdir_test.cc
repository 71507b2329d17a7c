// The in-root resolver: every path stays inside the root however the tree's symlinks point.
#include "sys/rootdir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include "temp_dir.h"

#include "error.h"

namespace fs = std::filesystem;
using namespace opdbus;
using sys::RootDir;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("an absolute symlink inside the root is resolved under the root, as a chroot would") {
  TempDir t;
  fs::path root = t.path / "root", outside = t.path / "outside";
  fs::create_directories(root / "srv/units");
  fs::create_directories(root / "etc/systemd");
  fs::create_directories(outside);
  // DIR/etc/systemd/system -> /srv/units means DIR/srv/units, not the host's /srv/units.
  fs::create_directory_symlink("/srv/units", root / "etc/systemd/system");
  RootDir r(root);
  r.write_file("/etc/systemd/system/web.service", "[Unit]\n");
  CHECK(slurp(root / "srv/units/web.service") == "[Unit]\n");
  CHECK(r.resolve("/etc/systemd/system") == std::optional<std::string>("/srv/units"));
  CHECK(r.read_file("/etc/systemd/system/web.service") == std::optional<std::string>("[Unit]\n"));
}

TEST_CASE("symlinks pointing out of the root never lead out of it") {
  TempDir t;
  fs::path root = t.path / "root", outside = t.path / "outside";
  fs::create_directories(root / "etc");
  fs::create_directories(outside);
  std::ofstream(outside / "victim") << "keep";
  // Absolute to the host directory, and relative with enough ".." to climb out.
  fs::create_directory_symlink(outside, root / "etc/abs");
  fs::create_directory_symlink("../../../../../../outside", root / "etc/rel");
  // Inside the root, the absolute link's target exists (as it would in a chroot); the relative one dangles.
  fs::create_directories(root / outside.relative_path());
  RootDir r(root);
  for (const char* dir : {"/etc/abs", "/etc/rel"}) {
    std::string d = dir;
    CHECK_FALSE(r.read_file(d + "/victim").has_value());
    CHECK_FALSE(r.remove(d + "/victim"));
    CHECK_FALSE(r.remove_all(d + "/victim"));
  }
  r.write_file("/etc/abs/new", "x");
  CHECK_THROWS_AS(r.write_file("/etc/rel/new", "x"), Error);  // like `mkdir -p` through a dangling link
  CHECK(slurp(outside / "victim") == "keep");
  CHECK_FALSE(fs::exists(outside / "new"));
  // The write landed where a chroot would put it.
  CHECK(slurp(root / outside.relative_path() / "new") == "x");
}

TEST_CASE("\"..\" stops at the root") {
  TempDir t;
  fs::path root = t.path / "root";
  fs::create_directories(root);
  RootDir r(root);
  r.write_file("/../../../escaped", "x");
  CHECK(fs::exists(root / "escaped"));
  CHECK_FALSE(fs::exists(t.path / "escaped"));
  CHECK_THROWS_AS(r.write_file("/..", "x"), Error);
}

TEST_CASE("remove never follows a symlink; remove_all removes the link, not its target") {
  TempDir t;
  fs::path root = t.path / "root";
  fs::create_directories(root / "data");
  std::ofstream(root / "data/f") << "1";
  fs::create_directory_symlink("/data", root / "link");
  RootDir r(root);
  CHECK(r.lstat("/link")->kind == sys::FileKind::Symlink);
  CHECK(r.stat("/link")->kind == sys::FileKind::Directory);
  CHECK(r.remove_all("/link"));
  CHECK(fs::exists(root / "data/f"));
  CHECK_FALSE(fs::exists(fs::symlink_status(root / "link")));
}

TEST_CASE("write_file is atomic and exact about modes; replace_file keeps mode and owner") {
  TempDir t;
  fs::path root = t.path / "root";
  fs::create_directories(root);
  RootDir r(root);
  r.write_file("/etc/shadow", "a\n", 0640);
  CHECK(r.lstat("/etc/shadow")->mode == 0640);
  r.replace_file("/etc/shadow", "b\n");
  CHECK(r.lstat("/etc/shadow")->mode == 0640);
  CHECK(slurp(root / "etc/shadow") == "b\n");
  r.symlink("/dev/null", "/etc/shadow");  // a link replaces the file
  CHECK(r.read_link("/etc/shadow") == std::optional<std::string>("/dev/null"));
  r.write_file("/etc/shadow", "c\n");  // and a file replaces the link, never writing through it
  CHECK(r.lstat("/etc/shadow")->kind == sys::FileKind::File);
}

TEST_CASE("listing, names of 255 bytes and stale temporaries") {
  TempDir t;
  fs::path root = t.path / "root";
  fs::create_directories(root / "d");
  RootDir r(root);
  std::string longname(255, 'n');
  r.write_file("/d/" + longname, "x");
  std::ofstream(root / "d/file.op-dbus-tmp-999999999") << "left by a killed run";
  std::ofstream(root / ("d/mine.op-dbus-tmp-" + std::to_string(::getpid()))) << "ours";
  auto removed = r.clean_stale_temporaries("/d");
  REQUIRE(removed.size() == 1);
  CHECK(removed[0] == "/d/file.op-dbus-tmp-999999999");
  auto entries = r.list_dir("/d");
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].name.find("mine.op-dbus-tmp-") == 0);
  CHECK(entries[1].name == longname);
  CHECK(r.list_dir("/missing").empty());
}
