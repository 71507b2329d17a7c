// Partition tables written and read back with libfdisk on image files (no root, no loop devices), and the
// plugin's whole cycle -- query, diff, apply, query again -- against images through a host that maps device
// names to files and records mounts and fstab in memory.
#include <openssl/evp.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "temp_dir.h"

#include <filesystem>
#include <fstream>
#include <map>
#include "tap_skip.h"

#include "engine.h"
#include "error.h"
#include "storage/backend.h"
#include "storage/plugin.h"
#include "storage/query.h"
#include "storage/size.h"
#include "sys/process.h"

using namespace opdbus;
using namespace opdbus::storage;
namespace fs = std::filesystem;

namespace {

constexpr const char* kEfi = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
constexpr const char* kLinux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
constexpr const char* kSwap = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";

std::string make_image(const fs::path& dir, const std::string& name, uint64_t size) {
  fs::path p = dir / name;
  std::ofstream(p).close();
  fs::resize_file(p, size);
  return p.string();
}

std::string sha256_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    EVP_DigestUpdate(c, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(c, md, &len);
  EVP_MD_CTX_free(c);
  std::string hex;
  char b[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(b, sizeof b, "%02x", md[i]);
    hex += b;
  }
  return hex;
}

bool have_tool(const char* name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    if (::access((std::string(dir) + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Device names map to image files; partitions of an image have no device of their own. Mounts and fstab are
// recorded, never done.
class ImageHost : public Backend {
 public:
  std::map<std::string, std::string> devices;  // "/dev/vdz" -> image path
  std::vector<std::string> calls;
  std::string fstab;
  std::vector<sys::MountInfo> mounted;

  std::string describe() override { return "images"; }
  std::optional<std::string> resolve(const std::string& spec) override {
    auto it = devices.find(spec);
    if (it != devices.end()) return it->second;
    if (spec.rfind("UUID=", 0) == 0) {
      for (const auto& [name, img] : devices) {
        if (sys::probe_signature(img).uuid == spec.substr(5)) return img;
      }
    }
    return std::nullopt;
  }
  std::vector<sys::BlockDevice> block_devices() override { return {}; }
  std::optional<std::string> partition_node(const std::string&, int) override { return std::nullopt; }
  sys::Signature probe(const std::string& device) override { return sys::probe_signature(device); }
  sys::PartitionTable read_table(const std::string& device) override {
    return sys::read_partition_table(device);
  }
  void write_table(const std::string& device, const sys::TableEdit& edit) override {
    calls.push_back("write_table " + device);
    sys::write_partition_table(device, edit);
  }
  void settle(const std::string&, const std::vector<int>&) override {}
  std::vector<std::string> wipe(const std::string& device) override {
    calls.push_back("wipe " + device);
    return sys::wipe_signatures(device);
  }
  void run(const std::vector<std::string>& argv) override {
    calls.push_back(sys::quote_command(argv));
    sys::run_checked(argv);
  }
  std::vector<std::string> subvolumes(const std::string&) override { return {}; }
  void create_subvolume(const std::string&, const std::string&) override {
    throw Error(ErrorKind::NotSupported, "no subvolumes on images");
  }
  void delete_subvolume(const std::string&, const std::string&) override {
    throw Error(ErrorKind::NotSupported, "no subvolumes on images");
  }
  std::vector<sys::MountInfo> mounts() override { return mounted; }
  void mount(const std::string& source, const std::string& target, const std::string& fstype,
             const std::string& options) override {
    calls.push_back("mount " + source + " " + target + " " + fstype + " " + options);
    mounted.push_back({source, target, "/", fstype, "rw," + options});
  }
  void remount(const std::string& target, const std::string& options) override {
    calls.push_back("remount " + target + " " + options);
  }
  void unmount(const std::string& target) override {
    calls.push_back("unmount " + target);
    std::erase_if(mounted, [&](const sys::MountInfo& m) { return m.target == target; });
  }
  void check_unused(const std::string& device, const std::string&) override {
    calls.push_back("check_unused " + device);
  }
  std::optional<std::string> mount_point(const std::string& p) override {
    return "/target" + (p == "/" ? "" : p);
  }
  std::string make_mount_point(const std::string& p) override {
    calls.push_back("mkdir " + *mount_point(p));
    return *mount_point(p);
  }
  std::optional<std::string> read_file(const std::string& p) override {
    if (p != "/etc/fstab") return std::nullopt;
    return fstab;
  }
  void write_file(const std::string& p, const std::string& content) override {
    calls.push_back("write " + p);
    fstab = content;
  }
};

struct Rig {
  ImageHost* host = nullptr;
  std::unique_ptr<Plugin> plugin;
  Context ctx{Options{}};
  Rig() {
    auto h = std::make_unique<ImageHost>();
    host = h.get();
    auto shared = std::shared_ptr<ImageHost>(std::move(h));
    plugin = storage::make_plugin([shared](Context&) -> std::unique_ptr<Backend> {
      // The plugin asks for a host per call; hand out views of the one the test inspects.
      struct View : Backend {
        std::shared_ptr<ImageHost> h;
        explicit View(std::shared_ptr<ImageHost> x) : h(std::move(x)) {}
        std::string describe() override { return h->describe(); }
        std::optional<std::string> resolve(const std::string& s) override { return h->resolve(s); }
        std::vector<sys::BlockDevice> block_devices() override { return h->block_devices(); }
        std::optional<std::string> partition_node(const std::string& d, int n) override {
          return h->partition_node(d, n);
        }
        sys::Signature probe(const std::string& d) override { return h->probe(d); }
        sys::PartitionTable read_table(const std::string& d) override { return h->read_table(d); }
        void write_table(const std::string& d, const sys::TableEdit& e) override { h->write_table(d, e); }
        void settle(const std::string& d, const std::vector<int>& n) override { h->settle(d, n); }
        std::vector<std::string> wipe(const std::string& d) override { return h->wipe(d); }
        void run(const std::vector<std::string>& a) override { h->run(a); }
        std::vector<std::string> subvolumes(const std::string& d) override { return h->subvolumes(d); }
        void create_subvolume(const std::string& d, const std::string& n) override {
          h->create_subvolume(d, n);
        }
        void delete_subvolume(const std::string& d, const std::string& n) override {
          h->delete_subvolume(d, n);
        }
        std::vector<sys::MountInfo> mounts() override { return h->mounts(); }
        void mount(const std::string& s, const std::string& t, const std::string& f,
                   const std::string& o) override {
          h->mount(s, t, f, o);
        }
        void remount(const std::string& t, const std::string& o) override { h->remount(t, o); }
        void unmount(const std::string& t) override { h->unmount(t); }
        void check_unused(const std::string& d, const std::string& w) override { h->check_unused(d, w); }
        std::optional<std::string> mount_point(const std::string& p) override { return h->mount_point(p); }
        std::string make_mount_point(const std::string& p) override { return h->make_mount_point(p); }
        std::optional<std::string> read_file(const std::string& p) override { return h->read_file(p); }
        void write_file(const std::string& p, const std::string& c) override { h->write_file(p, c); }
      };
      return std::make_unique<View>(shared);
    });
  }

  std::vector<Action> plan(const JsonDoc& desired) {
    JsonDoc current = plugin->query(ctx, &desired);
    auto actions = plugin->diff(desired, current);
    finish_actions("storage", desired, actions);
    return actions;
  }

  // What the engine does: plan, refuse destructive without permission, apply in order, verify.
  void converge(const JsonDoc& desired, bool allow_destructive = false) {
    auto actions = plan(desired);
    for (const auto& a : actions) {
      INFO(a.summary);
      if (a.destructive) REQUIRE(allow_destructive);
      plugin->apply(ctx, a);
    }
    auto left = plan(desired);
    std::string msg;
    for (const auto& a : left) msg += describe_drift(a) + "\n";
    INFO(msg);
    CHECK(left.empty());
  }
};

}  // namespace

TEST_CASE("libfdisk writes a GPT table on an image and reads it back aligned", "[storage][image]") {
  TempDir dir;
  std::string img = make_image(dir.path, "disk.img", 256 * kMiB);
  sys::TableEdit edit;
  edit.new_label = "gpt";
  edit.add = {{1, std::nullopt, 32 * kMiB, kEfi, std::string("ESP")},
              {2, std::nullopt, 100 * kMiB, kLinux, std::string("root")},
              {3, std::nullopt, std::nullopt, kSwap, std::nullopt}};
  sys::write_partition_table(img, edit);

  sys::PartitionTable t = sys::read_partition_table(img);
  REQUIRE(t.label == std::optional<std::string>("gpt"));
  CHECK(t.device_size == 256 * kMiB);
  CHECK(t.sector_size == 512);
  CHECK(t.grain == kMiB);
  REQUIRE(t.partitions.size() == 3);
  CHECK(t.partitions[0].number == 1);
  CHECK(t.partitions[0].start == kMiB);
  CHECK(t.partitions[0].size == 32 * kMiB);
  CHECK(t.partitions[0].type == kEfi);
  CHECK(t.partitions[0].name == "ESP");
  CHECK(t.partitions[1].start == 33 * kMiB);
  CHECK(t.partitions[1].size == 100 * kMiB);
  CHECK(t.partitions[1].name == "root");
  CHECK(t.partitions[2].type == kSwap);
  CHECK(t.partitions[2].start == 133 * kMiB);
  for (const auto& p : t.partitions) {
    INFO(p.number);
    CHECK(p.start % kMiB == 0);
  }
  // "remaining" ends at the last usable sector: within the backup GPT (33 sectors) of the end.
  uint64_t end = t.partitions[2].start + t.partitions[2].size;
  CHECK(end <= t.device_size);
  CHECK(t.device_size - end <= kMiB);

  // blkid sees the table on the image.
  CHECK(sys::probe_signature(img).pttype == "gpt");
}

TEST_CASE("libfdisk edits in place: rename, retype, delete and add", "[storage][image]") {
  TempDir dir;
  std::string img = make_image(dir.path, "disk.img", 128 * kMiB);
  sys::TableEdit create;
  create.new_label = "gpt";
  create.add = {{1, std::nullopt, 16 * kMiB, kLinux, std::string("a")},
                {2, std::nullopt, 16 * kMiB, kLinux, std::nullopt}};
  sys::write_partition_table(img, create);

  sys::TableEdit change;
  change.change = {{1, std::string(kEfi), std::string("renamed")}};
  change.remove = {2};
  change.add = {{2, std::nullopt, 32 * kMiB, kSwap, std::string("bigger")},
                {3, 64 * kMiB, 8 * kMiB, kLinux, std::nullopt}};
  sys::write_partition_table(img, change);

  auto t = sys::read_partition_table(img);
  REQUIRE(t.partitions.size() == 3);
  CHECK(t.partitions[0].type == kEfi);
  CHECK(t.partitions[0].name == "renamed");
  CHECK(t.partitions[0].size == 16 * kMiB);
  CHECK(t.partitions[1].start == 17 * kMiB);
  CHECK(t.partitions[1].size == 32 * kMiB);
  CHECK(t.partitions[1].name == "bigger");
  CHECK(t.partitions[2].start == 64 * kMiB);
  CHECK(t.partitions[2].size == 8 * kMiB);
}

TEST_CASE("libfdisk writes an msdos table with type codes", "[storage][image]") {
  TempDir dir;
  std::string img = make_image(dir.path, "disk.img", 64 * kMiB);
  sys::TableEdit edit;
  edit.new_label = "dos";
  edit.add = {{1, std::nullopt, 8 * kMiB, "0x82", std::nullopt},
              {2, std::nullopt, std::nullopt, "0x83", std::nullopt}};
  sys::write_partition_table(img, edit);
  auto t = sys::read_partition_table(img);
  REQUIRE(t.label == std::optional<std::string>("dos"));
  REQUIRE(t.partitions.size() == 2);
  CHECK(t.partitions[0].type == "0x82");
  CHECK(t.partitions[1].type == "0x83");
  CHECK(t.partitions[0].start == kMiB);
  CHECK(t.device_size - (t.partitions[1].start + t.partitions[1].size) <= kMiB);
}

TEST_CASE("a libfdisk failure carries libfdisk's reason", "[storage][image]") {
  TempDir dir;
  std::string img = make_image(dir.path, "disk.img", 16 * kMiB);
  sys::TableEdit edit;
  edit.new_label = "gpt";
  edit.add = {{1, std::nullopt, 64 * kMiB, kLinux, std::nullopt}};
  try {
    sys::write_partition_table(img, edit);
    FAIL("a partition larger than the disk was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::BackendError);
    CHECK(std::string(e.what()).find("partition 1 does not fit: 67108864 bytes asked for, 13631488 free") !=
          std::string::npos);
  }
  CHECK_THROWS_AS(sys::read_partition_table((dir.path / "missing.img").string()), Error);
}

TEST_CASE("the plugin partitions a blank image, then plans nothing", "[storage][image]") {
  TempDir dir;
  Rig rig;
  rig.host->devices["/dev/vdz"] = make_image(dir.path, "disk.img", 200 * kMiB);
  JsonDoc desired = parse_json(R"({"devices": {"/dev/vdz": {"partition_table": "gpt", "partitions": [
      {"number": 1, "size": "32M", "type": "efi", "label": "ESP"},
      {"number": 2, "size": "25%", "type": "swap"},
      {"number": 3, "size": "remaining", "type": "linux", "label": "root"}]}}})");
  auto actions = rig.plan(desired);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].op == Op::Create);
  CHECK_FALSE(actions[0].destructive);
  rig.converge(desired);
  auto t = sys::read_partition_table(rig.host->devices["/dev/vdz"]);
  REQUIRE(t.partitions.size() == 3);
  CHECK(t.partitions[1].size == 50 * kMiB);
  CHECK(t.partitions[2].name == "root");

  // Equivalent sizes do not flap.
  JsonDoc same = parse_json(R"({"devices": {"/dev/vdz": {"partition_table": "gpt", "partitions": [
      {"number": 1, "size": 33554432, "type": "efi"}, {"number": 2, "size": "0.048828125G", "type": "swap"}]}}})");
  CHECK(rig.plan(same).empty());

  // A partition added after the existing ones needs no wipe.
  JsonDoc more = parse_json(R"({"devices": {"/dev/vdz": {"partition_table": "gpt", "partitions": [
      {"number": 1, "size": "32M", "type": "efi"}, {"number": 2, "size": "50M", "type": "swap"},
      {"number": 3, "size": "50M"}, {"number": 4, "size": "remaining", "label": "extra"}]}}})");
  // ... but partition 3 is not 50M: refused, with what differs.
  try {
    rig.plan(more);
    FAIL("a size mismatch was planned");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("partition 3: size did not match: want 50M, got 116M") !=
          std::string::npos);
  }
}

