// Small helpers around RapidJSON so the rest of the code reads as what it does, not as allocator plumbing.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opdbus {

using JsonValue = rapidjson::Value;
using JsonDoc = rapidjson::Document;
using JsonAlloc = rapidjson::Document::AllocatorType;

// Compact JSON text. Object members keep their order, so equal values built the same way give equal bytes.
std::string to_json(const JsonValue& v);
// Indented JSON text (two spaces), object members sorted by key: what `show` and `schema` print.
std::string to_pretty_json(const JsonValue& v, bool sort_keys = true);
// Deep copy with object members sorted by key; the basis of stable output.
void sort_keys(JsonValue& v, JsonAlloc& a);

// Parses trusted text (compiled-in schemas, our own output). User files go through load_state().
JsonDoc parse_json(std::string_view text);

// Structural equality: object member order is ignored, numbers compare by value.
bool json_equal(const JsonValue& a, const JsonValue& b);

// Typed reads with defaults, for plugin code that walks its own (already schema-validated) section.
const JsonValue* member(const JsonValue& obj, std::string_view key);
std::string get_string(const JsonValue& obj, std::string_view key, std::string_view fallback = "");
bool get_bool(const JsonValue& obj, std::string_view key, bool fallback = false);
int64_t get_int(const JsonValue& obj, std::string_view key, int64_t fallback = 0);
std::vector<std::string> get_strings(const JsonValue& obj, std::string_view key);
// The same reads for models that must tell "not given" from a value: nullopt when the key is absent or holds
// another type. Numbers are read as integers; a list keeps only its strings.
std::optional<std::string> opt_string(const JsonValue& obj, std::string_view key);
std::optional<bool> opt_bool(const JsonValue& obj, std::string_view key);
std::optional<int64_t> opt_int(const JsonValue& obj, std::string_view key);
std::optional<std::vector<std::string>> opt_strings(const JsonValue& obj, std::string_view key);

// JSON Pointer (RFC 6901) text from tokens, with '~' and '/' escaped: {"devices", "/dev/sda"} ->
// "/devices/~1dev~1sda".
std::string json_pointer(const std::vector<std::string>& tokens);
std::vector<std::string> split_json_pointer(std::string_view pointer);

inline JsonValue str_value(std::string_view s, JsonAlloc& a) {
  return JsonValue(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

}  // namespace opdbus
