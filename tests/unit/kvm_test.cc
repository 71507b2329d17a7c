// The kvm plugin without libvirtd: XML reading and writing, sizes, check(), the diff's plan errors, and apply
// against a fake backend that records what it was asked. The diff's plans are fixture cases
// (tests/fixtures/kvm/); the real libvirtd is tests/integration/kvm/run.sh.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "context.h"
#include "error.h"
#include "json.h"
#include "kvm/apply.h"
#include "kvm/diff.h"
#include "kvm/model.h"
#include "kvm/ops.h"
#include "kvm/plugin.h"
#include "kvm/query.h"
#include "kvm/xml.h"
#include "text.h"

using namespace opdbus;
using namespace opdbus::kvm;

namespace {

// What libvirt 9.0 gave back (virsh dumpxml --inactive) for a domain op-dbus defined: it added an emulator,
// controllers, PCI addresses, a MAC, input devices, a memballoon and a CPU model, none of which the document
// owns.
const char* kLibvirtXml = R"(<domain type='qemu'>
  <name>kvmt-dev</name>
  <uuid>b26448e6-a06b-4b1b-857e-a742fe740c2c</uuid>
  <metadata>
    <opdbus:vm xmlns:opdbus="https://op-dbus.invalid/xmlns/kvm/1">
      <opdbus:os_type>other</opdbus:os_type>
    </opdbus:vm>
  </metadata>
  <memory unit='KiB'>262144</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='cdrom'/>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <clock offset='utc'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='raw'/>
      <source pool='kvmt-pool' volume='kvmt-dev-disk0.img'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/images/extra.raw'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/tmp/kvm &amp; &#x3c;iso&#62;/guest.iso'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <controller type='pci' index='0' model='pci-root'/>
    <interface type='bridge'>
      <mac address='52:54:00:C8:05:D3'/>
      <source bridge='kvmbr-t0'/>
      <model type='virtio'/>
    </interface>
    <!-- a comment libvirt never writes, but XML allows -->
    <serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
    <memballoon model='virtio'/>
  </devices>
</domain>
)";

JsonDoc doc(const std::string& text) {
  return parse_json(text);
}

// Records every call; domains and volumes live in maps so apply's re-reads see earlier calls.
class FakeBackend : public Backend {
 public:
  std::vector<std::string> calls;
  std::map<std::string, Domain> domains;
  std::map<std::string, std::vector<Volume>> pools{{"default", {}}, {"kvmt-pool", {}}};
  bool ignores_shutdown = false;  // a guest without ACPI: only destroy stops it
  std::set<std::string> missing;  // host files file_exists() denies

