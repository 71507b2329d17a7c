// op-dbus bootstrap, the pure part (src/app/bootstrap_model.h): settings and defaults, the choice of the
// target disk, partition names, retargeting the storage section, the base package list, the first-boot unit.
#include <catch2/catch.hpp>

#include "bootstrap_model.h"
#include "error.h"
#include "json.h"

using namespace opdbus;
using namespace opdbus::bootstrap;

TEST_CASE("bootstrap settings: defaults without a section, every field read with one") {
  Settings d = parse_settings(nullptr);
  CHECK(d.suite == "bookworm");
  CHECK(d.variant == "minbase");
  CHECK(d.kernel == "linux-image-amd64");
  CHECK(d.bootloader == Bootloader::GrubEfi);
  CHECK(d.finish == Finish::Nothing);
  CHECK(!d.device);
  CHECK(d.fqdn() == "debian");

  JsonDoc doc = parse_json(R"({"device": "/dev/sda", "hostname": "pve1", "domain": "example.com",
    "timezone": "Europe/Berlin", "locale": "en_US.UTF-8", "suite": "trixie", "mirror": "http://m/debian",
    "variant": "standard", "kernel": "linux-image-cloud-amd64", "kernel_args": "console=ttyS0",
    "bootloader": "both", "include": ["vim"], "root_password_hash": "$y$j9T$abc", "finish": "poweroff"})");
  Settings s = parse_settings(&doc);
  CHECK(s.device == std::optional<std::string>("/dev/sda"));
  CHECK(s.fqdn() == "pve1.example.com");
  CHECK(s.timezone == "Europe/Berlin");
  CHECK(s.locale == "en_US.UTF-8");
  CHECK(s.suite == "trixie");
  CHECK(s.mirror == "http://m/debian");
  CHECK(s.variant == "standard");
  CHECK(s.kernel == "linux-image-cloud-amd64");
  CHECK(s.kernel_args == "console=ttyS0");
  CHECK(s.bootloader == Bootloader::Both);
  CHECK(s.include == std::vector<std::string>{"vim"});
  CHECK(s.root_password_hash == std::optional<std::string>("$y$j9T$abc"));
  CHECK(s.finish == Finish::Poweroff);
}

TEST_CASE("bootstrap: the command line's DEVICE wins over bootstrap.device, and says so") {
  Settings s;
  s.device = "/dev/sda";
  CHECK(choose_device("/dev/vdb", s).device == "/dev/vdb");
  CHECK(choose_device("/dev/vdb", s).source == "command line");
  CHECK(choose_device("", s).device == "/dev/sda");
  CHECK(choose_device("", s).source == "bootstrap.device");
  CHECK_THROWS_AS(choose_device("", Settings{}), Error);
}

TEST_CASE("bootstrap: partition names follow the kernel's rule") {
  CHECK(partition_path("/dev/sda", 2) == "/dev/sda2");
  CHECK(partition_path("/dev/vdc", 1) == "/dev/vdc1");
  CHECK(partition_path("/dev/nvme0n1", 2) == "/dev/nvme0n1p2");
  CHECK(partition_path("/dev/loop3", 1) == "/dev/loop3p1");
  CHECK(partition_path("/dev/mmcblk0", 12) == "/dev/mmcblk0p12");
}

TEST_CASE("bootstrap: the storage section is retargeted to the install disk, keys and values") {
  JsonDoc storage = parse_json(R"({
    "devices": {"/dev/sda": {"partition_table": "gpt", "partitions": [{"number": 1, "size": "1M"}]}},
    "filesystems": {"/dev/sda2": {"type": "btrfs", "label": "root"}},
    "btrfs_subvolumes": {"/dev/sda2": [{"name": "@", "mount": "/"}]},
    "mounts": {"/": {"device": "/dev/sda2", "subvol": "@"}, "/data": {"device": "/dev/sdb1"},
               "/x": {"device": "/dev/sda22"}, "/y": {"device": "/dev/sdaa1"}, "/z": {"device": "LABEL=root"}}
  })");
  JsonDoc out = retarget_storage(storage, "/dev/sda", "/dev/nvme0n1");
  CHECK(out["devices"].HasMember("/dev/nvme0n1"));
  CHECK(!out["devices"].HasMember("/dev/sda"));
  CHECK(out["filesystems"].HasMember("/dev/nvme0n1p2"));
  CHECK(out["btrfs_subvolumes"].HasMember("/dev/nvme0n1p2"));
  CHECK(std::string(out["mounts"]["/"]["device"].GetString()) == "/dev/nvme0n1p2");
  CHECK(std::string(out["mounts"]["/x"]["device"].GetString()) == "/dev/nvme0n1p22");
  // Another disk, a disk whose name only starts the same, and tags stay as they are.
  CHECK(std::string(out["mounts"]["/data"]["device"].GetString()) == "/dev/sdb1");
  CHECK(std::string(out["mounts"]["/y"]["device"].GetString()) == "/dev/sdaa1");
  CHECK(std::string(out["mounts"]["/z"]["device"].GetString()) == "LABEL=root");
  // Mount points and labels are not devices.
  CHECK(out["mounts"].HasMember("/"));
  CHECK(std::string(out["filesystems"]["/dev/nvme0n1p2"]["label"].GetString()) == "root");
  CHECK(out["devices"]["/dev/nvme0n1"]["partitions"][0]["size"] == "1M");
}