TEST_CASE("the plugin refuses a disk holding a filesystem and leaves it byte for byte", "[storage][image]") {
  if (!have_tool("mkfs.ext4")) SKIP("mkfs.ext4 is not installed");
  TempDir dir;
  Rig rig;
  std::string img = make_image(dir.path, "disk.img", 64 * kMiB);
  rig.host->devices["/dev/vdz"] = img;
  sys::run_checked({"mkfs.ext4", "-q", "-F", "-L", "precious", img});
  std::string before = sha256_of(img);

  JsonDoc desired = parse_json(R"({"devices": {"/dev/vdz": {"partition_table": "gpt", "partitions": [
      {"number": 1, "size": "remaining"}]}}})");
  try {
    rig.plan(desired);
    FAIL("partitioning over a filesystem was planned");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "/dev/vdz: it holds an ext4 filesystem and no partition table; set \"wipe\": true and pass "
          "--allow-destructive to repartition");
  }
  JsonDoc reformat = parse_json(R"({"filesystems": {"/dev/vdz": {"type": "btrfs"}}})");
  CHECK_THROWS_AS(rig.plan(reformat), Error);
  // The same type and label: kept, nothing planned.
  JsonDoc keep = parse_json(R"({"filesystems": {"/dev/vdz": {"type": "ext4", "label": "precious"}}})");
  CHECK(rig.plan(keep).empty());
  CHECK(rig.host->calls.empty());
  CHECK(sha256_of(img) == before);

  // With "wipe" it is destructive; the engine refuses it without --allow-destructive, here we allow it.
  JsonDoc wiped =
      parse_json(R"({"devices": {"/dev/vdz": {"partition_table": "gpt", "wipe": true, "partitions": [
      {"number": 1, "size": "remaining"}]}}})");
  auto actions = rig.plan(wiped);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].destructive);
  rig.converge(wiped, true);
  CHECK(sys::probe_signature(img).type.empty());
  CHECK(sys::probe_signature(img).pttype == "gpt");
}

