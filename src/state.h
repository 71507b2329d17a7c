// Loading a state document: read, parse (depth-capped, UTF-8 checked, line/column on syntax errors), then
// validate against the compiled-in JSON Schemas (top level, then each plugin section with its own schema).
#pragma once

#include <cstddef>
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

// Size limits for user documents (--max-document-size, --max-value-size): a state document is a few
// kilobytes; these stop a runaway or hostile file before it costs gigabytes of memory.
struct LoadLimits {
  std::size_t max_document = std::size_t{64} << 20;  // bytes of the whole file
  std::size_t max_value = std::size_t{16} << 20;     // bytes of one string value (or key)
};

// Parses and schema-validates. Throws ValidationFailed (every diagnostic) or Error for I/O problems.
State load_state_file(const std::string& path, const LoadLimits& limits = {});
State load_state_text(std::string_view text, const std::string& name, const LoadLimits& limits = {});

// Parse only (syntax, UTF-8, depth, value size): used for `plan --current` files and by load_state_text.
JsonDoc parse_user_json(std::string_view text, const std::string& name, const LoadLimits& limits = {});

// "1048576", "64K", "16M", "1G" (also "16MiB", "16MB": binary units either way) -> bytes. Throws
// Error(InvalidArgument) for anything else or zero.
std::size_t parse_byte_size(std::string_view text);
// 16777216 -> "16 MiB", 1000 -> "1000 bytes"
std::string format_byte_size(std::size_t bytes);

}  // namespace opdbus
