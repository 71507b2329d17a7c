#include "sys/libvirt.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>

#include "error.h"

namespace opdbus::sys {
namespace {

// libvirt's message for the last failure on this thread ("Domain not found: no domain with matching name
// 'x'"), or a fallback.
std::string last_error() {
  const char* m = virGetLastErrorMessage();
  return m && *m ? m : "unknown libvirt error";
}

[[noreturn]] void fail(const std::string& doing) {
  throw Error(ErrorKind::BackendError, "libvirt: " + doing + ": " + last_error());
}

struct DomainFree {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
struct PoolFree {
  void operator()(virStoragePoolPtr p) const { virStoragePoolFree(p); }
};
struct VolFree {
  void operator()(virStorageVolPtr v) const { virStorageVolFree(v); }
};
using Domain = std::unique_ptr<virDomain, DomainFree>;
using Pool = std::unique_ptr<virStoragePool, PoolFree>;
using Vol = std::unique_ptr<virStorageVol, VolFree>;

std::string take_string(char* s) {
  std::string out = s ? s : "";
  std::free(s);
  return out;
}

std::string state_name(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING:
      return "running";
    case VIR_DOMAIN_BLOCKED:
      return "blocked";
    case VIR_DOMAIN_PAUSED:
      return "paused";
    case VIR_DOMAIN_SHUTDOWN:
      return "shutdown";
    case VIR_DOMAIN_SHUTOFF:
      return "shutoff";
    case VIR_DOMAIN_CRASHED:
      return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
      return "pmsuspended";
    default:
      return "nostate";
  }
}

std::string version_text(unsigned long v) {
  return std::to_string(v / 1000000) + "." + std::to_string(v / 1000 % 1000) + "." + std::to_string(v % 1000);
}

}  // namespace

struct Libvirt::Impl {
  virConnectPtr conn = nullptr;
  std::string uri;

  Domain lookup(const std::string& name) {
    Domain d(virDomainLookupByName(conn, name.c_str()));
    if (!d) fail("domain '" + name + "'");
    return d;
  }
  Pool pool(const std::string& name) {
    Pool p(virStoragePoolLookupByName(conn, name.c_str()));
    if (!p) fail("storage pool '" + name + "'");
    return p;
  }
  LibvirtDomain read(virDomainPtr d) {
    LibvirtDomain out;
    out.name = virDomainGetName(d);
    char uuid[VIR_UUID_STRING_BUFLEN] = {};
    if (virDomainGetUUIDString(d, uuid) == 0) out.uuid = uuid;
    char* xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
    if (!xml) fail("domain '" + out.name + "': reading its XML");
    out.xml = take_string(xml);
    int state = 0, reason = 0;
    if (virDomainGetState(d, &state, &reason, 0) < 0) fail("domain '" + out.name + "': reading its state");
    out.state = state_name(state);
    out.persistent = virDomainIsPersistent(d) == 1;
    int autostart = 0;
    if (virDomainGetAutostart(d, &autostart) == 0) out.autostart = autostart != 0;
    return out;
  }
};

Libvirt::Libvirt(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Libvirt::~Libvirt() {
  if (impl_ && impl_->conn) virConnectClose(impl_->conn);
}

std::unique_ptr<Libvirt> Libvirt::open(const std::string& uri) {
  std::string target = uri;
  if (target.empty()) {
    const char* env = std::getenv("LIBVIRT_DEFAULT_URI");
    target = env && *env ? env : "qemu:///system";
  }
  // No error printing to stderr from libvirt's default handler: errors come back through last_error().
  virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
  auto impl = std::make_unique<Impl>();
  impl->uri = target;
  impl->conn = virConnectOpen(target.c_str());
  if (!impl->conn) {
    throw Error(ErrorKind::Unavailable, "libvirt: cannot connect to " + target + ": " + last_error());
  }
  return std::unique_ptr<Libvirt>(new Libvirt(std::move(impl)));
}

std::string Libvirt::describe() {
  // Only what the connection already knows: asking for the hypervisor's version makes libvirtd probe
  // the QEMU binary, which takes seconds, and probe runs on every plan.
  unsigned long lib = 0;
  if (virConnectGetLibVersion(impl_->conn, &lib) < 0) fail("reading the library version");
  return "libvirt " + version_text(lib) + " at " + impl_->uri;
}

std::vector<LibvirtDomain> Libvirt::list_domains() {
  virDomainPtr* domains = nullptr;
  int n = virConnectListAllDomains(impl_->conn, &domains, 0);
  if (n < 0) fail("listing domains");
  std::vector<Domain> owned;
  for (int i = 0; i < n; ++i) owned.emplace_back(domains[i]);
  std::free(domains);
  std::vector<LibvirtDomain> out;
  for (auto& d : owned) out.push_back(impl_->read(d.get()));
  return out;
}

std::optional<LibvirtDomain> Libvirt::domain(const std::string& name) {
  Domain d(virDomainLookupByName(impl_->conn, name.c_str()));
  if (!d) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return std::nullopt;
    fail("domain '" + name + "'");
  }
  return impl_->read(d.get());
}

std::vector<std::string> Libvirt::list_pools() {
  virStoragePoolPtr* pools = nullptr;
  int n = virConnectListAllStoragePools(impl_->conn, &pools, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE);
  if (n < 0) fail("listing storage pools");
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    Pool p(pools[i]);
    out.push_back(virStoragePoolGetName(p.get()));
  }
  std::free(pools);
  return out;
}

