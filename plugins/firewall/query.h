// Reading table inet op_dbus back (`list table inet op_dbus`, JSON) into the section's format: builtin_rules,
// default_policy and rules, each rule in the document's canonical form. A rule op-dbus cannot read (added by
// hand with expressions op-dbus does not write) is reported as {"nft": "<its expressions>"} and a chain
// op-dbus does not define as {"nft": "chain NAME"}: both are drift, and apply replaces them. Without the table,
// the section is {} (nothing owned yet). Other tables are never read.
#pragma once

#include "firewall/backend.h"
#include "firewall/model.h"
#include "json.h"

namespace opdbus::firewall {

// How the table was read, for a checkpoint to keep: listed by libnftables (`listing`, nullopt: no table), or
// decoded from the kernel's dump (Backend::decode_table; the section, when the table is present).
struct TableRead {
  bool listed = false;
  std::optional<std::string> listing;
  bool present = false;
  Section section;
};

// The table is decoded from the kernel's dump where the backend can (Backend::decode_table), and listed
// through libnftables otherwise. `read`, when given, says how, for a checkpoint to keep.
JsonDoc query_section(Backend& backend, TableRead* read = nullptr);

}  // namespace opdbus::firewall
