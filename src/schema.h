// The JSON Schemas (draft-04) compiled into the binary, and validation that explains itself:
// every failure names the JSON pointer, what the schema expected and what the document has.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostic.h"
#include "json.h"

namespace opdbus {

// "state" plus one name per plugin schema, sorted.
std::vector<std::string> schema_names();
// The schema text, or nullopt for an unknown name.
std::optional<std::string_view> schema_text(std::string_view name);

// Validates `value` against the named schema. `base_pointer` is where `value` sits in the document
// ("/plugins/systemd") so diagnostics point into the user's file. Appends to `out`.
void validate_schema(std::string_view name, const JsonValue& value, const std::string& base_pointer,
                     const std::string& file, Diagnostics& out);

// True when the plugin schema marks the field at `path` (tokens inside the plugin section) with
// "secret": true. Used to redact plans, logs and the journal.
bool is_secret(std::string_view plugin, const std::vector<std::string>& path);

}  // namespace opdbus
