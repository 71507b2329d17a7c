// The storage plugin's pure parts: sizes, partition types and names, the document's shorthands and checks,
// the refusals of the diff, and fstab editing.
#include <catch2/catch.hpp>

#include "engine.h"
#include "error.h"
#include "registry.h"
#include "storage/apply.h"
#include "storage/diff.h"
#include "storage/fstab.h"
#include "storage/model.h"
#include "storage/ops.h"
#include "storage/size.h"

using namespace opdbus;
using namespace opdbus::storage;

namespace {

std::vector<Problem> problems_of(const std::string& json) {
  JsonDoc d = parse_json(json);
  return section_problems(d, nullptr);
}

std::string diff_error(const std::string& desired, const std::string& current) {
  JsonDoc d = parse_json(desired);
  JsonDoc c = parse_json(current);
  try {
    diff_section(d, c);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    return e.what();
  }
  return "";
}

std::vector<Action> diff_of(const std::string& desired, const std::string& current) {
  JsonDoc d = parse_json(desired);
  JsonDoc c = parse_json(current);
  return diff_section(d, c);
}

}  // namespace

TEST_CASE("sizes: every accepted form parses, equivalent forms are equal", "[storage]") {
  CHECK(parse_size("512M")->bytes == 512 * kMiB);
  CHECK(parse_size("512MiB")->bytes == 512 * kMiB);
  CHECK(parse_size("512MB")->bytes == 512 * kMiB);
  CHECK(parse_size("0.5G")->bytes == 512 * kMiB);
  CHECK(parse_size("20G")->bytes == 20 * kGiB);
  CHECK(parse_size("1T")->bytes == kTiB);
  CHECK(parse_size("1.5T")->bytes == kTiB + kTiB / 2);
  CHECK(parse_size("4096")->bytes == 4096);
  CHECK(parse_size("4096B")->bytes == 4096);
  CHECK(parse_size("1k")->bytes == 1024);
  CHECK(parse_size("remaining")->kind == Size::Kind::Remaining);
  CHECK(parse_size("50%")->percent == 50);
  CHECK(parse_size("100%")->percent == 100);
  JsonDoc n = parse_json("536870912");
  CHECK(*parse_size(n) == *parse_size("512M"));
  for (auto bad : {"", "M", "12Q", "1.G", "0", "0%", "101%", "-5", "5 M", "remaining "}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad).has_value());
  }
}

TEST_CASE("sizes: formatting is exact and shortest; messages are readable", "[storage]") {
  CHECK(format_size(512 * kMiB) == "512M");
  CHECK(format_size(20 * kGiB) == "20G");
  CHECK(format_size(kTiB) == "1T");
  CHECK(format_size(1536 * kKiB) == "1536K");
  CHECK(format_size(1000) == "1000");
  CHECK(describe_size(18 * kGiB) == "18G");
  CHECK(describe_size(18 * kGiB + 512 * kMiB) == "18944M");
  CHECK(describe_size(18 * kGiB + 12345) == "18.0G");
  CHECK(*Size::of_percent(50).resolve(20 * kGiB) == 10 * kGiB);
  CHECK(*Size::of_percent(33).resolve(10 * kMiB) % kMiB == 0);
  CHECK_FALSE(Size::remaining().resolve(kGiB).has_value());
}

