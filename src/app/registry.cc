#include "registry.h"

#include "firewall/plugin.h"
#include "kvm/plugin.h"
#include "lxc/plugin.h"
#include "network/plugin.h"
#include "packagekit/plugin.h"
#include "storage/plugin.h"
#include "systemd/plugin.h"
#include "users/plugin.h"

namespace opdbus {

std::vector<std::unique_ptr<Plugin>> make_plugins() {
  std::vector<std::unique_ptr<Plugin>> p;
  p.push_back(make_storage_plugin());
  p.push_back(make_packagekit_plugin());
  p.push_back(make_users_plugin());
  p.push_back(make_network_plugin());
  p.push_back(make_systemd_plugin());
  p.push_back(make_firewall_plugin());
  p.push_back(make_lxc_plugin());
  p.push_back(make_kvm_plugin());
  return p;
}

}  // namespace opdbus
