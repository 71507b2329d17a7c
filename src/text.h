// Small string helpers shared by the core and every plugin (one copy each, here).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace opdbus {

// "a, b, c"
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");
// Without leading and trailing spaces, tabs, CR and LF.
std::string trim(std::string_view s);
// ASCII lower case.
std::string lower(std::string_view s);
// The string as a JSON string literal, quotes included: "a\"b" for a"b. What diagnostics show as "found".
std::string json_quoted(std::string_view s);
// Splits on `sep`; empty fields are kept.
std::vector<std::string> split(std::string_view s, char sep);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);

// Lower-case hexadecimal of n bytes (digests, random ids).
std::string hex_lower(const unsigned char* data, size_t n);

}  // namespace opdbus
