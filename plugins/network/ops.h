// The host-touching half of the plugin: carrying out one Action, and the checkpoint that puts links,
// addresses, routes, DNS and the boot files back as they were.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "action.h"
#include "diagnostic.h"
#include "network/backend.h"
#include "plugin.h"

namespace opdbus::network {

using BackendFactory = std::function<std::unique_ptr<NetworkBackend>(Context&)>;

// Runs one action's payload against the backend. Idempotent: what is already as asked is left alone.
void apply_action(NetworkBackend& backend, const Action& action);

// One-field link changes.
inline sys::LinkChange set_up(bool up) {
  sys::LinkChange c;
  c.up = up;
  return c;
}
inline sys::LinkChange set_master(int master) {
  sys::LinkChange c;
  c.master = master;
  return c;
}

// Steps shared by apply and rollback.
void set_bond_mode(NetworkBackend& b, const std::string& name, const std::string& mode);
void set_members(NetworkBackend& b, const std::string& master, const std::string& kind,
                 const std::vector<std::string>& add, const std::vector<std::string>& remove);
void set_addresses(NetworkBackend& b, const std::string& name, const std::vector<std::string>& want);

// Records the configuration of every link `actions` touch (and routes, DNS, boot files) before they run.
// Live hosts only; offline trees need none (nothing there can lock anyone out).
std::unique_ptr<Checkpoint> take_checkpoint(Context& ctx, const BackendFactory& factory,
                                            const std::vector<Action>& actions);

// Semantic checks of the section beyond its schema.
void check_section(const JsonValue& section, const std::string& file, const std::string& pointer,
                   Diagnostics& out);

}  // namespace opdbus::network
