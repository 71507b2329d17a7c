// Builds one JSON object member by member: operations' fields (operation.h), journal entries, test data.
// Member order is insertion order, so the same calls give the same bytes.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"

namespace opdbus {

class JsonObject {
 public:
  JsonObject() : doc_(rapidjson::kObjectType) {}

  JsonObject& set(std::string_view key, std::string_view value) { return add(key, str_value(value, a())); }
  JsonObject& set(std::string_view key, const char* value) { return set(key, std::string_view(value)); }
  JsonObject& set(std::string_view key, const std::string& value) {
    return set(key, std::string_view(value));
  }
  JsonObject& set(std::string_view key, int64_t value) { return add(key, JsonValue(value)); }
  JsonObject& set(std::string_view key, int value) { return add(key, JsonValue(value)); }
  JsonObject& set(std::string_view key, uint64_t value) { return add(key, JsonValue(value)); }
  JsonObject& set(std::string_view key, uint32_t value) { return add(key, JsonValue(value)); }
  JsonObject& set(std::string_view key, bool value) { return add(key, JsonValue(value)); }
  JsonObject& set(std::string_view key, const std::vector<std::string>& values) {
    JsonValue arr(rapidjson::kArrayType);
    for (const auto& v : values) arr.PushBack(str_value(v, a()), a());
    return add(key, std::move(arr));
  }
  JsonObject& set(std::string_view key, const std::map<std::string, std::string>& values) {
    JsonValue obj(rapidjson::kObjectType);
    for (const auto& [k, v] : values) obj.AddMember(str_value(k, a()), str_value(v, a()), a());
    return add(key, std::move(obj));
  }
  JsonObject& set(std::string_view key, const JsonValue& value) { return add(key, JsonValue(value, a())); }

  std::string text() const { return to_json(doc_); }
  JsonDoc take() { return std::move(doc_); }

 private:
  JsonAlloc& a() { return doc_.GetAllocator(); }
  JsonObject& add(std::string_view key, JsonValue v) {
    doc_.AddMember(str_value(key, a()), v, a());
    return *this;
  }
  JsonDoc doc_;
};

}  // namespace opdbus