std::vector<LibvirtVolume> Libvirt::list_volumes(const std::string& pool_name) {
  Pool p = impl_->pool(pool_name);
  if (virStoragePoolIsActive(p.get()) != 1) {
    throw Error(ErrorKind::BackendError, "libvirt: storage pool '" + pool_name + "' is not active");
  }
  if (virStoragePoolRefresh(p.get(), 0) < 0) fail("storage pool '" + pool_name + "': refresh");
  virStorageVolPtr* vols = nullptr;
  int n = virStoragePoolListAllVolumes(p.get(), &vols, 0);
  if (n < 0) fail("storage pool '" + pool_name + "': listing volumes");
  std::vector<Vol> owned;
  for (int i = 0; i < n; ++i) owned.emplace_back(vols[i]);
  std::free(vols);
  std::vector<LibvirtVolume> out;
  for (auto& v : owned) {
    LibvirtVolume vol;
    vol.pool = pool_name;
    vol.name = virStorageVolGetName(v.get());
    vol.path = take_string(virStorageVolGetPath(v.get()));
    virStorageVolInfo info{};
    if (virStorageVolGetInfo(v.get(), &info) == 0) vol.capacity = info.capacity;
    vol.xml = take_string(virStorageVolGetXMLDesc(v.get(), 0));
    out.push_back(std::move(vol));
  }
  return out;
}

void Libvirt::create_volume(const std::string& pool_name, const std::string& volume_xml) {
  Pool p = impl_->pool(pool_name);
  Vol v(virStorageVolCreateXML(p.get(), volume_xml.c_str(), 0));
  if (!v) fail("storage pool '" + pool_name + "': creating a volume");
}

void Libvirt::resize_volume(const std::string& pool_name, const std::string& volume, uint64_t capacity) {
  Pool p = impl_->pool(pool_name);
  Vol v(virStorageVolLookupByName(p.get(), volume.c_str()));
  if (!v) fail("volume '" + pool_name + "/" + volume + "'");
  if (virStorageVolResize(v.get(), capacity, 0) < 0)
    fail("volume '" + pool_name + "/" + volume + "': resize");
}

void Libvirt::delete_volume(const std::string& pool_name, const std::string& volume) {
  Pool p = impl_->pool(pool_name);
  Vol v(virStorageVolLookupByName(p.get(), volume.c_str()));
  if (!v) {
    if (virGetLastErrorCode() == VIR_ERR_NO_STORAGE_VOL) return;
    fail("volume '" + pool_name + "/" + volume + "'");
  }
  if (virStorageVolDelete(v.get(), 0) < 0) fail("volume '" + pool_name + "/" + volume + "': delete");
}

void Libvirt::define_domain(const std::string& domain_xml) {
  Domain d(virDomainDefineXML(impl_->conn, domain_xml.c_str()));
  if (!d) fail("defining a domain");
}

void Libvirt::start(const std::string& name) {
  Domain d = impl_->lookup(name);
  if (virDomainCreate(d.get()) < 0) fail("domain '" + name + "': start");
}

void Libvirt::shutdown(const std::string& name) {
  Domain d = impl_->lookup(name);
  if (virDomainShutdown(d.get()) < 0) fail("domain '" + name + "': shutdown");
}

void Libvirt::destroy(const std::string& name) {
  Domain d = impl_->lookup(name);
  if (virDomainDestroy(d.get()) < 0) fail("domain '" + name + "': destroy");
}

void Libvirt::set_autostart(const std::string& name, bool on) {
  Domain d = impl_->lookup(name);
  if (virDomainSetAutostart(d.get(), on ? 1 : 0) < 0) fail("domain '" + name + "': autostart");
}

void Libvirt::undefine(const std::string& name) {
  Domain d = impl_->lookup(name);
  unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                   VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;
  if (virDomainUndefineFlags(d.get(), flags) < 0) fail("domain '" + name + "': undefine");
}

std::optional<std::string> Libvirt::state(const std::string& name) {
  Domain d(virDomainLookupByName(impl_->conn, name.c_str()));
  if (!d) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return std::nullopt;
    fail("domain '" + name + "'");
  }
  int state = 0, reason = 0;
  if (virDomainGetState(d.get(), &state, &reason, 0) < 0) fail("domain '" + name + "': reading its state");
  return state_name(state);
}

}  // namespace opdbus::sys
