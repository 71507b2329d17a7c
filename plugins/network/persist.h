// Persistence for boot, as pure functions. The network is runtime state; what makes it survive a reboot is
//   /etc/op-dbus/network.json   the network sections applied so far, merged by name (a complete state document)
//   op-dbus-network.service     applies that document at boot, before network-pre.target
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
inline constexpr const char* kUnitName = "op-dbus-network.service";
inline constexpr const char* kUnitPath = "/etc/systemd/system/op-dbus-network.service";
inline constexpr const char* kWantsLink = "/etc/systemd/system/multi-user.target.wants/op-dbus-network.service";
// Where a packaged unit may live, first match wins.
inline const std::vector<std::string> kShippedUnitPaths = {"/usr/lib/systemd/system/op-dbus-network.service",
                                                           "/lib/systemd/system/op-dbus-network.service",
                                                           "/usr/local/lib/systemd/system/op-dbus-network.service"};

// The unit written when no packaged one exists (identical to data/op-dbus-network.service).
std::string unit_text();

// The network section to keep for boot: `previous` (may be null) updated with `desired`. Interfaces, bonds and
// routes replace earlier entries of the same name (routes: same destination, table and metric); entries
// declared absent are dropped; "persist" is not kept.
JsonDoc merge_persisted(const JsonValue* previous, const JsonValue& desired);
// A complete state document holding `section` as its network plugin section, pretty-printed.
std::string render_document(const JsonValue& section);
// The network section inside a persisted document's text; nullopt if the text is not such a document.
std::optional<JsonDoc> persisted_section(const std::string& document_text);

// /etc/network/interfaces with a stanza for every interface and bond of `section`; stanzas of other interfaces
// in `existing` are kept as they are, stanzas (and "auto"/"allow-*" mentions) of ours and of `removed` go.
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