TEST_CASE("bootstrap: retargeting between names that end in digits needs the 'p'") {
  JsonDoc storage = parse_json(R"({"devices": {"/dev/loop1": {}}, "mounts": {"/": {"device": "/dev/loop1p2"},
    "/a": {"device": "/dev/loop10"}, "/b": {"device": "/dev/loop12"}}})");
  JsonDoc out = retarget_storage(storage, "/dev/loop1", "/dev/vdc");
  CHECK(out["devices"].HasMember("/dev/vdc"));
  CHECK(std::string(out["mounts"]["/"]["device"].GetString()) == "/dev/vdc2");
  // /dev/loop10 is another loop device, not partition 0 of /dev/loop1.
  CHECK(std::string(out["mounts"]["/a"]["device"].GetString()) == "/dev/loop10");
  CHECK(std::string(out["mounts"]["/b"]["device"].GetString()) == "/dev/loop12");
  JsonDoc same = retarget_storage(storage, "/dev/loop1", "/dev/loop1");
  CHECK(same == storage);
}

TEST_CASE("bootstrap: base packages: an init, udev and the tools of the filesystems the document makes") {
  Settings s;
  s.include = {"vim", "systemd"};
  JsonDoc storage = parse_json(R"({"devices": {"/dev/sda": {"partitions": [
    {"number": 1, "size": "512M", "type": "efi", "filesystem": "vfat"},
    {"number": 2, "size": "remaining", "filesystem": "btrfs"}]}}})");
  auto p = base_packages(s, storage);
  CHECK(p == std::vector<std::string>{"btrfs-progs", "dbus", "dosfstools", "iproute2", "kmod", "systemd",
                                      "systemd-sysv", "udev", "vim"});
  JsonDoc xfs = parse_json(R"({"filesystems": {"/dev/sda1": {"type": "xfs"}}})");
  auto q = base_packages(Settings{}, xfs);
  CHECK(std::find(q.begin(), q.end(), "xfsprogs") != q.end());
  CHECK(std::find(q.begin(), q.end(), "btrfs-progs") == q.end());
}

TEST_CASE("bootstrap: bootloader packages and stage order") {
  CHECK(bootloader_packages(Bootloader::GrubBios) == std::vector<std::string>{"grub-pc"});
  CHECK(bootloader_packages(Bootloader::GrubEfi) == std::vector<std::string>{"grub-efi-amd64"});
  CHECK(bootloader_packages(Bootloader::SystemdBoot) == std::vector<std::string>{"systemd-boot"});
  CHECK(bootloader_preseed(Bootloader::GrubBios).empty());
  CHECK(bootloader_preseed(Bootloader::SystemdBoot).empty());
  CHECK(bootloader_preseed(Bootloader::GrubEfi) ==
        "grub-efi-amd64 grub2/force_efi_extra_removable boolean true\n"
        "grub-efi-amd64 grub2/update_nvram boolean false\n");
  CHECK(bootloader_preseed(Bootloader::Both) == bootloader_preseed(Bootloader::GrubEfi));
  std::vector<std::string> names;
  for (const auto& st : stages()) names.emplace_back(st.name);
  CHECK(names == std::vector<std::string>{"check", "storage", "base", "configure", "chroot", "packages",
                                          "plugins", "op-dbus", "bootloader", "finish"});
}

