// Loading a state document: read, parse (depth-capped, UTF-8 checked, line/column on syntax errors), then
// validate against the compiled-in JSON Schemas (top level, then each plugin section with its own schema).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "diagnostic.h"
#include "error.h"
#include "json.h"

namespace opdbus {

inline constexpr int kMaxNestingDepth = 64;
inline constexpr int kCurrentVersion = 1;

// Thrown when a document fails to load; carries every problem found. kind() is InvalidArgument.
class ValidationFailed : public Error {
 public:
  explicit ValidationFailed(Diagnostics diagnostics);
  const Diagnostics& diagnostics() const { return diagnostics_; }

 private:
  Diagnostics diagnostics_;
};

struct State {
  std::string file;  // as named on the command line ("-" for stdin)
  JsonDoc doc;

  // The plugin's section of "plugins", or nullptr if the document does not name the plugin.
  const JsonValue* section(std::string_view plugin) const;
  // Plugin names in the document, in document order.
  std::vector<std::string> plugin_names() const;
};

// Parses and schema-validates. Throws ValidationFailed (every diagnostic) or Error for I/O problems.
State load_state_file(const std::string& path);
State load_state_text(std::string_view text, const std::string& name);

// Parse only (syntax, UTF-8, depth): used for `plan --current` files and by load_state_text.
JsonDoc parse_user_json(std::string_view text, const std::string& name);

}  // namespace opdbus