TEST_CASE("partition types map names and codes per table", "[storage]") {
  CHECK(partition_type_code("gpt", "efi") == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  CHECK(partition_type_code("gpt", "linux") == "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
  CHECK(partition_type_code("gpt", "0fc63daf-8483-4772-8e79-3d69d8477de4") ==
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
  CHECK(partition_type_code("msdos", "linux") == "0x83");
  CHECK(partition_type_code("msdos", "83") == "0x83");
  CHECK(partition_type_code("msdos", "0xEF") == "0xef");
  CHECK_FALSE(partition_type_code("msdos", "bios_grub").has_value());
  CHECK_FALSE(partition_type_code("gpt", "0x83").has_value());
  CHECK(partition_type_name("gpt", "21686148-6449-6e6f-744e-656564454649") == "bios_grub");
  CHECK(partition_type_name("msdos", "0x82") == "swap");
  CHECK(partition_type_name("gpt", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709") ==
        "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
}

TEST_CASE("partition device names follow the kernel's and udev's rules", "[storage]") {
  CHECK(partition_path("/dev/sda", 2) == "/dev/sda2");
  CHECK(partition_path("/dev/vdc", 1) == "/dev/vdc1");
  CHECK(partition_path("/dev/nvme0n1", 3) == "/dev/nvme0n1p3");
  CHECK(partition_path("/dev/loop7", 1) == "/dev/loop7p1");
  CHECK(partition_path("/dev/mmcblk0", 1) == "/dev/mmcblk0p1");
  CHECK(partition_path("/dev/disk/by-id/virtio-abc", 2) == "/dev/disk/by-id/virtio-abc-part2");
}

TEST_CASE("the roadmap's complete example expands its shorthands", "[storage]") {
  JsonDoc d = parse_json(R"({
    "devices": {"/dev/sda": {"partition_table": "gpt", "partitions": [
      {"number": 1, "size": "512M", "type": "efi", "filesystem": "vfat", "mount": "/boot/efi"},
      {"number": 2, "size": "remaining", "type": "linux", "filesystem": "btrfs", "mount": "/"}]}},
    "btrfs_subvolumes": {"/dev/sda2": [{"name": "@", "mount": "/"}, {"name": "@home", "mount": "/home"}]}})");
  std::vector<Problem> problems;
  Section s = normalise(d, &problems);
  CHECK(problems.empty());
  REQUIRE(s.filesystems.count("/dev/sda1"));
  CHECK(s.filesystems["/dev/sda1"].type == "vfat");
  CHECK(s.filesystems["/dev/sda2"].type == "btrfs");
  REQUIRE(s.mounts.size() == 3);
  // The partition is mounted at "/" through its subvolume "@".
  CHECK(s.mounts["/"].device == "/dev/sda2");
  CHECK(s.mounts["/"].subvol == std::optional<std::string>("@"));
  CHECK(s.mounts["/"].fstype == std::optional<std::string>("btrfs"));
  CHECK(s.mounts["/home"].subvol == std::optional<std::string>("@home"));
  CHECK(s.mounts["/boot/efi"].device == "/dev/sda1");
  CHECK(s.mounts["/boot/efi"].fstype == std::optional<std::string>("vfat"));
}

TEST_CASE("an explicit mount entry merges with a subvolume's mount", "[storage]") {
  JsonDoc d = parse_json(R"({
    "filesystems": {"/dev/sda2": {"type": "btrfs", "label": "proxmox"}},
    "btrfs_subvolumes": {"/dev/sda2": [{"name": "@", "mount": "/"}]},
    "mounts": {"/": {"device": "/dev/sda2", "subvol": "@", "options": "compress=zstd:3"}}})");
  std::vector<Problem> problems;
  Section s = normalise(d, &problems);
  CHECK(problems.empty());
  CHECK(s.mounts["/"].options == std::vector<std::string>{"compress=zstd:3"});
  CHECK(s.mounts["/"].subvol == std::optional<std::string>("@"));
}

TEST_CASE("check reports contradictions and impossible requests", "[storage]") {
  auto one = [](const std::string& json, const std::string& needle) {
    auto ps = problems_of(json);
    INFO(json);
    REQUIRE(ps.size() >= 1);
    bool found = false;
    for (const auto& p : ps) found = found || p.message.find(needle) != std::string::npos;
    INFO(ps.front().message);
    CHECK(found);
  };
  one(R"({"devices": {"/dev/sda": {"partitions": [{"number": 1, "size": "1G"}, {"number": 1, "size": "1G"}]}}})",
      "listed twice");
  one(R"({"devices": {"/dev/sda": {"partitions": [{"number": 1, "size": "remaining"}, {"number": 2, "size": "1G"}]}}})",
      "only the last partition");
  one(R"({"devices": {"/dev/sda": {"partition_table": "msdos", "partitions": [{"number": 5, "size": "1G"}]}}})",
      "1 to 4");
  one(R"({"devices": {"/dev/sda": {"partition_table": "msdos", "partitions": [{"number": 1, "size": "1G", "type": "bios_grub"}]}}})",
      "does not exist on a msdos table");
  one(R"({"devices": {"/dev/sda": {"partition_table": "msdos", "partitions": [{"number": 1, "size": "1G", "label": "x"}]}}})",
      "no label");
  one(R"({"devices": {"LABEL=x": {"partitions": [{"number": 1, "size": "1G"}]}}})", "by its path");
  one(R"({"devices": {"/dev/sda": {"partitions": [{"number": 1, "size": "1G", "filesystem": "ext4"}]}},
         "filesystems": {"/dev/sda1": {"type": "xfs"}}})",
      "contradicts");
  one(R"({"filesystems": {"/dev/sda1": {"type": "vfat", "label": "MUCH_TOO_LONG"}}})", "at most 11");
  one(R"({"filesystems": {"/dev/sda1": {"type": "ext4"}}, "btrfs_subvolumes": {"/dev/sda1": [{"name": "@"}]}})",
      "need a btrfs filesystem");
  one(R"({"btrfs_subvolumes": {"/dev/sda1": [{"name": "@"}, {"name": "/@/"}]}})", "listed twice");
  one(R"({"btrfs_subvolumes": {"/dev/sda1": [{"name": "a/../b"}]}})", "not a subvolume path");
  one(R"({"btrfs_subvolumes": {"/dev/sda1": [{"name": "@", "state": "absent", "mount": "/"}]}})",
      "cannot be mounted");
  one(R"({"mounts": {"/data": {"options": "noatime"}}})", "\"device\" is missing");
  one(R"({"mounts": {"/a/../b": {"device": "/dev/sdb"}}})", "not a mount point");
  one(R"({"mounts": {"/": {"device": "/dev/sdb"}}, "btrfs_subvolumes": {"/dev/sda2": [{"name": "@", "mount": "/"}]}})",
      "one mount point holds one device");
  one(R"({"mounts": {"/x": {"device": "/dev/sdb", "fstype": "ext4", "subvol": "@"}}})", "needs btrfs");
  one(R"({"devices": {"/dev/sda": {"partitions": [{"number": 1, "size": "1G", "filesystem": "ext4"}]}},
         "mounts": {"/": {"device": "/dev/sda1", "fstype": "swap"}}})",
      "swap is not mounted");
  one(R"({"devices": {"/dev/sda": {"partitions": [{"number": 1, "size": "1G"}]}}, "filesystems": {"/dev/sda": {"type": "ext4"}}})",
      "not on the whole device");
  CHECK(problems_of(R"({"mounts": {"/old": {"state": "absent"}}})").empty());
}