  std::string describe() override { return "fake libvirt"; }
  std::vector<Domain> list_domains() override {
    std::vector<Domain> out;
    for (auto& [n, d] : domains) out.push_back(d);
    return out;
  }
  std::optional<Domain> domain(const std::string& name) override {
    auto it = domains.find(name);
    if (it == domains.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> list_pools() override {
    std::vector<std::string> out;
    for (auto& [n, v] : pools) out.push_back(n);
    return out;
  }
  std::vector<Volume> list_volumes(const std::string& pool) override {
    if (!pools.count(pool)) throw Error(ErrorKind::BackendError, "no pool " + pool);
    return pools[pool];
  }
  void create_volume(const std::string& pool, const std::string& xml) override {
    calls.push_back("create_volume " + pool);
    auto root = parse_xml(xml);
    Volume v{pool, root.child("name")->text, "/pools/" + pool + "/" + root.child("name")->text,
             std::stoull(root.child("capacity")->text), xml};
    pools[pool].push_back(v);
  }
  void resize_volume(const std::string& pool, const std::string& volume, uint64_t capacity) override {
    calls.push_back("resize_volume " + pool + "/" + volume + " " + std::to_string(capacity));
  }
  void delete_volume(const std::string& pool, const std::string& volume) override {
    calls.push_back("delete_volume " + pool + "/" + volume);
  }
  void define_domain(const std::string& xml) override {
    auto parsed = parse_domain_xml(xml);
    calls.push_back("define " + parsed.vm.name);
    last_xml = xml;
    Domain& d = domains[parsed.vm.name];
    d.name = parsed.vm.name;
    d.xml = xml;
    if (d.state.empty()) d.state = "shutoff";
  }
  void start(const std::string& name) override {
    calls.push_back("start " + name);
    domains.at(name).state = "running";
  }
  void shutdown(const std::string& name) override {
    calls.push_back("shutdown " + name);
    if (!ignores_shutdown) domains.at(name).state = "shutoff";
  }
  void destroy(const std::string& name) override {
    calls.push_back("destroy " + name);
    domains.at(name).state = "shutoff";
  }
  void set_autostart(const std::string& name, bool on) override {
    calls.push_back(std::string("autostart ") + name + (on ? " on" : " off"));
    domains.at(name).autostart = on;
  }
  void undefine(const std::string& name) override {
    calls.push_back("undefine " + name);
    domains.erase(name);
  }
  std::optional<std::string> state(const std::string& name) override {
    auto it = domains.find(name);
    if (it == domains.end()) return std::nullopt;
    return it->second.state;
  }
  void write_seed(const std::string& path, const SeedFiles& files) override {
    calls.push_back("write_seed " + path);
    seeds[path] = files;
  }
  void remove_seed(const std::string& path) override { calls.push_back("remove_seed " + path); }
  bool file_exists(const std::string& path) override { return !missing.count(path); }
  std::optional<Image> image(const std::string& path) override {
    if (auto it = images.find(path); it != images.end()) return it->second;
    return std::nullopt;
  }
  std::map<std::string, Image> images;  // what image() reports
  void sleep_ms(int ms) override { slept_ms += ms; }
  std::map<std::string, SeedFiles> seeds;

  int slept_ms = 0;
  std::string last_xml;
};

void apply_all(Backend& b, const std::vector<Action>& actions) {
  for (const auto& a : actions) apply_action(b, a);
}

JsonDoc current_of(Backend& b, const JsonValue& desired) {
  return query_section(b, &desired);
}

}  // namespace

TEST_CASE("libvirt's XML is read for the fields the document owns, and nothing else") {
  ParsedDomain p = parse_domain_xml(kLibvirtXml);
  CHECK(p.vm.name == "kvmt-dev");
  CHECK(p.vm.virt_type == "qemu");
  CHECK(p.vm.os_type == "other");
  CHECK(p.vm.memory == 256);
  CHECK(p.vm.cores == 1);
  CHECK(p.vm.cpu_model == "qemu64");
  CHECK(p.vm.firmware == "bios");
  CHECK(p.vm.boot == std::vector<std::string>{"cdrom", "hd"});
  CHECK(p.vm.cdrom == "/tmp/kvm & <iso>/guest.iso");
  REQUIRE(p.disks.size() == 2);
  CHECK(p.disks[0].pool == "kvmt-pool");
  CHECK(p.disks[0].volume == "kvmt-dev-disk0.img");
  CHECK(p.disks[1].path == "/var/lib/images/extra.raw");
  REQUIRE(p.vm.network->size() == 1);
  CHECK((*p.vm.network)[0].bridge == "kvmbr-t0");
  CHECK((*p.vm.network)[0].mac == "52:54:00:c8:05:d3");
  CHECK(p.preserved.uuid == "b26448e6-a06b-4b1b-857e-a742fe740c2c");
}

TEST_CASE("the generated XML escapes every value and reads back as the same VM") {
  Vm vm;
  vm.id = vm.name = "kvmt-a";
  vm.virt_type = "qemu";
  vm.memory = 256;
  vm.cores = 2;
  vm.os_type = "l26";
  vm.firmware = "uefi";
  vm.cpu_model = "host-passthrough";
  vm.boot = std::vector<std::string>{"cdrom", "hd"};
  vm.cdrom = "/srv/it's <a> \"iso\" & more.iso";
  vm.disks = std::vector<Disk>{{"kvmt-pool", 64u << 20, ""}, {"default", 1u << 30, ""}};
  vm.network = std::vector<Nic>{{"kvmbr-t0", "e1000", ""}, {"br1", "virtio", "52:54:00:00:00:09"}};
  Preserved keep;
  keep.uuid = "b26448e6-a06b-4b1b-857e-a742fe740c2c";
  keep.macs = {"52:54:00:aa:bb:cc"};
  std::string xml = render_domain_xml(vm, keep);
  CHECK(xml.find("it&apos;s &lt;a&gt; &quot;iso&quot; &amp; more") != std::string::npos);
  CHECK(xml.find("<uuid>b26448e6-a06b-4b1b-857e-a742fe740c2c</uuid>") != std::string::npos);
  ParsedDomain back = parse_domain_xml(xml);
  CHECK(back.vm.cdrom == vm.cdrom);
  CHECK(back.vm.memory == 256);
  CHECK(back.vm.cores == 2);
  CHECK(back.vm.os_type == "l26");
  CHECK(back.vm.firmware == "uefi");
  CHECK(back.vm.cpu_model == "host-passthrough");
  CHECK(back.vm.boot == vm.boot);
  REQUIRE(back.disks.size() == 2);
  CHECK(back.disks[0].pool == "kvmt-pool");
  CHECK(back.disks[0].volume == "kvmt-a-disk0.img");
  CHECK(back.disks[1].volume == "kvmt-a-disk1.img");
  REQUIRE(back.vm.network->size() == 2);
  // The first NIC keeps the MAC libvirt chose; the second gets the document's.
  CHECK((*back.vm.network)[0].mac == "52:54:00:aa:bb:cc");
  CHECK((*back.vm.network)[0].model == "e1000");
  CHECK((*back.vm.network)[1].mac == "52:54:00:00:00:09");
  CHECK(xml.find(console_log_path("kvmt-a")) != std::string::npos);
}

TEST_CASE("the XML reader refuses what is not well-formed, with the byte offset") {
  for (const char* bad : {"", "<domain>", "<domain></dom>", "<a b='1' b='2'/>", "<a>&nope;</a>",
                          "<!DOCTYPE x><a/>", "<a/><b/>", "<a x=1/>", "<a>&#xZZ;</a>"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_xml(bad), Error);
  }
  CHECK_THROWS_WITH(parse_domain_xml("<network/>"), Catch::Contains("not <domain>"));
  XmlNode n = parse_xml("<?xml version='1.0'?><a k=\"&lt;&#38;\"><![CDATA[<raw>]]>&#233;</a>");
  CHECK(n.attr("k") == "<&");
  CHECK(n.text == "<raw>\xC3\xA9");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  CHECK_THROWS_WITH(parse_xml(deep), Catch::Contains("nested too deeply"));
}

TEST_CASE("sizes: a number is GiB, units are binary, the shortest exact form is printed") {
  CHECK(parse_size(doc("32")) == 32ull << 30);
  CHECK(parse_size(doc("\"32G\"")) == 32ull << 30);
  CHECK(parse_size(doc("\"32GiB\"")) == 32ull << 30);
  CHECK(parse_size(doc("\"512M\"")) == 512ull << 20);
  CHECK(parse_size(doc("\"1.5T\"")) == 3ull << 39);
  CHECK(parse_size(doc("\"100B\"")) == 100u);
  CHECK_FALSE(parse_size(doc("\"0G\"")));
  CHECK_FALSE(parse_size(doc("\"9999999999T\"")));
  CHECK(size_text(32ull << 30) == "32G");
  CHECK(size_text(3ull << 39) == "1536G");
  CHECK(size_text(1ull << 40) == "1T");
  CHECK(size_text(64ull << 20) == "64M");
  CHECK(size_text(100) == "100B");
}

TEST_CASE("check refuses names, pools, bridges and paths that could escape or break a line") {
  auto problems = [](const std::string& section) {
    Diagnostics out;
    check_section(doc(section), "s.json", "/plugins/kvm", out);
    std::string all;
    for (const auto& d : out) all += d.format() + "\n";
    return all;
  };
  CHECK(problems(R"({"vms": {"vm-100": {"name": "test-vm", "disks": [{"storage": "local-lvm", "size": "32G"}],
                     "network": [{"bridge": "vmbr0"}], "cdrom": "/srv/iso/a.iso"}}})") == "");
  for (std::string name : std::vector<std::string>{"a<b", "a&b", "a\nb", "a/b", "..", ".hidden", "-f",
                                                   std::string(200, 'x'), "a b"}) {
    INFO(name);
    std::string quoted = json_quoted(name);
    CHECK_THAT(problems(R"({"vms": {"vm": {"name": )" + quoted + "}}}"),
               Catch::Contains("/plugins/kvm/vms/vm/name"));
    CHECK_THAT(problems(R"({"vms": {)" + quoted + ": {}}}"),
               Catch::Contains("a VM id usable as a domain name"));
    CHECK_THAT(problems(R"({"vms": {"vm": {"disks": [{"storage": )" + quoted + R"(, "size": 1}]}}})"),
               Catch::Contains("/plugins/kvm/vms/vm/disks/0/storage"));
    CHECK_THAT(problems(R"({"vms": {"vm": {"network": [{"bridge": )" + quoted + "}]}}}"),
               Catch::Contains("/plugins/kvm/vms/vm/network/0/bridge"));
  }
  CHECK_THAT(problems(R"({"vms": {"vm": {"cdrom": "/srv/../etc/shadow"}}})"), Catch::Contains("cdrom"));
  CHECK_THAT(problems(R"({"vms": {"vm": {"cdrom": "/srv/a\nb.iso"}}})"), Catch::Contains("cdrom"));
  CHECK_THAT(problems(R"({"vms": {"a": {"name": "web"}, "b": {"name": "web"}}})"),
             Catch::Contains("names domain \"web\" as VM \"a\" does"));
  CHECK_THAT(problems(R"({"vms": {"a": {"delete_disks": true}}})"), Catch::Contains("only means something"));
  CHECK_THAT(problems(R"({"vms": {"a": {"network": [{"model": "virtio"}]}}})"),
             Catch::Contains("needs a \"bridge\""));
}

