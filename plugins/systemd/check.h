// Semantic validation of the systemd section beyond its schema: unit and drop-in names by systemd's own
// rules, duplicates under normalisation ("ssh" and "ssh.service"), and combinations that can never hold.
#pragma once

#include <string>

#include "diagnostic.h"
#include "json.h"

namespace opdbus::systemd {

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out);

}  // namespace opdbus::systemd
