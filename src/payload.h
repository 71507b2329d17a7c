// The JSON an Action carries for apply(): {"op": ..., ...}. Built by a plugin's diff, read by its apply().
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"

namespace opdbus {

class Payload {
 public:
  explicit Payload(std::string_view op) : doc_(rapidjson::kObjectType) { set("op", op); }

  Payload& set(std::string_view key, std::string_view value) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(str_value(key, a), str_value(value, a), a);
    return *this;
  }
  Payload& set(std::string_view key, const char* value) { return set(key, std::string_view(value)); }
  Payload& set(std::string_view key, const std::string& value) { return set(key, std::string_view(value)); }
  Payload& set(std::string_view key, int64_t value) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(str_value(key, a), JsonValue(value), a);
    return *this;
  }
  Payload& set(std::string_view key, bool value) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(str_value(key, a), JsonValue(value), a);
    return *this;
  }
  Payload& set_list(std::string_view key, const std::vector<std::string>& values) {
    auto& a = doc_.GetAllocator();
    JsonValue arr(rapidjson::kArrayType);
    for (const auto& v : values) arr.PushBack(str_value(v, a), a);
    doc_.AddMember(str_value(key, a), arr, a);
    return *this;
  }
  Payload& set_value(std::string_view key, const JsonValue& value) {
    auto& a = doc_.GetAllocator();
    JsonValue copy(value, a);
    doc_.AddMember(str_value(key, a), copy, a);
    return *this;
  }
  Payload& set_values(std::string_view key, const std::vector<JsonDoc>& values) {
    auto& a = doc_.GetAllocator();
    JsonValue arr(rapidjson::kArrayType);
    for (const auto& v : values) arr.PushBack(JsonValue(v, a), a);
    doc_.AddMember(str_value(key, a), arr, a);
    return *this;
  }
  Payload& set_map(std::string_view key, const std::map<std::string, std::string>& values) {
    auto& a = doc_.GetAllocator();
    JsonValue obj(rapidjson::kObjectType);
    for (const auto& [k, v] : values) obj.AddMember(str_value(k, a), str_value(v, a), a);
    doc_.AddMember(str_value(key, a), obj, a);
    return *this;
  }
  std::string text() const { return to_json(doc_); }

 private:
  JsonDoc doc_;
};

}  // namespace opdbus