TEST_CASE("diff refuses what can never be reached: a disk that would shrink or move, a missing pool") {
  const std::string cur =
      R"({"vms": {"web": {"disks": [{"storage": "default", "size": "32G"}], "state": "running"}},
                              "x-target": {"pools": ["default"]}})";
  CHECK_THROWS_WITH(
      diff_section(doc(R"({"vms": {"web": {"disks": [{"size": 16}]}}})"), doc(cur)),
      Catch::Contains("kvm/vms/web/disks/0: the disk is 32G; shrinking it to 16G is not supported"));
  CHECK_THROWS_WITH(
      diff_section(doc(R"({"vms": {"web": {"disks": [{"storage": "other", "size": 32}]}}})"), doc(cur)),
      Catch::Contains("moving it to \"other\" is not supported"));
  CHECK_THROWS_WITH(
      diff_section(doc(R"({"vms": {"new": {"disks": [{"storage": "nopool", "size": 1}]}}})"), doc(cur)),
      Catch::Contains("kvm/vms/new/disks/0: storage pool \"nopool\" does not exist"));
  CHECK_THROWS_WITH(diff_section(doc(R"({"vms": {"new": {"disks": [{"storage": "default"}]}}})"), doc(cur)),
                    Catch::Contains("kvm/vms/new/disks/0: a new disk needs a \"size\""));
  // A disk whose volume is in no active pool has no known size: growing it cannot be planned, but a document
  // that gives no size (as show prints it) is in sync.
  const std::string lost = R"({"vms": {"web": {"disks": [{"storage": "gone"}], "state": "running"}}})";
  CHECK_THROWS_WITH(
      diff_section(doc(R"({"vms": {"web": {"disks": [{"storage": "gone", "size": 8}]}}})"), doc(lost)),
      Catch::Contains("its size is unknown"));
  CHECK(diff_section(doc(lost), doc(lost)).empty());
  try {
    diff_section(doc(R"({"vms": {"web": {"disks": [{"size": 16}]}}})"), doc(cur));
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
  }
}