TEST_CASE("plugin check names the pointer of each problem", "[storage]") {
  auto plugins = make_plugins();
  Plugin* storage = nullptr;
  for (auto& p : plugins) {
    if (p->name() == "storage") storage = p.get();
  }
  REQUIRE(storage);
  REQUIRE(storage->implemented());
  JsonDoc d = parse_json(
      R"({"devices": {"/dev/sda": {"partitions": [{"number": 1, "size": "1G"}, {"number": 1, "size": "2G"}]}},
                             "mounts": {"/x": {"device": "sdb1"}}})");
  Diagnostics out;
  storage->check(d, "s.json", "/plugins/storage", out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].pointer == "/plugins/storage/devices/~1dev~1sda/partitions/1");
  CHECK(out[1].pointer == "/plugins/storage/mounts/~1x");
  CHECK(out[1].message.find("names no device") != std::string::npos);
}

TEST_CASE("a partition that does not match is refused, saying exactly what differs", "[storage]") {
  std::string current = R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "size": "40G", "partitions": [
      {"number": 1, "start": "1M", "size": "512M", "type": "efi"},
      {"number": 2, "start": "513M", "size": "18G", "type": "linux"}]}}})";
  std::string desired = R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "partitions": [
      {"number": 1, "size": "512M", "type": "efi"}, {"number": 2, "size": "20G"}]}}})";
  CHECK(diff_error(desired, current) ==
        "/dev/vdb: partition 2: size did not match: want 20G, got 18G; set \"wipe\": true and pass "
        "--allow-destructive to repartition");

  // With "wipe" the same request is an action, marked destructive.
  std::string wiped = R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "wipe": true, "partitions": [
      {"number": 1, "size": "512M", "type": "efi"}, {"number": 2, "size": "20G"}]}}})";
  auto actions = diff_of(wiped, current);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].destructive);

  CHECK(
      diff_error(
          R"({"devices": {"/dev/vdb": {"partition_table": "msdos", "partitions": [{"number": 1, "size": "1G"}]}}})",
          current) ==
      "/dev/vdb: partition table did not match: want msdos, got gpt; set \"wipe\": true and pass "
      "--allow-destructive to repartition");
  CHECK(diff_error(
            R"({"devices": {"/dev/vdb": {"partitions": [{"number": 2, "start": "1G", "size": "18G"}]}}})",
            current) ==
        "/dev/vdb: partition 2: start did not match: want 1G, got 513M; set \"wipe\": true and pass "
        "--allow-destructive to repartition");
  CHECK(diff_error(
            R"({"devices": {"/dev/vdb": {"size": "20G", "partitions": [{"number": 1, "size": "512M"}]}}})",
            current)
            .find("device size did not match: want 20G, got 40G") != std::string::npos);
}

