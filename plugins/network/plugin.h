// The network plugin: links (bridges, VLANs, bonds, dummies, veth pairs, Open vSwitch bridges), addresses,
// routes and DNS, applied at runtime over rtnetlink with a checkpoint that rolls back, and kept for boot.
// Format and semantics: docs/plugins/network.md.
#pragma once

#include <memory>

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h
#include "network/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_network_plugin();

namespace network {
// For tests: the plugin with a backend of the test's choosing (a recording fake).
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace network

}  // namespace opdbus
