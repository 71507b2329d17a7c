// The kvm plugin's Proxmox path (kvm/proxmox.h) with a runner that records argv and answers as qm and pvesh
// would: the command lines built, `qm config` read back, query, the plan errors only Proxmox has, and apply
// through the plugin. No real Proxmox host is involved (none is available to the suite).
#include <catch2/catch.hpp>

#include <map>

#include "context.h"
#include "error.h"
#include "json.h"
#include "kvm/diff.h"
#include "kvm/model.h"
#include "kvm/plugin.h"
#include "kvm/proxmox.h"
#include "text.h"

using namespace opdbus;
using namespace opdbus::kvm;

namespace {

JsonDoc doc(const std::string& text) {
  return parse_json(text);
}

const char* kConfig = R"(boot: order=scsi0;ide2;net0
cores: 2
cpu: host
ide2: local:iso/debian-12.iso,media=cdrom,size=628M
memory: 4096
meta: creation-qemu=8.1.5,ctime=1717000000
name: test-vm
net0: virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1
numa: 0
onboot: 1
ostype: l26
scsi0: local-lvm:vm-100-disk-0,iothread=1,size=32G
scsi1: local-lvm:vm-100-disk-1,size=512M
scsihw: virtio-scsi-single
smbios1: uuid=0a1b2c3d-0000-4000-8000-000000000000
sockets: 1
vmgenid: 00000000-0000-4000-8000-000000000001
)";

// Answers like pvesh/qm for the VMs in `configs` (VMID -> qm config text) and records every command.
struct FakeProxmox {
  std::vector<std::string> calls;
  std::map<long, std::string> configs;
  std::map<long, std::string> status;
  std::string operator()(const std::vector<std::string>& argv) {
    std::string line = join(argv, " ");
    if (argv[0] == "pvesh") {
      std::string out = "[";
      for (const auto& [id, cfg] : configs) {
        if (out.size() > 1) out += ",";
        std::string name;
        for (const auto& l : split(cfg, '\n')) {
          if (starts_with(l, "name: ")) name = l.substr(6);
        }
        out += "{\"vmid\":" + std::to_string(id) + ",\"name\":" + json_quoted(name) +
               ",\"status\":" + json_quoted(status[id]) + "}";
      }
      return out + "]";
    }
    if (argv[1] == "config") return configs.at(std::stol(argv[2]));
    calls.push_back(line);
    if (argv[1] == "create") {
      configs[std::stol(argv[2])] = "name: " + argv[4] + "\n";
      status[std::stol(argv[2])] = "stopped";
    }
    if (argv[1] == "start") status[std::stol(argv[2])] = "running";
    if (argv[1] == "destroy") configs.erase(std::stol(argv[2]));
    return "";
  }
};

}  // namespace

TEST_CASE("proxmox: the VMID is the trailing number of a VM id") {
  CHECK(proxmox::vmid_of("vm-100") == 100);
  CHECK(proxmox::vmid_of("100") == 100);
  CHECK(proxmox::vmid_of("web-1234") == 1234);
  CHECK_FALSE(proxmox::vmid_of("web"));
  CHECK_FALSE(proxmox::vmid_of("vm-99"));          // VMIDs start at 100
  CHECK_FALSE(proxmox::vmid_of("vm-1234567890"));  // at most 9 digits
  CHECK(proxmox::id_of(100) == "vm-100");
}

TEST_CASE("proxmox: the roadmap's VM becomes one qm create, each value its own argv element") {
  JsonDoc s = doc(R"({"vms": {"vm-100": {"name": "test-vm", "os_type": "l26", "cores": 2, "memory": 4096,
      "disks": [{"storage": "local-lvm", "size": "32G"}, {"size": "1.5G"}], "network": [{"bridge": "vmbr0", "model": "virtio"}],
      "autostart": false, "cdrom": "/var/lib/vz/template/iso/d.iso", "boot": ["cdrom", "hd"], "firmware": "uefi",
      "cpu_model": "host-passthrough", "virt_type": "qemu"}}})");
  Vm vm = parse_section(s).vms.at("vm-100");
  CHECK(proxmox::create_argv(100, vm) ==
        std::vector<std::string>{"qm",
                                 "create",
                                 "100",
                                 "--name",
                                 "test-vm",
                                 "--ostype",
                                 "l26",
                                 "--cores",
                                 "2",
                                 "--memory",
                                 "4096",
                                 "--cpu",
                                 "host",
                                 "--kvm",
                                 "0",
                                 "--bios",
                                 "ovmf",
                                 "--efidisk0",
                                 "local-lvm:1,efitype=4m",
                                 "--boot",
                                 "order=ide2;scsi0",
                                 "--ide2",
                                 "/var/lib/vz/template/iso/d.iso,media=cdrom",
                                 "--scsi0",
                                 "local-lvm:32",
                                 "--scsi1",
                                 "default:2",
                                 "--net0",
                                 "virtio,bridge=vmbr0",
                                 "--scsihw",
                                 "virtio-scsi-single",
                                 "--onboot",
                                 "0"});
  // qm set allocates only the disks the VM does not have yet.
  auto set = proxmox::set_argv(100, vm, 1);
  CHECK(std::find(set.begin(), set.end(), "--scsi0") == set.end());
  CHECK(std::find(set.begin(), set.end(), "--scsi1") != set.end());
  CHECK(proxmox::shutdown_argv(100, 30) ==
        std::vector<std::string>{"qm", "shutdown", "100", "--timeout", "30", "--forceStop", "1"});
  CHECK(proxmox::destroy_argv(100) == std::vector<std::string>{"qm", "destroy", "100", "--purge", "1"});
  CHECK(proxmox::resize_argv(100, "scsi0", 40ull << 30) ==
        std::vector<std::string>{"qm", "resize", "100", "scsi0", "40G"});
}

