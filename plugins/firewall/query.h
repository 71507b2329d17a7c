// Reading table inet op_dbus back (`list table inet op_dbus`, JSON) into the section's format: builtin_rules,
// default_policy and rules, each rule in the document's canonical form. A rule op-dbus cannot read (added by
// hand with expressions op-dbus does not write) is reported as {"nft": "<its expressions>"} and a chain
// op-dbus does not define as {"nft": "chain NAME"}: both are drift, and apply replaces them. Without the table,
// the section is {} (nothing owned yet). Other tables are never read.
#pragma once

#include "firewall/backend.h"
#include "json.h"

namespace opdbus::firewall {

// `listing`, when given, receives the raw listing read (nullopt: no table), for a checkpoint to keep.
JsonDoc query_section(Backend& backend, std::optional<std::string>* listing = nullptr);

}  // namespace opdbus::firewall
