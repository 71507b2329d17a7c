// Carrying out one operation (ops.h) against the backend, and the steps apply and rollback share.
#pragma once

#include <string>
#include <vector>

#include "action.h"
#include "network/backend.h"
#include "network/ops.h"

namespace opdbus::network {

// Runs one operation. Idempotent: what is already as asked is left alone.
void apply_op(Backend& backend, const Ops& op);
// The action's operation (it must carry one of ours).
void apply_action(Backend& backend, const Action& action);

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
void set_bond_mode(Backend& b, const std::string& name, const std::string& mode);
void set_members(Backend& b, const std::string& master, const std::string& kind,
                 const std::vector<std::string>& add, const std::vector<std::string>& remove);
void set_addresses(Backend& b, const std::string& name, const std::vector<std::string>& want);

}  // namespace opdbus::network
