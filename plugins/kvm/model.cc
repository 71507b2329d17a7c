#include "kvm/model.h"

#include <cmath>
#include <cstdio>

#include "error.h"
#include "kvm/xml.h"
#include "text.h"

namespace opdbus::kvm {
namespace {

std::string normal_state(const std::string& s) {
  if (s == "started" || s.empty()) return "running";
  return s;
}

constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024, kTiB = kGiB * 1024;

}  // namespace

std::optional<uint64_t> parse_size(const JsonValue& v) {
  if (v.IsUint64()) {
    uint64_t n = v.GetUint64();
    if (n == 0 || n > (UINT64_MAX / kGiB)) return std::nullopt;
    return n * kGiB;
  }
  if (!v.IsString()) return std::nullopt;
  std::string s = v.GetString();
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  std::string number = s.substr(0, i), unit = lower(s.substr(i));
  if (number.empty() || number.size() > 20) return std::nullopt;
  uint64_t mult = 0;
  if (unit.empty() || unit == "g" || unit == "gb" || unit == "gib")
    mult = kGiB;
  else if (unit == "b")
    mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    mult = kKiB;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    mult = kMiB;
  else if (unit == "t" || unit == "tb" || unit == "tib")
    mult = kTiB;
  else
    return std::nullopt;
  double value = std::strtod(number.c_str(), nullptr);
  double bytes = value * static_cast<double>(mult);
  if (!(bytes >= 1) || bytes > 1e18) return std::nullopt;
  return static_cast<uint64_t>(std::llround(bytes));
}

std::string size_text(uint64_t bytes) {
  if (bytes % kTiB == 0) return std::to_string(bytes / kTiB) + "T";
  if (bytes % kGiB == 0) return std::to_string(bytes / kGiB) + "G";
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "M";
  if (bytes % kKiB == 0) return std::to_string(bytes / kKiB) + "K";
  return std::to_string(bytes) + "B";
}

Section parse_section(const JsonValue& section) {
  Section out;
  if (!section.IsObject()) return out;
  if (const JsonValue* vms = member(section, "vms"); vms && vms->IsObject()) {
    for (auto it = vms->MemberBegin(); it != vms->MemberEnd(); ++it) {
      const JsonValue& v = it->value;
      if (!v.IsObject()) continue;
      Vm vm;
      vm.id = it->name.GetString();
      vm.name = opt_string(v, "name").value_or(vm.id);
      vm.os_type = opt_string(v, "os_type");
      vm.virt_type = opt_string(v, "virt_type");
      vm.cpu_model = opt_string(v, "cpu_model");
      vm.firmware = opt_string(v, "firmware");
      vm.cdrom = opt_string(v, "cdrom");
      vm.cores = opt_int(v, "cores");
      vm.memory = opt_int(v, "memory");
      if (const JsonValue* boot = member(v, "boot"); boot && boot->IsObject()) {
        vm.boot = opt_strings(*boot, "order");
        vm.kernel = opt_string(*boot, "kernel");
        vm.initrd = opt_string(*boot, "initrd");
        vm.cmdline = opt_string(*boot, "cmdline");
      } else {
        vm.boot = opt_strings(v, "boot");
      }
      if (const JsonValue* console = member(v, "console"); console && console->IsObject())
        vm.console = opt_string(*console, "log").value_or("");
      if (const JsonValue* disks = member(v, "disks"); disks && disks->IsArray()) {
        vm.disks.emplace();
        for (const auto& d : disks->GetArray()) {
          Disk disk;
          disk.storage = opt_string(d, "storage").value_or(std::string(kDefaultPool));
          if (const JsonValue* size = member(d, "size")) disk.size = parse_size(*size).value_or(0);
          disk.source = get_string(d, "source");
          vm.disks->push_back(std::move(disk));
        }
      }
      if (const JsonValue* nics = member(v, "network"); nics && nics->IsArray()) {
        vm.network.emplace();
        for (const auto& n : nics->GetArray()) {
          Nic nic;
          nic.bridge = get_string(n, "bridge");
          nic.model = opt_string(n, "model").value_or("virtio");
          nic.mac = lower(get_string(n, "mac"));
          vm.network->push_back(std::move(nic));
        }
      }
      if (const JsonValue* ci = member(v, "cloud_init"); ci && ci->IsObject())
        vm.cloud_init = canonical_json(*ci);
      vm.autostart = opt_bool(v, "autostart");
      vm.state = normal_state(get_string(v, "state"));
      vm.restart_allowed = get_string(v, "restart") == "allowed";
      vm.shutdown_timeout = static_cast<int>(get_int(v, "shutdown_timeout", kDefaultShutdownTimeout));
      vm.delete_disks = get_bool(v, "delete_disks");
      out.vms.emplace(vm.id, std::move(vm));
    }
  }
  if (const JsonValue* target = member(section, kTargetKey)) {
    out.pools = opt_strings(*target, "pools");
    out.backend = get_string(*target, "backend");
    out.missing_files = opt_strings(*target, "missing_files");
    if (const JsonValue* images = member(*target, "images"); images && images->IsObject()) {
      for (auto im = images->MemberBegin(); im != images->MemberEnd(); ++im) {
        Image image;
        image.format = get_string(im->value, "format");
        image.size = static_cast<uint64_t>(get_int(im->value, "size", 0));
        out.images.emplace(im->name.GetString(), image);
      }
    }
  }
  return out;
}

JsonDoc vm_to_json(const Vm& vm, JsonAlloc* alloc) {
  JsonDoc doc(rapidjson::kObjectType);
  JsonAlloc& a = alloc ? *alloc : doc.GetAllocator();
  auto put = [&](const char* key, JsonValue v) { doc.AddMember(rapidjson::StringRef(key), v, a); };
  if (vm.name != vm.id) put("name", str_value(vm.name, a));
  if (vm.os_type) put("os_type", str_value(*vm.os_type, a));
  if (vm.virt_type) put("virt_type", str_value(*vm.virt_type, a));
  if (vm.cores) put("cores", JsonValue(*vm.cores));
  if (vm.memory) put("memory", JsonValue(*vm.memory));
  if (vm.cpu_model) put("cpu_model", str_value(*vm.cpu_model, a));
  if (vm.firmware) put("firmware", str_value(*vm.firmware, a));
  auto order = [&] {
    JsonValue arr(rapidjson::kArrayType);
    for (const auto& b : *vm.boot) arr.PushBack(str_value(b, a), a);
    return arr;
  };
  if (vm.kernel || vm.initrd || vm.cmdline) {
    JsonValue boot(rapidjson::kObjectType);
    if (vm.boot) boot.AddMember("order", order(), a);
    if (vm.kernel) boot.AddMember("kernel", str_value(*vm.kernel, a), a);
    if (vm.initrd) boot.AddMember("initrd", str_value(*vm.initrd, a), a);
    if (vm.cmdline) boot.AddMember("cmdline", str_value(*vm.cmdline, a), a);
    put("boot", std::move(boot));
  } else if (vm.boot) {
    put("boot", order());
  }
  if (vm.cdrom) put("cdrom", str_value(*vm.cdrom, a));
  if (vm.disks) {
    JsonValue arr(rapidjson::kArrayType);
    for (const auto& d : *vm.disks) {
      JsonValue o(rapidjson::kObjectType);
      if (!d.storage.empty()) o.AddMember("storage", str_value(d.storage, a), a);
      if (d.size) o.AddMember("size", str_value(size_text(d.size), a), a);
      if (!d.source.empty()) o.AddMember("source", str_value(d.source, a), a);
      arr.PushBack(o, a);
    }
    put("disks", std::move(arr));
  }
  if (vm.network) {
    JsonValue arr(rapidjson::kArrayType);
    for (const auto& n : *vm.network) {
      JsonValue o(rapidjson::kObjectType);
      o.AddMember("bridge", str_value(n.bridge, a), a);
      if (!n.model.empty()) o.AddMember("model", str_value(n.model, a), a);
      if (!n.mac.empty()) o.AddMember("mac", str_value(n.mac, a), a);
      arr.PushBack(o, a);
    }
    put("network", std::move(arr));
  }
  if (vm.cloud_init) {
    JsonDoc ci = parse_json(*vm.cloud_init);
    put("cloud_init", JsonValue(ci, a));
  }
  if (vm.console && !vm.console->empty()) {
    // A pty (the default) is left out: the plain form of a VM's console.
    JsonValue console(rapidjson::kObjectType);
    console.AddMember("log", str_value(*vm.console, a), a);
    put("console", std::move(console));
  }
  if (vm.autostart) put("autostart", JsonValue(*vm.autostart));
  put("state", str_value(vm.state, a));
  return doc;
}

// ---- cloud-init

std::string canonical_json(const JsonValue& v) {
  JsonDoc copy;
  copy.CopyFrom(v, copy.GetAllocator());
  sort_keys(copy, copy.GetAllocator());
  return to_json(copy);
}

std::string seed_path(const std::string& domain) {
  return "/var/lib/libvirt/images/op-dbus-seeds/" + domain + "-seed.iso";
}

SeedFiles render_seed(const std::string& domain, const std::string& cloud_init_json) {
  JsonDoc ci = parse_json(cloud_init_json);
  // A short, stable digest of the content for the instance-id (FNV-1a; not security relevant).
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : cloud_init_json) h = (h ^ c) * 1099511628211ull;
  char digest[17];
  std::snprintf(digest, sizeof digest, "%016llx", static_cast<unsigned long long>(h));
  SeedFiles f;
  std::string hostname = get_string(ci, "hostname", domain);
  f.meta_data = "instance-id: " + json_quoted(domain + "-" + digest) +
                "\nlocal-hostname: " + json_quoted(hostname) + "\n";
  f.user_data = "#cloud-config\nhostname: " + json_quoted(hostname) + "\n";
  auto keys = get_strings(ci, "ssh_authorized_keys");
  auto key_list = [&] {
    std::vector<std::string> q;
    for (const auto& k : keys) q.push_back(json_quoted(k));
    return "[" + join(q, ", ") + "]";
  };
  if (auto user = opt_string(ci, "user")) {
    f.user_data +=
        "users:\n  - name: " + json_quoted(*user) +
        "\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    shell: \"/bin/bash\"\n    lock_passwd: true\n";
    if (!keys.empty()) f.user_data += "    ssh_authorized_keys: " + key_list() + "\n";
  } else if (!keys.empty()) {
    f.user_data += "ssh_authorized_keys: " + key_list() + "\n";
  }
  if (const JsonValue* net = member(ci, "network"); net && net->IsObject()) {
    std::string n = "version: 2\nethernets:\n  nic0:\n    match:\n      name: \"e*\"\n";
    if (get_bool(*net, "dhcp")) n += "    dhcp4: true\n";
    if (auto addr = opt_string(*net, "address")) n += "    addresses: [" + json_quoted(*addr) + "]\n";
    if (auto gw = opt_string(*net, "gateway")) {
      n += std::string("    routes:\n      - to: ") +
           (gw->find(':') != std::string::npos ? "\"::/0\"" : "\"0.0.0.0/0\"") +
           "\n        via: " + json_quoted(*gw) + "\n";
    }
    auto dns = get_strings(*net, "dns");
    if (!dns.empty()) {
      std::vector<std::string> q;
      for (const auto& d : dns) q.push_back(json_quoted(d));
      n += "    nameservers:\n      addresses: [" + join(q, ", ") + "]\n";
    }
    f.network_config = n;
  }
  return f;
}