TEST_CASE("apply creates the volume, defines, sets autostart and starts; a second plan is empty") {
  FakeBackend b;
  auto want = doc(R"({"vms": {"vm-1": {"name": "kvmt-one", "virt_type": "qemu", "memory": 256, "cores": 1,
      "disks": [{"storage": "kvmt-pool", "size": "64M"}], "network": [{"bridge": "kvmbr-t0"}], "autostart": true,
      "boot": ["hd"], "os_type": "l26"}}})");
  auto actions = diff_section(want, current_of(b, want));
  std::sort(actions.begin(), actions.end(),
            [](const Action& x, const Action& y) { return action_less(x, y, 0, 0); });
  apply_all(b, actions);
  CHECK(b.calls == std::vector<std::string>{"create_volume kvmt-pool", "define kvmt-one",
                                            "autostart kvmt-one on", "start kvmt-one"});
  CHECK(b.pools["kvmt-pool"].at(0).name == "kvmt-one-disk0.img");
  CHECK(b.pools["kvmt-pool"].at(0).capacity == 64u << 20);
  JsonDoc cur = current_of(b, want);
  CHECK(diff_section(want, cur).empty());
  // Re-running an action already done changes nothing but what it must (idempotent).
  b.calls.clear();
  apply_all(b, actions);
  CHECK(b.calls == std::vector<std::string>{"define kvmt-one", "autostart kvmt-one on"});
}

TEST_CASE("a redefinition keeps the UUID, libvirt's MAC, the disk volumes and what the document leaves out") {
  FakeBackend b;
  b.domains["kvmt-dev"] =
      Domain{"kvmt-dev", "b26448e6-a06b-4b1b-857e-a742fe740c2c", kLibvirtXml, "running", true, false};
  auto want = doc(R"({"vms": {"kvmt-dev": {"memory": 512}}})");
  auto actions = diff_section(want, current_of(b, want));
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].needs_reboot);
  apply_all(b, actions);
  CHECK(b.calls == std::vector<std::string>{"define kvmt-dev"});  // no restart without "restart": "allowed"
  ParsedDomain p = parse_domain_xml(b.last_xml);
  CHECK(p.preserved.uuid == "b26448e6-a06b-4b1b-857e-a742fe740c2c");
  CHECK(p.vm.memory == 512);
  CHECK(p.vm.cores == 1);
  CHECK(p.vm.os_type == "other");
  CHECK(p.vm.cdrom == "/tmp/kvm & <iso>/guest.iso");
  REQUIRE(p.disks.size() == 2);
  CHECK(p.disks[0].volume == "kvmt-dev-disk0.img");
  CHECK(p.disks[1].path == "/var/lib/images/extra.raw");
  CHECK((*p.vm.network)[0].mac == "52:54:00:c8:05:d3");
}

TEST_CASE("restart allowed: define, then a graceful shutdown forced off after the timeout, then start") {
  FakeBackend b;
  b.ignores_shutdown = true;
  b.domains["kvmt-dev"] = Domain{"kvmt-dev", "", kLibvirtXml, "running", true, false};
  auto want = doc(R"({"vms": {"kvmt-dev": {"memory": 512, "restart": "allowed", "shutdown_timeout": 2}}})");
  auto actions = diff_section(want, current_of(b, want));
  REQUIRE(actions.size() == 1);
  CHECK_FALSE(actions[0].needs_reboot);
  apply_all(b, actions);
  CHECK(b.calls == std::vector<std::string>{"define kvmt-dev", "shutdown kvmt-dev", "destroy kvmt-dev",
                                            "start kvmt-dev"});
  CHECK(b.slept_ms == 2000);
}

TEST_CASE("absent undefines and keeps the disks unless delete_disks") {
  for (bool del : {false, true}) {
    FakeBackend b;
    b.pools["kvmt-pool"].push_back({"kvmt-pool", "kvmt-dev-disk0.img", "/p/kvmt-dev-disk0.img", 1, ""});
    b.pools["default"].push_back({"default", "extra.raw", "/var/lib/images/extra.raw", 1, ""});
    b.domains["kvmt-dev"] = Domain{"kvmt-dev", "", kLibvirtXml, "running", true, false};
    auto want = doc(std::string(R"({"vms": {"kvmt-dev": {"state": "absent", "delete_disks": )") +
                    (del ? "true" : "false") + "}}}");
    auto actions = diff_section(want, current_of(b, want));
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].destructive);
    apply_all(b, actions);
    std::vector<std::string> expected{"shutdown kvmt-dev", "undefine kvmt-dev"};
    if (del) {
      expected.push_back("delete_volume kvmt-pool/kvmt-dev-disk0.img");
      expected.push_back("delete_volume default/extra.raw");
    }
    CHECK(b.calls == expected);
    CHECK(diff_section(want, current_of(b, want)).empty());
  }
}

TEST_CASE("query reports a domain under the document's id, and show round-trips to an empty plan") {
  FakeBackend b;
  b.pools["kvmt-pool"].push_back({"kvmt-pool", "kvmt-dev-disk0.img", "/p/kvmt-dev-disk0.img", 64u << 20, ""});
  b.pools["default"].push_back({"default", "extra.raw", "/var/lib/images/extra.raw", 1u << 30, ""});
  b.domains["kvmt-dev"] = Domain{"kvmt-dev", "", kLibvirtXml, "paused", true, true};
  auto want = doc(R"({"vms": {"vm-7": {"name": "kvmt-dev"}}})");
  JsonDoc cur = current_of(b, want);
  const JsonValue* vm = member(*member(cur, "vms"), "vm-7");
  REQUIRE(vm);
  CHECK(get_string(*vm, "name") == "kvmt-dev");
  CHECK(get_string(*vm, "state") == "running");
  CHECK(to_json((*vm)["disks"]) ==
        R"([{"storage":"kvmt-pool","size":"64M"},{"storage":"default","size":"1G"}])");
  JsonDoc shown = query_section(b, nullptr);
  CHECK_FALSE(member(shown, "x-target"));
  CHECK(diff_section(shown, query_section(b, &shown)).empty());
}

