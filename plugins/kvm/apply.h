// Carrying out one kvm Action against the backend. Each operation re-reads what it needs (the domain's
// current definition, a pool's volumes), so it is idempotent: a volume that exists is reused, a domain already
// running is not started again, a domain already gone is not undefined again. Failures carry libvirt's words.
#pragma once

#include "action.h"
#include "kvm/backend.h"
#include "kvm/model.h"

namespace opdbus::kvm {

void apply_action(Backend& backend, const Action& action);

// The document's VM with what it leaves out taken from the current definition (`current`), for a redefinition.
Vm merge_for_define(const Vm& want, const ParsedDomain& current);

// ACPI shutdown, polled every 200 ms; destroy when still running after `timeout_s` seconds.
void stop_gracefully(Backend& backend, const std::string& domain, int timeout_s);

}  // namespace opdbus::kvm