TEST_CASE("bootstrap: the first-boot unit applies only the runtime plugins, once") {
  CHECK(firstboot_unit({}).empty());
  CHECK(runtime_plugin("network"));
  CHECK(runtime_plugin("kvm"));
  CHECK(!runtime_plugin("users"));
  std::string u = firstboot_unit({"network", "lxc"});
  CHECK(u.find("ExecStart=/usr/bin/op-dbus apply --plugin network --plugin lxc /etc/op-dbus/state.json") !=
        std::string::npos);
  CHECK(u.find("ConditionPathExists=!/var/lib/op-dbus/firstboot.done") != std::string::npos);
  CHECK(u.find("WantedBy=multi-user.target") != std::string::npos);
  // After the plugins' own boot units: two applies at once would meet on the apply lock.
  CHECK(
      u.find(
          "After=network-online.target dbus.service libvirtd.service lxc.service op-dbus-network.service") !=
      std::string::npos);
  CHECK(u.find("op-dbus-firewall.service") != std::string::npos);
}

TEST_CASE("bootstrap base cache: the id depends on the key and the architecture") {
  const std::string key = "suite=bookworm\nvariant=minbase\nmirror=http://m/debian\ninclude=a,b\n";
  std::string id = base_cache_id(key, "amd64");
  CHECK(id.size() == 64);
  CHECK(id == base_cache_id(key, "amd64"));
  CHECK(id != base_cache_id(key, "arm64"));
  CHECK(id != base_cache_id("suite=trixie\nvariant=minbase\nmirror=http://m/debian\ninclude=a,b\n", "amd64"));
}

TEST_CASE("bootstrap base cache: the record round-trips and a partial one is refused") {
  BaseCacheRecord r{1234, std::string(64, 'a'), "suite=bookworm\ninclude=a\narch=amd64\n"};
  std::string text = format_base_record(r);
  auto back = parse_base_record(text);
  REQUIRE(back);
  CHECK(back->size == 1234);
  CHECK(back->sha256 == r.sha256);
  CHECK(back->key == r.key);
  // Every cut short of the whole text is refused.
  for (size_t n = 0; n < text.size(); ++n) CHECK(!parse_base_record(text.substr(0, n)));
  CHECK(!parse_base_record("size=12x\nsha256=" + std::string(64, 'a') + "\narch=amd64\n"));
  CHECK(!parse_base_record("size=12\nsha256=" + std::string(63, 'a') + "\narch=amd64\n"));
  CHECK(!parse_base_record("size=12\nsha256=" + std::string(64, 'G') + "\narch=amd64\n"));
}

TEST_CASE("bootstrap base cache: when the cached base system is used") {
  const std::string key = "suite=bookworm\ninclude=a\narch=amd64\n";
  std::string record = format_base_record({500, std::string(64, 'b'), key});
  auto use = choose_base_source(false, key, record, 500);
  CHECK(use.from_cache);
  CHECK(use.reason == "base system from the cache");
  // --no-cache forces debootstrap.
  auto forced = choose_base_source(true, key, record, 500);
  CHECK(!forced.from_cache);
  CHECK(forced.reason == "--no-cache: debootstrap");
  // Nothing cached, only one half, other settings, a size that differs (a partial copy), a damaged record.
  CHECK(!choose_base_source(false, key, std::nullopt, std::nullopt).from_cache);
  CHECK(!choose_base_source(false, key, std::nullopt, 500).from_cache);
  CHECK(!choose_base_source(false, key, record, std::nullopt).from_cache);
  CHECK(!choose_base_source(false, "suite=trixie\ninclude=a\narch=amd64\n", record, 500).from_cache);
  auto partial = choose_base_source(false, key, record, 499);
  CHECK(!partial.from_cache);
  CHECK(partial.reason.find("partial") != std::string::npos);
  CHECK(!choose_base_source(false, key, record.substr(0, record.size() - 3), 500).from_cache);
  CHECK(!choose_base_source(false, key, std::string("garbage"), 500).from_cache);
}

TEST_CASE("bootstrap installed-system cache: what the packages stage installs") {
  Settings s;
  CHECK(stage_packages(s, false) == std::vector<std::string>{"linux-image-amd64", "grub-efi-amd64"});
  s.locale = "de_DE.UTF-8";
  s.bootloader = Bootloader::Both;
  s.kernel = "linux-image-cloud-amd64";
  CHECK(stage_packages(s, true) == std::vector<std::string>{"linux-image-cloud-amd64", "grub-efi-amd64",
                                                            "grub-pc-bin", "locales", "packagekit"});
  s.locale = "POSIX";
  CHECK(stage_packages(s, false) ==
        std::vector<std::string>{"linux-image-cloud-amd64", "grub-efi-amd64", "grub-pc-bin"});
}