TEST_CASE("--root: the plugin says it is unavailable and refuses to plan") {
  Options o;
  o.root = "/tmp";
  Context ctx(o);
  int made = 0;
  auto plugin = make_plugin([&](Context&) {
    ++made;
    return std::make_unique<FakeBackend>();
  });
  auto probe = plugin->probe(ctx);
  CHECK_FALSE(probe.available);
  CHECK_THAT(probe.detail, Catch::Contains("--root"));
  CHECK_THROWS_AS(plugin->query(ctx, nullptr), Error);
  CHECK(made == 0);
}

TEST_CASE("cloud-init: the seed is generated from the document, every value a quoted YAML string") {
  auto ci =
      doc(R"({"user": "admin", "hostname": "web1", "ssh_authorized_keys": ["ssh-ed25519 AAAAC3 a\"b: c"],
                    "network": {"address": "192.0.2.10/24", "gateway": "192.0.2.1", "dns": ["192.0.2.53"]}})");
  SeedFiles f = render_seed("kvmt-a", canonical_json(ci));
  CHECK_THAT(f.meta_data, Catch::StartsWith("instance-id: \"kvmt-a-"));
  CHECK_THAT(f.meta_data, Catch::Contains("local-hostname: \"web1\""));
  CHECK_THAT(f.user_data, Catch::StartsWith("#cloud-config\n"));
  CHECK_THAT(f.user_data, Catch::Contains("  - name: \"admin\""));
  CHECK_THAT(f.user_data, Catch::Contains("ssh_authorized_keys: [\"ssh-ed25519 AAAAC3 a\\\"b: c\"]"));
  CHECK_THAT(f.network_config, Catch::Contains("addresses: [\"192.0.2.10/24\"]"));
  CHECK_THAT(f.network_config, Catch::Contains("via: \"192.0.2.1\""));
  CHECK_THAT(f.network_config, Catch::Contains("addresses: [\"192.0.2.53\"]"));
  // Another content, another instance-id (cloud-init applies a changed seed at the next boot).
  CHECK(render_seed("kvmt-a", R"({"user":"other"})").meta_data != f.meta_data);
  CHECK(render_seed("kvmt-a", R"({"user":"admin"})").network_config.empty());
}

TEST_CASE(
    "cloud-init: kept in the domain's metadata, attached as a second CD-ROM, planned, written at apply") {
  FakeBackend b;
  auto want = doc(R"({"vms": {"kvmt-c": {"virt_type": "qemu", "cdrom": "/srv/a.iso",
      "cloud_init": {"user": "admin", "ssh_authorized_keys": ["ssh-ed25519 AAAA k<&>"]}}}})");
  auto actions = diff_section(want, current_of(b, want));
  std::sort(actions.begin(), actions.end(),
            [](const Action& x, const Action& y) { return action_less(x, y, 0, 0); });
  apply_all(b, actions);
  CHECK(b.calls ==
        std::vector<std::string>{"write_seed " + seed_path("kvmt-c"), "define kvmt-c", "start kvmt-c"});
  ParsedDomain p = parse_domain_xml(b.last_xml);
  CHECK(p.vm.cdrom == "/srv/a.iso");  // the seed (hdd) is not the document's CD-ROM
  CHECK(p.vm.cloud_init == canonical_json(*member(*member(*member(want, "vms"), "kvmt-c"), "cloud_init")));
  CHECK(b.last_xml.find(seed_path("kvmt-c")) != std::string::npos);
  CHECK(diff_section(want, current_of(b, want)).empty());
  // A change is planned as needing a reboot of the running VM.
  auto changed = doc(R"({"vms": {"kvmt-c": {"cloud_init": {"user": "root2"}}}})");
  auto again = diff_section(changed, current_of(b, changed));
  REQUIRE(again.size() == 1);
  CHECK(again[0].needs_reboot);
  CHECK(again[0].changes.at(0).path == "cloud_init");
  // show round-trips with the seed in it.
  JsonDoc shown = query_section(b, nullptr);
  CHECK(member(*member(*member(shown, "vms"), "kvmt-c"), "cloud_init"));
  CHECK(diff_section(shown, query_section(b, &shown)).empty());
  // absent removes the seed with the domain.
  b.calls.clear();
  apply_all(b, diff_section(doc(R"({"vms": {"kvmt-c": {"state": "absent"}}})"), current_of(b, want)));
  CHECK(b.calls ==
        std::vector<std::string>{"shutdown kvmt-c", "undefine kvmt-c", "remove_seed " + seed_path("kvmt-c")});
}

// ---- direct kernel boot and the console written to a file