// ---- domain XML

std::string volume_name(const std::string& domain, size_t index, bool from_image) {
  return domain + "-disk" + std::to_string(index) + (from_image ? ".qcow2" : ".img");
}

std::string render_volume_xml(const std::string& volume, uint64_t capacity, const std::string& source,
                              const std::string& source_format) {
  // Allocation 0: a sparse file in a dir pool.
  std::string x = "<volume>\n  <name>" + xml_escape(volume) + "</name>\n  <capacity unit='bytes'>" +
                  std::to_string(capacity) + "</capacity>\n  <allocation unit='bytes'>0</allocation>\n";
  if (source.empty()) return x + "  <target>\n    <format type='raw'/>\n  </target>\n</volume>\n";
  return x + "  <target>\n    <format type='qcow2'/>\n  </target>\n  <backingStore>\n    <path>" +
         xml_escape(source) + "</path>\n    <format type='" + xml_escape(source_format) +
         "'/>\n  </backingStore>\n</volume>\n";
}

std::string volume_backing(std::string_view volume_xml) {
  if (volume_xml.empty()) return "";
  XmlNode root = parse_xml(volume_xml);
  const XmlNode* backing = root.child("backingStore");
  const XmlNode* path = backing ? backing->child("path") : nullptr;
  return path ? trim(path->text) : "";
}