TEST_CASE("a disk holding a filesystem and no table is never partitioned without wipe", "[storage]") {
  std::string current = R"({"devices": {"/dev/vdb": {"size": "20G"}},
                            "filesystems": {"/dev/vdb": {"type": "ext4", "label": "data"}}})";
  CHECK(diff_error(R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "partitions": [{"number": 1}]}}})",
                   current) ==
        "/dev/vdb: it holds an ext4 filesystem and no partition table; set \"wipe\": true and pass "
        "--allow-destructive to repartition");
  CHECK(
      diff_error(
          R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "partitions": [{"number": 1, "size": "1G"}]}}})",
          R"({"devices": {"/dev/vdb": {"size": "20G"}}, "filesystems": {"/dev/vdb": {"type": "LVM2_member"}}})")
          .find("holds a LVM2_member signature and no partition table") != std::string::npos);
}

TEST_CASE("a filesystem of another type is refused; the right type and label is kept", "[storage]") {
  std::string current =
      R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "label": "data", "uuid": "d6a1c7f2-5a3e-4b8c-9f1d-2e3c4b5a6d7e"}}})";
  CHECK(diff_error(R"({"filesystems": {"/dev/vdb1": {"type": "xfs"}}})", current) ==
        "/dev/vdb1: filesystem did not match: want xfs, got ext4; set \"wipe\": true (on the filesystem, or "
        "on its "
        "device) and pass --allow-destructive to reformat");
  CHECK(
      diff_error(
          R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "uuid": "11111111-2222-3333-4444-555555555555"}}})",
          current)
          .find("uuid did not match: want 11111111-2222-3333-4444-555555555555, got d6a1c7f2") !=
      std::string::npos);
  CHECK(diff_of(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "label": "data"}}})", current).empty());
  CHECK(diff_of(R"({"filesystems": {"/dev/vdb1": {"type": "ext4"}}})", current).empty());
  CHECK(
      diff_of(
          R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "uuid": "D6A1C7F2-5A3E-4B8C-9F1D-2E3C4B5A6D7E"}}})",
          current)
          .empty());
  auto relabel = diff_of(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "label": "other"}}})", current);
  REQUIRE(relabel.size() == 1);
  CHECK_FALSE(relabel[0].destructive);
  CHECK(relabel[0].op == Op::Update);
  // A partition table on the device is a signature too.
  CHECK(diff_error(R"({"filesystems": {"/dev/vdb": {"type": "ext4"}}})",
                   R"({"filesystems": {"/dev/vdb": {"type": "gpt partition table"}}})")
            .find("want ext4, got a gpt partition table") != std::string::npos);
}

TEST_CASE("a partition's filesystem inherits the device's wipe", "[storage]") {
  std::string current = R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "size": "20G", "partitions": [
      {"number": 1, "start": "1M", "size": "1G", "type": "linux"}]}},
      "filesystems": {"/dev/vdb1": {"type": "xfs"}}})";
  CHECK_FALSE(
      diff_error(
          R"({"devices": {"/dev/vdb": {"partitions": [{"number": 1, "size": "1G", "filesystem": "ext4"}]}}})",
          current)
          .empty());
  auto actions = diff_of(
      R"({"devices": {"/dev/vdb": {"wipe": true, "partitions": [{"number": 1, "size": "1G", "filesystem": "ext4"}]}}})",
      current);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].destructive);
  CHECK(actions[0].item == std::vector<std::string>{"filesystems", "/dev/vdb1"});
}