namespace {

// What libvirt 9.0 gave back for a domain defined with a kernel, an initrd, a command line and a file console:
// it added a boot device, a second <console> line and a serial target model.
const char* kKernelXml = R"(<domain type='qemu'>
  <name>kvmt-k</name>
  <memory unit='KiB'>262144</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <kernel>/srv/guest &amp; co/vmlinuz</kernel>
    <initrd>/srv/guest &amp; co/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet kvmt.ip=192.0.2.10/24 x=&quot;a b&quot;</cmdline>
    <boot dev='hd'/>
  </os>
  <devices>
    <serial type='file'>
      <source path='/srv/guest &amp; co/console.log' append='off'/>
      <target type='isa-serial' port='0'><model name='isa-serial'/></target>
    </serial>
    <console type='file'>
      <source path='/srv/guest &amp; co/console.log' append='off'/>
      <target type='serial' port='0'/>
    </console>
  </devices>
</domain>
)";

}  // namespace

TEST_CASE(
    "boot: libvirt's kernel, initrd, command line and file console are read as the document says them") {
  ParsedDomain p = parse_domain_xml(kKernelXml);
  CHECK(p.vm.kernel == "/srv/guest & co/vmlinuz");
  CHECK(p.vm.initrd == "/srv/guest & co/initrd.gz");
  CHECK(p.vm.cmdline == "console=ttyS0 quiet kvmt.ip=192.0.2.10/24 x=\"a b\"");
  CHECK(p.vm.console == "/srv/guest & co/console.log");
  CHECK(p.vm.boot == std::vector<std::string>{"hd"});
  // A pty console (what op-dbus defines without "console") reads as "" and is not shown.
  ParsedDomain pty = parse_domain_xml(kLibvirtXml);
  CHECK(pty.vm.console == "");
  CHECK_FALSE(pty.vm.kernel);
  CHECK_FALSE(member(vm_to_json(pty.vm), "console"));
  // show: the object form only when there is a kernel; the console only when it is a file.
  JsonDoc shown = vm_to_json(p.vm);
  CHECK(to_json(shown["boot"]) ==
        R"({"order":["hd"],"kernel":"/srv/guest & co/vmlinuz","initrd":"/srv/guest & co/initrd.gz",)"
        R"("cmdline":"console=ttyS0 quiet kvmt.ip=192.0.2.10/24 x=\"a b\""})");
  CHECK(to_json(shown["console"]) == R"({"log":"/srv/guest & co/console.log"})");
  CHECK(to_json(vm_to_json(pty.vm)["boot"]) == R"(["cdrom","hd"])");
}

TEST_CASE("boot: the generated XML escapes the kernel, initrd, command line and console, and reads back") {
  Vm vm;
  vm.id = vm.name = "kvmt-k";
  vm.kernel = "/srv/it's <k>/vmlinuz";
  vm.initrd = "/srv/it's <k>/initrd & more";
  vm.cmdline = "console=ttyS0 a=\"<b>\" c='d' &e";
  vm.console = "/srv/it's <k>/console.log";
  std::string xml = render_domain_xml(vm, {});
  CHECK(xml.find("<kernel>/srv/it&apos;s &lt;k&gt;/vmlinuz</kernel>") != std::string::npos);
  CHECK(xml.find("<serial type='file'>") != std::string::npos);
  CHECK(xml.find("<serial type='pty'>") == std::string::npos);
  CHECK(xml.find(console_log_path("kvmt-k")) == std::string::npos);
  ParsedDomain back = parse_domain_xml(xml);
  CHECK(back.vm.kernel == vm.kernel);
  CHECK(back.vm.initrd == vm.initrd);
  CHECK(back.vm.cmdline == vm.cmdline);
  CHECK(back.vm.console == vm.console);
  CHECK_FALSE(back.vm.boot);
  // Without "console": the pty logged by virtlogd, as before.
  vm.console.reset();
  xml = render_domain_xml(vm, {});
  CHECK(xml.find("<serial type='pty'>") != std::string::npos);
  CHECK(parse_domain_xml(xml).vm.console == "");
}

TEST_CASE("boot: diff field by field; equivalent forms and what libvirt adds are no change") {
  FakeBackend b;
  b.domains["kvmt-k"] = Domain{"kvmt-k", "", kKernelXml, "running", true, false};
  const std::string same = R"({"vms": {"kvmt-k": {"boot": {"kernel": "/srv/guest & co/vmlinuz",
      "initrd": "/srv/guest & co/initrd.gz", "cmdline": "console=ttyS0 quiet kvmt.ip=192.0.2.10/24 x=\"a b\""},
      "console": {"log": "/srv/guest & co/console.log"}}}})";
  auto want = doc(same);
  // libvirt's added <boot dev='hd'/>, console line and target model are not the document's: no change.
  CHECK(diff_section(want, current_of(b, want)).empty());
  // The order list and {"order": list} are the same thing.
  auto listed = doc(R"({"vms": {"kvmt-k": {"boot": ["hd"]}}})");
  auto object = doc(R"({"vms": {"kvmt-k": {"boot": {"order": ["hd"]}}}})");
  CHECK(diff_section(listed, current_of(b, listed)).empty());
  CHECK(diff_section(object, current_of(b, object)).empty());
  // A changed command line and console: one Change each, at the next boot.
  auto changed = doc(R"({"vms": {"kvmt-k": {"boot": {"kernel": "/srv/guest & co/vmlinuz",
      "cmdline": "console=ttyS0"}, "console": {}}}})");
  auto actions = diff_section(changed, current_of(b, changed));
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].needs_reboot);
  REQUIRE(actions[0].changes.size() == 2);
  CHECK(actions[0].changes[0].path == "boot/cmdline");
  CHECK(actions[0].changes[0].after == "\"console=ttyS0\"");
  CHECK(actions[0].changes[1].path == "console/log");
  CHECK(actions[0].changes[1].before == "\"/srv/guest & co/console.log\"");
  CHECK(actions[0].changes[1].after == "\"pty\"");
  // Apply: the initrd the document leaves out is kept; the console becomes the pty.
  apply_all(b, actions);
  ParsedDomain p = parse_domain_xml(b.last_xml);
  CHECK(p.vm.initrd == "/srv/guest & co/initrd.gz");
  CHECK(p.vm.cmdline == "console=ttyS0");
  CHECK(p.vm.console == "");
  CHECK(diff_section(changed, current_of(b, changed)).empty());
  // show round-trips.
  JsonDoc shown = query_section(b, nullptr);
  CHECK(diff_section(shown, query_section(b, &shown)).empty());
}