TEST_CASE("bootstrap installed-system cache: the key follows everything that shapes the tree") {
  const std::string base = "suite=bookworm\nvariant=minbase\nmirror=http://m/debian\ninclude=a,b\n";
  const std::vector<std::string> pkgs = {"linux-image-amd64", "grub-efi-amd64", "packagekit"};
  const std::optional<std::string> pk = std::string(R"({"packages":{"openssh-server":{}}})");
  std::string key = packages_cache_key(base, pkgs, "grub preseed\n", "C.UTF-8", pk);
  CHECK(key.rfind(base, 0) == 0);
  CHECK(key.find("packages=grub-efi-amd64,linux-image-amd64,packagekit\n") != std::string::npos);
  CHECK(key.back() == '\n');
  // The order of the packages does not matter; each input does.
  CHECK(key == packages_cache_key(base, {"packagekit", "grub-efi-amd64", "linux-image-amd64"},
                                  "grub preseed\n", "C.UTF-8", pk));
  CHECK(key != packages_cache_key("suite=trixie\n", pkgs, "grub preseed\n", "C.UTF-8", pk));
  CHECK(key != packages_cache_key(base, {"linux-image-amd64", "grub-pc"}, "grub preseed\n", "C.UTF-8", pk));
  CHECK(key != packages_cache_key(base, pkgs, "", "C.UTF-8", pk));
  CHECK(key != packages_cache_key(base, pkgs, "grub preseed\n", "de_DE.UTF-8", pk));
  CHECK(key != packages_cache_key(base, pkgs, "grub preseed\n", "C.UTF-8", std::nullopt));
  CHECK(key != packages_cache_key(base, pkgs, "grub preseed\n", "C.UTF-8",
                                  std::string(R"({"packages":{"nginx":{}}})")));
  // The packagekit section is in it as a digest (the key stays one line per input).
  CHECK(key.find("openssh-server") == std::string::npos);
  // A base entry and an installed-system entry never share a name.
  CHECK(base_cache_id(key, "amd64") != base_cache_id(base, "amd64"));
}

TEST_CASE("bootstrap installed-system cache: when the cached installed system is used") {
  const std::string key = "suite=bookworm\npackages=a\nformat=1\narch=amd64\n";
  std::string record = format_base_record({900, std::string(64, 'c'), key});
  auto use = choose_packages_source(false, key, record, 900);
  CHECK(use.from_cache);
  CHECK(use.reason == "installed system from the cache");
  CHECK(choose_packages_source(true, key, record, 900).reason == "--no-cache: the base system, then apt");
  auto none = choose_packages_source(false, key, std::nullopt, std::nullopt);
  CHECK(!none.from_cache);
  CHECK(none.reason == "no cached installed system for these settings: the base system, then apt");
  CHECK(!choose_packages_source(false, key, record, 899).from_cache);
  CHECK(!choose_packages_source(false, "suite=bookworm\npackages=b\nformat=1\narch=amd64\n", record, 900)
             .from_cache);
}

TEST_CASE("bootstrap caches: an entry someone else could have written is not trusted") {
  CHECK(cache_trust_problem("/c/packages", 0, 040755, 0).empty());
  CHECK(cache_trust_problem("/c/packages/x.tar", 0, 0100644, 0).empty());
  // bootstrap run by another uid (a test harness) may use its own cache
  CHECK(cache_trust_problem("/c", 1000, 040700, 1000).empty());
  CHECK(cache_trust_problem("/c", 1000, 040755, 0) == "/c belongs to uid 1000, not to root");
  CHECK(cache_trust_problem("/c", 0, 041777, 0) == "/c is writable by others (mode 1777)");
  CHECK(cache_trust_problem("/c/x.key", 0, 0100664, 0) == "/c/x.key is writable by its group (mode 0664)");
}

TEST_CASE("bootstrap caches: tar's \"file changed\" is forgiven only for the virtual filesystems' mount points") {
  CHECK(tar_only_mount_points_changed("tar: ./sys: file changed as we read it\n"));
  CHECK(tar_only_mount_points_changed("tar: ./dev: file changed as we read it\ntar: ./run: file changed as we read it"));
  CHECK_FALSE(tar_only_mount_points_changed(""));
  CHECK_FALSE(tar_only_mount_points_changed("tar: ./etc/passwd: file changed as we read it\n"));
  CHECK_FALSE(tar_only_mount_points_changed("tar: ./sys/kernel: file changed as we read it\n"));
  CHECK_FALSE(tar_only_mount_points_changed("tar: ./sys: file changed as we read it\ntar: ./usr: Cannot open\n"));
  CHECK_FALSE(tar_only_mount_points_changed("tar: ./sys: Cannot savedir: Permission denied\n"));
}