std::string console_log_path(const std::string& domain) {
  return "/var/log/libvirt/qemu/" + domain + "-console.log";
}

std::string render_domain_xml(const Vm& vm, const Preserved& keep) {
  auto e = [](std::string_view s) { return xml_escape(s); };
  std::string x;
  x += "<domain type='" + e(vm.virt_type.value_or("kvm")) + "'>\n";
  x += "  <name>" + e(vm.name) + "</name>\n";
  if (!keep.uuid.empty()) x += "  <uuid>" + e(keep.uuid) + "</uuid>\n";
  if (vm.os_type || vm.cloud_init) {
    x += "  <metadata>\n    <opdbus:vm xmlns:opdbus='" + e(kMetadataNs) + "'>\n";
    if (vm.os_type) x += "      <opdbus:os_type>" + e(*vm.os_type) + "</opdbus:os_type>\n";
    if (vm.cloud_init) x += "      <opdbus:cloud_init>" + e(*vm.cloud_init) + "</opdbus:cloud_init>\n";
    x += "    </opdbus:vm>\n  </metadata>\n";
  }
  x += "  <memory unit='MiB'>" + std::to_string(vm.memory.value_or(512)) + "</memory>\n";
  x += "  <vcpu placement='static'>" + std::to_string(vm.cores.value_or(1)) + "</vcpu>\n";
  bool uefi = vm.firmware.value_or("bios") == "uefi";
  x += std::string("  <os") + (uefi ? " firmware='efi'" : "") + ">\n";
  x += "    <type arch='x86_64' machine='pc'>hvm</type>\n";
  if (vm.kernel) x += "    <kernel>" + e(*vm.kernel) + "</kernel>\n";
  if (vm.initrd) x += "    <initrd>" + e(*vm.initrd) + "</initrd>\n";
  if (vm.cmdline) x += "    <cmdline>" + e(*vm.cmdline) + "</cmdline>\n";
  if (vm.boot) {
    for (const auto& b : *vm.boot) x += "    <boot dev='" + e(b) + "'/>\n";
  }
  x += "  </os>\n";
  x += "  <features>\n    <acpi/>\n    <apic/>\n  </features>\n";
  if (vm.cpu_model) {
    if (*vm.cpu_model == "host-passthrough" || *vm.cpu_model == "host-model") {
      x += "  <cpu mode='" + e(*vm.cpu_model) + "'/>\n";
    } else {
      x += "  <cpu mode='custom' match='exact'>\n    <model fallback='forbid'>" + e(*vm.cpu_model) +
           "</model>\n  </cpu>\n";
    }
  }
  x += "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  "
       "<on_crash>destroy</on_crash>\n";
  x += "  <devices>\n";
  size_t ndisks = vm.disks ? vm.disks->size() : keep.disks.size();
  for (size_t i = 0; i < ndisks; ++i) {
    std::string dev = "vd" + std::string(1, static_cast<char>('a' + (i % 26)));
    if (i >= 26) dev = "vd" + std::string(1, static_cast<char>('a' + i / 26 - 1)) + dev.substr(2);
    DiskRef ref;
    if (i < keep.disks.size()) {
      ref = keep.disks[i];
    } else {
      const Disk& d = (*vm.disks)[i];
      ref.pool = d.storage;
      ref.volume = volume_name(vm.name, i, !d.source.empty());
      ref.format = d.source.empty() ? "raw" : "qcow2";
    }
    std::string driver =
        "      <driver name='qemu' type='" + e(ref.format.empty() ? "raw" : ref.format) + "'/>\n";
    if (!ref.volume.empty()) {
      x += "    <disk type='volume' device='disk'>\n" + driver + "      <source pool='" + e(ref.pool) +
           "' volume='" + e(ref.volume) + "'/>\n";
    } else {
      x += "    <disk type='file' device='disk'>\n" + driver + "      <source file='" + e(ref.path) + "'/>\n";
    }
    x += "      <target dev='" + dev + "' bus='virtio'/>\n    </disk>\n";
  }
  if (vm.cdrom) {
    x += "    <disk type='file' device='cdrom'>\n      <driver name='qemu' type='raw'/>\n      <source "
         "file='" +
         e(*vm.cdrom) + "'/>\n      <target dev='hdc' bus='ide'/>\n      <readonly/>\n    </disk>\n";
  }
  if (vm.cloud_init) {
    x += "    <disk type='file' device='cdrom'>\n      <driver name='qemu' type='raw'/>\n      <source "
         "file='" +
         e(seed_path(vm.name)) + "'/>\n      <target dev='hdd' bus='ide'/>\n      <readonly/>\n    </disk>\n";
  }
  if (vm.network) {
    for (size_t i = 0; i < vm.network->size(); ++i) {
      const Nic& n = (*vm.network)[i];
      std::string mac = !n.mac.empty() ? n.mac : i < keep.macs.size() ? keep.macs[i] : "";
      x += "    <interface type='bridge'>\n";
      if (!mac.empty()) x += "      <mac address='" + e(mac) + "'/>\n";
      x += "      <source bridge='" + e(n.bridge) + "'/>\n      <model type='" + e(n.model) +
           "'/>\n    </interface>\n";
    }
  }
  if (vm.console && !vm.console->empty()) {
    // The first serial port written to a file on the host (emptied at each start), and the console on it.
    x += "    <serial type='file'>\n      <source path='" + e(*vm.console) +
         "' append='off'/>\n      <target port='0'/>\n    </serial>\n";
    x += "    <console type='file'>\n      <source path='" + e(*vm.console) +
         "' append='off'/>\n      <target type='serial' port='0'/>\n    </console>\n";
  } else {
    x += "    <serial type='pty'>\n      <log file='" + e(console_log_path(vm.name)) +
         "' append='off'/>\n      <target port='0'/>\n    </serial>\n";
    x += "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n";
  }
  x += "  </devices>\n</domain>\n";
  return x;
}