TEST_CASE("proxmox: qm config reads back as the section's VM") {
  Vm vm = proxmox::parse_config(kConfig);
  CHECK(vm.name == "test-vm");
  CHECK(vm.os_type == "l26");
  CHECK(vm.cores == 2);
  CHECK(vm.memory == 4096);
  CHECK(vm.cpu_model == "host-passthrough");
  CHECK(vm.firmware == "bios");
  CHECK(vm.virt_type == "kvm");
  CHECK(vm.boot == std::vector<std::string>{"hd", "cdrom", "network"});
  CHECK(vm.cdrom == "local:iso/debian-12.iso");
  REQUIRE(vm.disks->size() == 2);
  CHECK((*vm.disks)[0] == Disk{"local-lvm", 32ull << 30, ""});
  CHECK((*vm.disks)[1] == Disk{"local-lvm", 512ull << 20, ""});
  REQUIRE(vm.network->size() == 1);
  CHECK((*vm.network)[0] == Nic{"vmbr0", "virtio", "bc:24:11:2a:3b:4c"});
  CHECK(vm.autostart == true);
}

TEST_CASE("proxmox: query keys VMs by the document's id, and the roadmap document is in sync with it") {
  FakeProxmox pve;
  pve.configs[100] = kConfig;
  pve.status[100] = "running";
  proxmox::Runner run = std::ref(pve);
  auto want = doc(R"({"vms": {"vm-100": {"name": "test-vm", "os_type": "l26", "cores": 2, "memory": 4096,
      "disks": [{"storage": "local-lvm", "size": "32G"}, {"storage": "local-lvm", "size": "512M"}],
      "network": [{"bridge": "vmbr0", "model": "virtio"}], "autostart": true}}})");
  JsonDoc cur = proxmox::query_section(run, &want);
  CHECK(get_string(*member(cur, "x-target"), "backend") == "proxmox");
  CHECK(diff_section(want, cur).empty());
  JsonDoc shown = proxmox::query_section(run, nullptr);
  REQUIRE(member(*member(shown, "vms"), "vm-100"));
  CHECK(diff_section(shown, proxmox::query_section(run, &shown)).empty());
}

TEST_CASE("proxmox: plan errors for what qm cannot do as asked") {
  const std::string cur =
      R"({"vms": {"vm-100": {"name": "web", "state": "running"}}, "x-target": {"backend": "proxmox"}})";
  CHECK_THROWS_WITH(diff_section(doc(R"({"vms": {"vm-100": {"name": "web", "state": "absent"}}})"), doc(cur)),
                    Catch::Contains("`qm destroy` deletes the VM's disks"));
  CHECK(diff_section(doc(R"({"vms": {"vm-100": {"name": "web", "state": "absent", "delete_disks": true}}})"),
                     doc(cur))
            .size() == 1);
  CHECK_THROWS_WITH(diff_section(doc(R"({"vms": {"web": {}}})"), doc(cur)),
                    Catch::Contains("on Proxmox a VM id must end in its VMID"));
}

TEST_CASE("proxmox: the plugin applies a plan through qm when /etc/pve is there") {
  FakeProxmox pve;
  ProxmoxHost host;
  host.detect = [] { return true; };
  host.run = std::ref(pve);
  int libvirt_made = 0;
  auto plugin = make_plugin(
      [&](Context&) -> std::unique_ptr<Backend> {
        ++libvirt_made;
        throw Error(ErrorKind::Bug, "libvirt must not be used on Proxmox");
      },
      host);
  Context ctx(Options{});
  CHECK(plugin->probe(ctx).detail == "Proxmox VE (qm, pvesh)");
  auto want =
      doc(R"({"vms": {"vm-101": {"name": "db", "memory": 2048, "disks": [{"storage": "local-lvm", "size": 8}],
      "network": [{"bridge": "vmbr0"}], "autostart": true}}})");
  JsonDoc cur = plugin->query(ctx, &want);
  auto actions = plugin->diff(want, cur);
  std::sort(actions.begin(), actions.end(),
            [](const Action& x, const Action& y) { return action_less(x, y, 0, 0); });
  for (const auto& a : actions) plugin->apply(ctx, a);
  CHECK(pve.calls ==
        std::vector<std::string>{
            "qm create 101 --name db --memory 2048 --scsi0 local-lvm:8 --net0 virtio,bridge=vmbr0 "
            "--scsihw virtio-scsi-single --onboot 1",
            "qm set 101 --onboot 1", "qm start 101"});
  CHECK(libvirt_made == 0);
}

TEST_CASE("proxmox: an ISO volume id is a CD-ROM on Proxmox and a plan error with libvirt") {
  Diagnostics out;
  check_section(doc(R"({"vms": {"vm-100": {"cdrom": "local:iso/debian.iso"}}})"), "s.json", "/plugins/kvm",
                out);
  INFO((out.empty() ? "" : out[0].format()));
  CHECK(out.empty());
  check_section(doc(R"({"vms": {"vm-100": {"cdrom": "local:iso/../x"}}})"), "s.json", "/plugins/kvm", out);
  CHECK(out.size() == 1);
  auto want = doc(R"({"vms": {"vm-100": {"cdrom": "local:iso/debian.iso"}}})");
  CHECK_THROWS_WITH(diff_section(want, doc(R"({"vms": {}})")),
                    Catch::Contains("with libvirt give the ISO's path"));
  CHECK(diff_section(want, doc(R"({"vms": {}, "x-target": {"backend": "proxmox"}})")).size() == 2);
}
