// Persistence for boot, as pure functions. The network is runtime state; what makes it survive a reboot is
//   /etc/op-dbus/network.json   the network sections applied so far, merged by name (a complete state
//   document) op-dbus-network.service     applies that document at boot, before network-pre.target
//   /etc/network/interfaces     on hosts with ifupdown (Proxmox), the same interfaces in ifupdown's words,
//                               so `ifreload`, the Proxmox GUI and op-dbus agree
// The diff compares these renderings with the files query() read; the action writes them.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "json.h"
#include "network/model.h"

namespace opdbus::network {

inline constexpr const char* kDocumentPath = "/etc/op-dbus/network.json";
inline constexpr const char* kInterfacesPath = "/etc/network/interfaces";
// The boot units: the first applies everything before network-pre.target except Open vSwitch bridges, which
// cannot exist before ovs-vswitchd runs; the second applies those once it does (and is skipped without OVS).
inline constexpr const char* kUnitName = "op-dbus-network.service";
inline constexpr const char* kOvsUnitName = "op-dbus-network-ovs.service";
inline const std::vector<std::string> kUnitNames = {kUnitName, kOvsUnitName};
// The environment variable the first unit sets: Open vSwitch bridges wait for the second one.
inline constexpr const char* kDeferOvsVariable = "OPDBUS_NETWORK_DEFER_OVS";
// Where op-dbus writes a unit, where it enables it, and where a packaged one may live (first match wins).
std::string unit_path(const std::string& name);
std::string wants_link(const std::string& name);
std::vector<std::string> shipped_unit_paths(const std::string& name);

// The unit written when no packaged one exists (identical to data/NAME).
std::string unit_text(const std::string& name);

// The network section to keep for boot: `previous` (may be null) updated with `desired`. Interfaces, bonds
// and routes replace earlier entries of the same name (routes: same destination, table and metric); entries
// declared absent are dropped; "persist" is not kept.
JsonDoc merge_persisted(const JsonValue* previous, const JsonValue& desired);
// A complete state document holding `section` as its network plugin section, pretty-printed.
std::string render_document(const JsonValue& section);
// The network section inside a persisted document's text; nullopt if the text is not such a document.
std::optional<JsonDoc> persisted_section(const std::string& document_text);

// /etc/network/interfaces with a stanza for every interface and bond of `section`; stanzas of other
// interfaces in `existing` are kept as they are, stanzas (and "auto"/"allow-*" mentions) of ours and of
// `removed` go.
std::string render_interfaces(const Section& section, const std::optional<std::string>& existing,
                              const std::set<std::string>& removed = {});

struct PersistPlan {
  std::map<std::string, std::string> write;  // in-system path -> content
  std::map<std::string, std::string> links;  // in-system symlink path -> target
  bool empty() const { return write.empty() && links.empty(); }
};
// What must change so the files agree with `desired_section` merged into what is persisted.
PersistPlan plan_persist(const JsonValue& desired_section, const Persisted& current);

}  // namespace opdbus::network