TEST_CASE("deleting a subvolume is always destructive; creating one is not", "[storage]") {
  auto actions = diff_of(
      R"({"btrfs_subvolumes": {"/dev/vdb": [{"name": "@old", "state": "absent"}, {"name": "@new"}]}})",
      R"({"btrfs_subvolumes": {"/dev/vdb": [{"name": "@old"}]}})");
  finish_actions("storage", parse_json("{}"), actions);
  REQUIRE(actions.size() == 2);
  CHECK(actions[0].op == Op::Create);
  CHECK_FALSE(actions[0].destructive);
  CHECK(actions[1].op == Op::Delete);
  CHECK(actions[1].destructive);
  CHECK(actions[0].order < actions[1].order);
}

TEST_CASE("mounts run parents first and unmounts children first", "[storage]") {
  auto actions = diff_of(R"({"mounts": {"/": {"device": "/dev/a"}, "/var/lib/x": {"device": "/dev/c"},
                                         "/var": {"device": "/dev/b"}, "/old": {"state": "absent"},
                                         "/old/deep/er": {"state": "absent"}}})",
                         R"({"mounts": {"/old": {"device": "/dev/d", "state": "mounted"},
                                        "/old/deep/er": {"device": "/dev/e", "state": "mounted"}}})");
  std::vector<Action> sorted = actions;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Action& a, const Action& b) { return action_less(a, b, 0, 0); });
  std::vector<std::string> order;
  for (const auto& a : sorted) order.push_back(a.item[1]);
  CHECK(order == std::vector<std::string>{"/", "/var", "/var/lib/x", "/old/deep/er", "/old"});
}

TEST_CASE("fstab: parse, replace one line, keep every other byte", "[storage]") {
  std::string text =
      "# /etc/fstab: static file system information.\n"
      "UUID=aaaa  /        ext4  errors=remount-ro  0  1\n"
      "\n"
      "proc /proc proc defaults 0 0\n"
      "/dev/vdb1\t/srv/my\\040data\txfs\tnoatime\t0\t2\n";
  auto entries = parse_fstab(text);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].spec == "UUID=aaaa");
  CHECK(entries[0].passno == 1);
  CHECK(entries[2].target == "/srv/my data");

  FstabEntry e{"UUID=bbbb", "/", "btrfs", "subvol=@,compress=zstd:3", 0, 0};
  std::string line = format_fstab_line(e);
  CHECK(line == "UUID=bbbb\t/\tbtrfs\tsubvol=@,compress=zstd:3\t0\t0");
  std::string replaced = fstab_set(text, "/", line);
  CHECK(replaced == "# /etc/fstab: static file system information.\n" + line +
                        "\n"
                        "\n"
                        "proc /proc proc defaults 0 0\n"
                        "/dev/vdb1\t/srv/my\\040data\txfs\tnoatime\t0\t2\n");
  std::string appended = fstab_set(text, "/home", "UUID=cccc\t/home\tbtrfs\tsubvol=@home\t0\t0");
  CHECK(appended == text + "UUID=cccc\t/home\tbtrfs\tsubvol=@home\t0\t0\n");
  CHECK(fstab_remove(text, "/srv/my data") ==
        "# /etc/fstab: static file system information.\n"
        "UUID=aaaa  /        ext4  errors=remount-ro  0  1\n"
        "\n"
        "proc /proc proc defaults 0 0\n");
  // Duplicate lines for one mount point collapse into the one op-dbus writes.
  CHECK(fstab_set("a / ext4 defaults 0 1\nb / xfs defaults 0 1\n", "/", "c\t/\tbtrfs\tdefaults\t0\t0") ==
        "c\t/\tbtrfs\tdefaults\t0\t0\n");
  CHECK(fstab_set("", "/", "x") == "x\n");
  CHECK(fstab_set("no newline at end", "/", "x") == "no newline at end\nx\n");
  CHECK(fstab_escape("a b\\c") == "a\\040b\\134c");
  CHECK(fstab_unescape("a\\040b\\134c") == "a b\\c");
}