TEST_CASE("the plugin makes filesystems on images, keeps them, relabels them", "[storage][image]") {
  TempDir dir;
  Rig rig;
  std::map<std::string, const char*> tools = {{"ext4", "mkfs.ext4"},
                                              {"btrfs", "mkfs.btrfs"},
                                              {"vfat", "mkfs.vfat"},
                                              {"xfs", "mkfs.xfs"},
                                              {"swap", "mkswap"}};
  std::string missing;
  for (const auto& [type, tool] : tools) {
    if (!have_tool(tool)) {
      missing += std::string(missing.empty() ? "" : ", ") + tool;
      continue;
    }
    DYNAMIC_SECTION(type) {
      std::string img = make_image(dir.path, type + ".img", 320 * kMiB);
      rig.host->devices["/dev/" + type] = img;
      std::string label = type == "vfat" ? "EFI" : "lbl-" + type;
      JsonDoc desired = parse_json(R"({"filesystems": {"/dev/)" + type + R"(": {"type": ")" + type +
                                   R"(", "label": ")" + label + "\"}}}");
      rig.converge(desired);
      auto sig = sys::probe_signature(img);
      CHECK(sig.type == type);
      CHECK(sig.label == label);
      std::string hash = sha256_of(img);
      rig.converge(desired);  // nothing to do: the filesystem is not made again
      CHECK(sha256_of(img) == hash);
      if (type != "xfs" || have_tool("xfs_admin")) {
        std::string relabel = type == "vfat" ? "BOOT" : "new-" + type;
        JsonDoc renamed = parse_json(R"({"filesystems": {"/dev/)" + type + R"(": {"type": ")" + type +
                                     R"(", "label": ")" + relabel + "\"}}}");
        auto actions = rig.plan(renamed);
        REQUIRE(actions.size() == 1);
        CHECK(actions[0].op == Op::Update);
        rig.converge(renamed);
        CHECK(sys::probe_signature(img).label == relabel);
        CHECK(sys::probe_signature(img).uuid == sig.uuid);
      }
    }
  }
  if (!missing.empty()) SKIP("not installed here: " + missing + " (the other filesystems ran)");
}

