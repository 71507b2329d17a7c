// libvirt -> the section's format: one list of every persistent domain (inactive XML, state, autostart) and
// the volumes of each active pool (for the disks' sizes and pools). A domain named by a document's VM is
// reported under that VM's id; any other under its own name. Only the fields the document owns are read
// (parse_domain_xml). With a desired section, "x-target" tells diff which pools exist.
#pragma once

#include "json.h"
#include "kvm/backend.h"

namespace opdbus::kvm {

JsonDoc query_section(Backend& backend, const JsonValue* desired);

}  // namespace opdbus::kvm