TEST_CASE("mount options compare as sets, without defaults and subvol=", "[storage]") {
  std::optional<std::string> subvol;
  auto o = split_options("defaults,subvol=/@home,compress=zstd:3,noatime", &subvol);
  CHECK(o == std::vector<std::string>{"compress=zstd:3", "noatime"});
  CHECK(subvol == std::optional<std::string>("@home"));
  CHECK(same_options({"a", "b"}, {"b", "a", "a"}));
  CHECK_FALSE(same_options({"a"}, {"a", "b"}));
  CHECK(path_depth("/") == 0);
  CHECK(path_depth("/var/lib/x") == 3);
}

TEST_CASE("check refuses every value that would reach a device, fstab or a tool unsafely", "[storage]") {
  // These go through check() alone (as `plan --current` and diff see them), not the schema.
  auto refused = [](const std::string& json, const std::string& pointer, const std::string& needle) {
    auto ps = problems_of(json);
    INFO(json);
    REQUIRE_FALSE(ps.empty());
    bool found = false;
    for (const auto& p : ps) {
      INFO(json_pointer(p.tokens) + ": " + p.message);
      found = found || (json_pointer(p.tokens) == pointer && p.message.find(needle) != std::string::npos);
    }
    CHECK(found);
  };
  refused(R"({"mounts": {"/srv": {"device": "/dev/vdb1", "fstype": "ext4 defaults 0 0"}}})", "/mounts/~1srv",
          "filesystem type");
  refused(R"({"mounts": {"/srv": {"device": "/dev/vdb1", "options": "noatime,x y"}}})", "/mounts/~1srv",
          "mount option");
  refused(R"({"mounts": {"/srv": {"device": "/dev/vdb1", "options": "subvol=../x"}}})", "/mounts/~1srv",
          "subvolume name");
  refused(R"({"mounts": {"/srv": {"device": "/dev/vdb1", "subvol": "@,ro"}}})", "/mounts/~1srv", "commas");
  refused(R"({"mounts": {"/srv/": {"device": "/dev/vdb1"}}})", "/mounts/~1srv~1", "normalised");
  refused(R"({"mounts": {"/srv//x": {"device": "/dev/vdb1"}}})", "/mounts/~1srv~1~1x", "normalised");
  refused(R"({"mounts": {"/srv\nx": {"device": "/dev/vdb1"}}})", "/mounts/~1srv\nx", "no whitespace");
  refused(R"({"mounts": {"/srv": {"device": "/dev/vdb1\n/dev/sda"}}})", "/mounts/~1srv", "no whitespace");
  refused(R"({"mounts": {"/srv": {"device": "/tmp/disk.img"}}})", "/mounts/~1srv", "under /dev");
  refused(R"J({"mounts": {"/srv": {"device": "UUID=$(x)"}}})J", "/mounts/~1srv", "hexadecimal");
  refused(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "options": ["-f", "/dev/loop4"]}}})",
          "/filesystems/~1dev~1vdb1", "never name a device or a path");
  refused(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "options": "-d /etc"}}})",
          "/filesystems/~1dev~1vdb1", "never name a device or a path");
  refused(R"({"filesystems": {"/dev/vdb1": {"type": "btrfs", "options": ["--rootdir=/etc"]}}})",
          "/filesystems/~1dev~1vdb1", "\"--rootdir=/etc\"");
  refused(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "options": ["loop4"]}}})",
          "/filesystems/~1dev~1vdb1", "\"loop4\"");
  refused(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "options": ["-Lx", ".."]}}})",
          "/filesystems/~1dev~1vdb1", "\"..\"");
  refused(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "label": "-f"}}})", "/filesystems/~1dev~1vdb1",
          "does not start with \"-\"");
  refused(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "label": "a\nb"}}})", "/filesystems/~1dev~1vdb1",
          "control characters");
  refused(R"({"devices": {"/dev/vdb": {"partitions": [{"number": 1, "size": "1G", "label": "a\tb"}]}}})",
          "/devices/~1dev~1vdb/partitions/0", "control characters");
  refused(R"({"devices": {"/dev/vdb": {"partitions": [{"number": 1, "size": "1G",
            "label": "a-partition-name-longer-than-thirty-six"}]}}})",
          "/devices/~1dev~1vdb/partitions/0", "at most 36");
  refused(R"({"devices": {"/dev/../tmp/x": {"partition_table": "gpt"}}})", "/devices/~1dev~1..~1tmp~1x",
          "normalised");
  refused(R"({"btrfs_subvolumes": {"/dev/vdb1": [{"name": "@"}, {"name": "-rf"}]}})",
          "/btrfs_subvolumes/~1dev~1vdb1/1", "does not start with \"-\"");
  refused(R"({"btrfs_subvolumes": {"/dev/vdb1": [{"name": "@\nx"}]}})", "/btrfs_subvolumes/~1dev~1vdb1/0",
          "control characters");

  // What the roadmap and the docs use stays valid.
  CHECK(
      problems_of(R"({"filesystems": {"/dev/vda2": {"type": "vfat", "label": "ESP", "options": ["-F", "32"]},
                                        "/dev/vda3": {"type": "xfs", "options": "-m reflink=1"},
                                        "/dev/vda4": {"type": "ext4", "options": "-O^has_journal -E lazy_itable_init=0"}},
                        "btrfs_subvolumes": {"/dev/vda5": [{"name": "@"}, {"name": "@/var/lib/machines"}]},
                        "mounts": {"/home": {"device": "LABEL=my home", "fstype": "ext4", "options": "noatime,x-systemd.requires-mounts-for=/var"},
                                   "/boot/efi": {"device": "PARTUUID=0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
                                   "/srv": {"device": "/dev/disk/by-path/pci-0000:00:1f.2-ata-1-part1"}}})")
          .empty());

  // diff refuses what check refuses, naming the item.
  CHECK(
      diff_error(R"({"filesystems": {"/dev/vdb1": {"type": "ext4", "options": ["-f", "/dev/loop4"]}}})", "{}")
          .find("/filesystems/~1dev~1vdb1: \"/dev/loop4\"") == 0);
  // And apply's command builder refuses it too, whatever the plan said.
  CHECK_THROWS_AS(mkfs_command("/dev/vdb1", "ext4", "", "", {"-f", "/dev/loop4"}), Error);
  CHECK_THROWS_AS(mkfs_command("/dev/vdb1", "ext4", "-f", "", {}), Error);
  CHECK(mkfs_command("/dev/vdb1", "vfat", "ESP", "", {"-F", "32"}) ==
        std::vector<std::string>{"mkfs.vfat", "-I", "-n", "ESP", "-F", "32", "/dev/vdb1"});
}