TEST_CASE("a filesystem asked for by uuid is made with it", "[storage][image]") {
  if (!have_tool("mkfs.ext4")) SKIP("mkfs.ext4 is not installed");
  TempDir dir;
  Rig rig;
  std::string img = make_image(dir.path, "disk.img", 64 * kMiB);
  rig.host->devices["/dev/vdz"] = img;
  JsonDoc desired = parse_json(
      R"({"filesystems": {"/dev/vdz": {"type": "ext4", "uuid": "0b1e5f0e-6a3c-4d8e-9a3c-1f2e3d4c5b6a"}}})");
  rig.converge(desired);
  CHECK(sys::probe_signature(img).uuid == "0b1e5f0e-6a3c-4d8e-9a3c-1f2e3d4c5b6a");
}

TEST_CASE("mounts are made, recorded in fstab by UUID under the root, and kept", "[storage][image]") {
  if (!have_tool("mkfs.ext4")) SKIP("mkfs.ext4 is not installed");
  TempDir dir;
  Rig rig;
  std::string img = make_image(dir.path, "disk.img", 64 * kMiB);
  rig.host->devices["/dev/vdz"] = img;
  rig.host->devices["LABEL=data"] = img;
  rig.host->fstab = "# kept\nproc /proc proc defaults 0 0\n";
  JsonDoc desired = parse_json(R"({"filesystems": {"/dev/vdz": {"type": "ext4", "label": "data"}},
                                   "mounts": {"/srv/data": {"device": "/dev/vdz", "options": "noatime"}}})");
  rig.converge(desired);
  std::string uuid = sys::probe_signature(img).uuid;
  CHECK(rig.host->fstab ==
        "# kept\nproc /proc proc defaults 0 0\nUUID=" + uuid + "\t/srv/data\text4\tnoatime\t0\t2\n");
  REQUIRE(rig.host->mounted.size() == 1);
  CHECK(rig.host->mounted[0].target == "/target/srv/data");
  CHECK(rig.host->mounted[0].source == img);

  // The same mount named another way plans nothing.
  JsonDoc by_label =
      parse_json(R"({"mounts": {"/srv/data": {"device": "LABEL=data", "options": "noatime"}}})");
  CHECK(rig.plan(by_label).empty());

  // Changed options rewrite that one line, and remount.
  JsonDoc opts =
      parse_json(R"({"mounts": {"/srv/data": {"device": "/dev/vdz", "options": "noatime,nodev"}}})");
  rig.host->calls.clear();
  rig.converge(opts);
  CHECK(rig.host->fstab ==
        "# kept\nproc /proc proc defaults 0 0\nUUID=" + uuid + "\t/srv/data\text4\tnoatime,nodev\t0\t2\n");
  CHECK(std::find(rig.host->calls.begin(), rig.host->calls.end(), "remount /target/srv/data noatime,nodev") !=
        rig.host->calls.end());

  // Absent: unmounted and removed from fstab, other lines untouched.
  JsonDoc gone = parse_json(R"({"mounts": {"/srv/data": {"state": "absent"}}})");
  rig.converge(gone);
  CHECK(rig.host->fstab == "# kept\nproc /proc proc defaults 0 0\n");
  CHECK(rig.host->mounted.empty());
}