TEST_CASE("boot: a new VM boots the document's kernel; a kernel or initrd not on the host is a plan error") {
  FakeBackend b;
  auto want = doc(R"({"vms": {"kvmt-n": {"virt_type": "qemu", "boot": {"kernel": "/srv/vmlinuz",
      "initrd": "/srv/initrd.gz", "cmdline": "console=ttyS0"}, "console": {"log": "/srv/console.log"}}}})");
  auto actions = diff_section(want, current_of(b, want));
  std::sort(actions.begin(), actions.end(),
            [](const Action& x, const Action& y) { return action_less(x, y, 0, 0); });
  REQUIRE(actions.size() == 2);
  CHECK_FALSE(actions[0].needs_reboot);
  apply_all(b, actions);
  CHECK(b.calls == std::vector<std::string>{"define kvmt-n", "start kvmt-n"});
  CHECK(b.last_xml.find("<kernel>/srv/vmlinuz</kernel>") != std::string::npos);
  CHECK(b.last_xml.find("<source path='/srv/console.log' append='off'/>") != std::string::npos);
  CHECK(diff_section(want, current_of(b, want)).empty());

  FakeBackend empty;
  empty.missing = {"/srv/initrd.gz"};
  CHECK_THROWS_WITH(
      diff_section(want, current_of(empty, want)),
      Catch::Contains("kvm/vms/kvmt-n/boot/initrd: \"/srv/initrd.gz\" does not exist on the host"));
  empty.missing = {"/srv/vmlinuz"};
  CHECK_THROWS_WITH(
      diff_section(want, current_of(empty, want)),
      Catch::Contains("kvm/vms/kvmt-n/boot/kernel: \"/srv/vmlinuz\" does not exist on the host"));
  // Removing a VM whose kernel is gone is no error.
  auto absent = doc(R"({"vms": {"kvmt-n": {"state": "absent", "boot": {"kernel": "/srv/vmlinuz"}}}})");
  CHECK_NOTHROW(diff_section(absent, current_of(empty, absent)));
  // Proxmox: not supported yet, said as a plan error.
  CHECK_THROWS_WITH(diff_section(doc(R"({"vms": {"vm-100": {"boot": {"kernel": "/srv/vmlinuz"}}}})"),
                                 doc(R"({"vms": {}, "x-target": {"backend": "proxmox"}})")),
                    Catch::Contains("kvm/vms/vm-100/boot: not supported yet on Proxmox"));
}

TEST_CASE("boot: check refuses relative or multi-line paths and command lines, and initrd without kernel") {
  auto problems = [](const std::string& vm) {
    Diagnostics out;
    check_section(doc(R"({"vms": {"vm": )" + vm + "}}"), "s.json", "/plugins/kvm", out);
    std::string all;
    for (const auto& d : out) all += d.format() + "\n";
    return all;
  };
  CHECK(
      problems(R"({"boot": {"kernel": "/k", "initrd": "/i", "cmdline": "a=b"}, "console": {"log": "/c"}})") ==
      "");
  CHECK(problems(R"({"console": {}})") == "");
  CHECK_THAT(problems(R"({"boot": {"kernel": "vmlinuz"}})"),
             Catch::Contains("/plugins/kvm/vms/vm/boot/kernel"));
  CHECK_THAT(problems(R"({"boot": {"kernel": "/srv/../etc/k"}})"), Catch::Contains("boot/kernel"));
  CHECK_THAT(problems(R"({"boot": {"kernel": "/k", "initrd": "/a\nb"}})"), Catch::Contains("boot/initrd"));
  CHECK_THAT(problems(R"({"boot": {"kernel": "/k", "cmdline": "a\nb"}})"),
             Catch::Contains("a kernel command line of 1-2048 characters on one line"));
  CHECK_THAT(problems(R"({"boot": {"kernel": "/k", "cmdline": ")" + std::string(2049, 'x') + "\"}}"),
             Catch::Contains("boot/cmdline"));
  CHECK_THAT(problems(R"({"boot": {"initrd": "/i"}})"),
             Catch::Contains("boot/initrd: only means something with \"kernel\""));
  CHECK_THAT(problems(R"({"console": {"log": "console.log"}})"), Catch::Contains("console/log"));
  CHECK_THAT(problems(R"({"console": {"log": "/var/log/"}})"), Catch::Contains("not of a directory"));
}