namespace {

// libvirt's memory units to MiB (rounded down; libvirt keeps what it is given in KiB).
int64_t to_mib(const std::string& value, const std::string& unit) {
  uint64_t n = std::strtoull(value.c_str(), nullptr, 10);
  std::string u = lower(unit);
  if (u.empty() || u == "kib" || u == "k") return static_cast<int64_t>(n / 1024);
  if (u == "b" || u == "bytes") return static_cast<int64_t>(n / kMiB);
  if (u == "mib" || u == "m") return static_cast<int64_t>(n);
  if (u == "gib" || u == "g") return static_cast<int64_t>(n * 1024);
  if (u == "kb") return static_cast<int64_t>(n * 1000 / kMiB);
  if (u == "mb") return static_cast<int64_t>(n * 1000 * 1000 / kMiB);
  if (u == "gb") return static_cast<int64_t>(n * 1000 * 1000 * 1000 / kMiB);
  return static_cast<int64_t>(n / 1024);
}

// The text of <opdbus:KEY> under our metadata element, whatever prefix libvirt gave the namespace.
std::optional<std::string> metadata_value(const XmlNode& metadata, std::string_view key) {
  for (const auto& el : metadata.children) {
    bool ours = false;
    for (const auto& [k, v] : el.attrs) {
      if (starts_with(k, "xmlns") && v == kMetadataNs) ours = true;
    }
    if (!ours) continue;
    for (const auto& c : el.children) {
      auto colon = c.name.find(':');
      std::string local = colon == std::string::npos ? c.name : c.name.substr(colon + 1);
      if (local == key) return trim(c.text);
    }
  }
  return std::nullopt;
}

}  // namespace