TEST_CASE("show reports what query sees and plans to nothing", "[storage][image]") {
  if (!have_tool("mkfs.ext4")) SKIP("mkfs.ext4 is not installed");
  TempDir dir;
  Rig rig;
  std::string img = make_image(dir.path, "disk.img", 64 * kMiB);
  rig.host->devices["/dev/vdz"] = img;
  JsonDoc desired = parse_json(R"({"devices": {"/dev/vdz": {"partition_table": "gpt", "partitions": [
      {"number": 1, "size": "8M", "type": "bios_grub"}, {"number": 2, "size": "remaining", "label": "data"}]}}})");
  rig.converge(desired);
  JsonDoc seen = rig.plugin->query(rig.ctx, &desired);
  std::string text = to_pretty_json(seen);
  CHECK(text.find("\"type\": \"bios_grub\"") != std::string::npos);
  CHECK(text.find("\"label\": \"data\"") != std::string::npos);
  // What query reports is itself a document that plans to nothing.
  auto actions = rig.plugin->diff(seen, seen);
  CHECK(actions.empty());
}

TEST_CASE("with wipe, growing a partition past its neighbour converges by rewriting the table",
          "[storage][image]") {
  TempDir dir;
  Rig rig;
  std::string img = make_image(dir.path, "disk.img", 200 * kMiB);
  rig.host->devices["/dev/vdz"] = img;
  JsonDoc first = parse_json(R"({"devices": {"/dev/vdz": {"partition_table": "gpt", "partitions": [
      {"number": 1, "size": "32M", "type": "efi"}, {"number": 2, "size": "16M", "label": "data"}]}}})");
  rig.converge(first);

  JsonDoc grown =
      parse_json(R"({"devices": {"/dev/vdz": {"partition_table": "gpt", "wipe": true, "partitions": [
      {"number": 1, "size": "64M", "type": "efi"}, {"number": 2, "size": "16M", "label": "data"}]}}})");
  auto actions = rig.plan(grown);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].destructive);
  CHECK(actions[0].summary.find("wipe /dev/vdz (partition 1: size did not match: want 64M, got 32M)") == 0);
  // Applied and planned again: nothing is left over (before, libfdisk said "partition 1 does not fit").
  rig.converge(grown, true);
  auto t = sys::read_partition_table(img);
  REQUIRE(t.partitions.size() == 2);
  CHECK(t.partitions[0].size == 64 * kMiB);
  CHECK(t.partitions[1].size == 16 * kMiB);
  CHECK(t.partitions[1].start >= t.partitions[0].start + t.partitions[0].size);
  CHECK(t.partitions[1].name == "data");
}