TEST_CASE("disks[].source: a new disk is a qcow2 overlay of the image, at least its size; show reports it") {
  FakeBackend b;
  b.images["/img/base & co.qcow2"] = Image{"qcow2", 2ull << 30};
  auto want = doc(R"({"vms": {"kvmt-i": {"virt_type": "qemu",
      "disks": [{"storage": "kvmt-pool", "source": "/img/base & co.qcow2"}, {"storage": "kvmt-pool", "size": 1}]}}})");
  auto actions = diff_section(want, current_of(b, want));
  std::sort(actions.begin(), actions.end(),
            [](const Action& x, const Action& y) { return action_less(x, y, 0, 0); });
  REQUIRE(actions.size() == 4);
  CHECK(actions[0].summary ==
        "create volume kvmt-pool/kvmt-i-disk0.qcow2 (2G) from image /img/base & co.qcow2");
  apply_all(b, actions);
  REQUIRE(b.pools["kvmt-pool"].size() == 2);
  const Volume& overlay = b.pools["kvmt-pool"][0];
  CHECK(overlay.name == "kvmt-i-disk0.qcow2");
  CHECK(overlay.capacity == 2ull << 30);
  CHECK(overlay.xml.find("<format type='qcow2'/>") != std::string::npos);
  CHECK(volume_backing(overlay.xml) == "/img/base & co.qcow2");
  CHECK(volume_backing(b.pools["kvmt-pool"][1].xml) == "");
  // The domain's first disk is driven as qcow2, the second as raw.
  ParsedDomain p = parse_domain_xml(b.last_xml);
  REQUIRE(p.disks.size() == 2);
  CHECK(p.disks[0].volume == "kvmt-i-disk0.qcow2");
  CHECK(p.disks[0].format == "qcow2");
  CHECK(p.disks[1].format == "raw");
  CHECK(diff_section(want, current_of(b, want)).empty());
  JsonDoc shown = query_section(b, nullptr);
  CHECK(
      to_json(shown["vms"]["kvmt-i"]["disks"]) ==
      R"([{"storage":"kvmt-pool","size":"2G","source":"/img/base & co.qcow2"},{"storage":"kvmt-pool","size":"1G"}])");
  CHECK(diff_section(shown, query_section(b, &shown)).empty());
  // A redefinition keeps the disk's format.
  b.calls.clear();
  auto more = doc(R"({"vms": {"kvmt-i": {"memory": 300}}})");
  apply_all(b, diff_section(more, current_of(b, more)));
  CHECK(parse_domain_xml(b.last_xml).disks[0].format == "qcow2");
  // Another image behind an existing disk cannot be planned.
  b.images["/img/other.qcow2"] = Image{"qcow2", 1ull << 30};
  auto other =
      doc(R"({"vms": {"kvmt-i": {"disks": [{"storage": "kvmt-pool", "source": "/img/other.qcow2"}]}}})");
  CHECK_THROWS_WITH(diff_section(other, current_of(b, other)),
                    Catch::Contains("kvm/vms/kvmt-i/disks/0: the disk is made from \"/img/base & co.qcow2\"; "
                                    "making it from \"/img/other.qcow2\" is not supported"));
}

TEST_CASE("disks[].source: a missing image, a disk smaller than its image, Proxmox: plan errors") {
  FakeBackend b;
  b.images["/img/raw.img"] = Image{"raw", 3ull << 30};
  auto small = doc(
      R"({"vms": {"kvmt-i": {"disks": [{"storage": "kvmt-pool", "source": "/img/raw.img", "size": 2}]}}})");
  CHECK_THROWS_WITH(
      diff_section(small, current_of(b, small)),
      Catch::Contains("kvm/vms/kvmt-i/disks/0: the image \"/img/raw.img\" is 3G; a disk made from it "
                      "cannot be 2G"));
  auto big = doc(
      R"({"vms": {"kvmt-i": {"disks": [{"storage": "kvmt-pool", "source": "/img/raw.img", "size": 4}]}}})");
  auto actions = diff_section(big, current_of(b, big));
  REQUIRE_FALSE(actions.empty());
  CHECK(
      std::get<CreateVolume>(operation_of<Ops>(actions[0].operation, actions[0].resource())).source_format ==
      "raw");
  auto gone =
      doc(R"({"vms": {"kvmt-i": {"disks": [{"storage": "kvmt-pool", "source": "/img/gone.qcow2"}]}}})");
  CHECK_THROWS_WITH(
      diff_section(gone, current_of(b, gone)),
      Catch::Contains("kvm/vms/kvmt-i/disks/0/source: \"/img/gone.qcow2\" is not a file on the host"));
  CHECK_THROWS_WITH(diff_section(doc(R"({"vms": {"vm-100": {"disks": [{"source": "/img/raw.img"}]}}})"),
                                 doc(R"({"vms": {}, "x-target": {"backend": "proxmox"}})")),
                    Catch::Contains("kvm/vms/vm-100/disks/0/source: not supported yet on Proxmox"));
  // A current state that did not read the image (no x-target) cannot plan the volume.
  CHECK_THROWS_WITH(diff_section(big, doc(R"({"vms": {}})")),
                    Catch::Contains("kvm/vms/kvmt-i/disks/0/source: \"/img/raw.img\" was not read"));
  Diagnostics out;
  check_section(doc(R"({"vms": {"vm": {"disks": [{"source": "img/../x.qcow2"}]}}})"), "s.json",
                "/plugins/kvm", out);
  REQUIRE(out.size() == 1);
  CHECK_THAT(out[0].format(), Catch::Contains("/plugins/kvm/vms/vm/disks/0/source"));
}