TEST_CASE("growing a partition with wipe when a neighbour is in the way rewrites the whole table",
          "[storage]") {
  std::string current = R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "size": "40G", "partitions": [
      {"number": 1, "start": "1M", "size": "512M", "type": "efi"},
      {"number": 2, "start": "513M", "size": "18G", "type": "linux"}]}}})";
  std::string desired = R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "wipe": true, "partitions": [
      {"number": 1, "size": "1G", "type": "efi"}, {"number": 2, "size": "18G"}]}}})";
  auto actions = diff_of(desired, current);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].destructive);
  CHECK(actions[0].op == Op::Create);
  CHECK(
      actions[0].summary ==
      "wipe /dev/vdb (partition 1: size did not match: want 1G, got 512M) and create gpt partition table on "
      "/dev/vdb with partitions 1 (1G efi), 2 (18G linux)");
  const auto& op = std::get<PartitionOp>(operation_of<Ops>(actions[0].operation, "t"));
  CHECK(op.new_table);
  CHECK(op.remove.empty());
  REQUIRE(op.create.size() == 2);
  CHECK(op.expect_table == std::optional<std::string>("gpt"));
  CHECK(op.expect_partitions == std::vector<int>{1, 2});

  // Shrinking it, or growing the last partition, still recreates just that partition in place.
  std::string shrink = R"({"devices": {"/dev/vdb": {"partition_table": "gpt", "wipe": true, "partitions": [
      {"number": 1, "size": "256M", "type": "efi"}, {"number": 2, "size": "18G"}]}}})";
  auto in_place = diff_of(shrink, current);
  REQUIRE(in_place.size() == 1);
  CHECK(in_place[0].op == Op::Update);
  const auto& op2 = std::get<PartitionOp>(operation_of<Ops>(in_place[0].operation, "t"));
  CHECK_FALSE(op2.new_table);
  CHECK(op2.remove == std::vector<int>{1});
}
