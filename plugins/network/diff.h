// The pure half of the network plugin: desired section + current section -> Actions. No I/O.
//
// Execution order (Action::order), lowest first. "+depth" places a link after what it is built on (a VLAN
// after its parent, a bridge or bond after its ports); deletion runs in the reverse order:
//   100        remove routes declared absent
//   200+49-depth  delete links declared absent, or whose kind must change (VLANs before their parents)
//   300+depth  create links (a bond before its slaves are enslaved, a VLAN after its parent)
//   400+depth  link settings: MTU, MAC, alias (comment), bridge options, bond mode
//   500+depth  bridge ports and bond slaves (slaves are taken down to be enslaved)
//   600        addresses (new ones added before old ones are removed)
//   700+depth  administrative state up/down
//   750        DHCP client started or stopped
//   800        default gateways and static routes
//   900        DNS servers
//   950        files for boot (/etc/op-dbus/network.json, /etc/network/interfaces, the boot unit)
#pragma once

#include <vector>

#include "action.h"
#include "json.h"

namespace opdbus::network {

enum Order : int {
  kOrderRouteRemove = 100,
  kOrderDelete = 200,
  kOrderCreate = 300,
  kOrderSettings = 400,
  kOrderPorts = 500,
  kOrderAddresses = 600,
  kOrderLinkState = 700,
  kOrderDhcp = 750,
  kOrderRoutes = 800,
  kOrderDns = 900,
  kOrderPersist = 950,
};
inline constexpr int kMaxDepth = 49;

// `current` is the section as query() (or a saved `show`) reports it. Interfaces and bonds are matched by
// name, routes by family, destination, table and (when the document gives one) metric. Keys the document does
// not name are not compared; "mode" is left to the engine (observe), except that an observed item that can
// never be reached is reported rather than refused.
//
// Every action carries its operation (ops.h), and none can only fail at apply: what can never be reached
// against `current` (missing hardware, a VLAN without its parent, a veth without a peer, members or route
// devices that will not exist) throws Error(InvalidArgument) naming the item -- unless the item is observed
// or `current` lists no links at all; then it is a drift report with no operation.
std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current);

}  // namespace opdbus::network