ParsedDomain parse_domain_xml(std::string_view xml) {
  XmlNode root = parse_xml(xml);
  if (root.name != "domain") {
    throw Error(ErrorKind::BackendError, "domain XML: the root element is <" + root.name + ">, not <domain>");
  }
  ParsedDomain out;
  Vm& vm = out.vm;
  vm.virt_type = root.attr("type");
  if (const XmlNode* n = root.child("name")) vm.name = n->text;
  vm.id = vm.name;
  if (const XmlNode* n = root.child("uuid")) out.preserved.uuid = trim(n->text);
  if (const XmlNode* m = root.child("metadata")) {
    vm.os_type = metadata_value(*m, "os_type");
    if (auto ci = metadata_value(*m, "cloud_init")) {
      JsonDoc d;
      d.Parse(ci->c_str(), ci->size());
      if (!d.HasParseError() && d.IsObject()) vm.cloud_init = canonical_json(d);
    }
  }
  if (const XmlNode* m = root.child("memory")) vm.memory = to_mib(trim(m->text), m->attr("unit"));
  if (const XmlNode* c = root.child("vcpu")) vm.cores = std::strtoll(trim(c->text).c_str(), nullptr, 10);
  vm.firmware = "bios";
  if (const XmlNode* os = root.child("os")) {
    if (os->attr("firmware") == "efi") vm.firmware = "uefi";
    if (const XmlNode* loader = os->child("loader"); loader && loader->attr("type") == "pflash")
      vm.firmware = "uefi";
    auto text_of = [&](const char* key) -> std::optional<std::string> {
      const XmlNode* n = os->child(key);
      if (!n) return std::nullopt;
      return n->text;
    };
    vm.kernel = text_of("kernel");
    vm.initrd = text_of("initrd");
    vm.cmdline = text_of("cmdline");
    auto boots = os->all("boot");
    if (!boots.empty()) {
      vm.boot.emplace();
      for (const auto* b : boots) vm.boot->push_back(b->attr("dev"));
    }
  }
  if (const XmlNode* cpu = root.child("cpu")) {
    std::string mode = cpu->attr("mode");
    if (mode == "host-passthrough" || mode == "host-model" || mode == "maximum") {
      vm.cpu_model = mode;
    } else if (const XmlNode* model = cpu->child("model"); model && !trim(model->text).empty()) {
      vm.cpu_model = trim(model->text);
    }
  }
  vm.disks.emplace();
  vm.network.emplace();
  if (const XmlNode* devices = root.child("devices")) {
    for (const auto* d : devices->all("disk")) {
      const XmlNode* source = d->child("source");
      std::string device = d->attr("device");
      if (device == "cdrom") {
        const XmlNode* target = d->child("target");
        bool seed = target && target->attr("dev") == "hdd";  // the cloud-init seed op-dbus attaches
        if (source && !seed && !vm.cdrom && !source->attr("file").empty()) vm.cdrom = source->attr("file");
        continue;
      }
      if (device != "disk" && !device.empty()) continue;
      DiskRef ref;
      if (source) {
        ref.pool = source->attr("pool");
        ref.volume = source->attr("volume");
        ref.path = source->attr("file");
        if (ref.path.empty()) ref.path = source->attr("dev");
      }
      if (const XmlNode* driver = d->child("driver")) ref.format = driver->attr("type");
      Disk disk;
      disk.storage = ref.pool;
      out.disks.push_back(ref);
      vm.disks->push_back(disk);
    }
    // The console is the first serial port: a pty (whatever libvirt logs it to), or a file.
    if (const XmlNode* serial = devices->child("serial")) {
      std::string type = serial->attr("type");
      const XmlNode* source = serial->child("source");
      if (type == "pty") {
        vm.console = "";
      } else if (type == "file" && source) {
        vm.console = source->attr("path");
      }
    }
    for (const auto* i : devices->all("interface")) {
      Nic nic;
      if (const XmlNode* s = i->child("source")) nic.bridge = s->attr("bridge");
      if (const XmlNode* m = i->child("model")) nic.model = m->attr("type");
      if (const XmlNode* m = i->child("mac")) nic.mac = lower(m->attr("address"));
      out.preserved.macs.push_back(nic.mac);
      vm.network->push_back(std::move(nic));
    }
  }
  out.preserved.disks = out.disks;
  return out;
}

}  // namespace opdbus::kvm
