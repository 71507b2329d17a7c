#include "json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "error.h"

namespace opdbus {

namespace {

// An output stream for rapidjson::Writer that appends to a std::string. Unlike StringBuffer it has no
// PutReserve specialisation, so the writer does not reserve 6 bytes per character of every string it writes
// (the worst case of escaping): a 50 MB unit file then costs its size, not 300 MB, and no final copy.
struct StringOutput {
  using Ch = char;
  std::string* out;
  void Put(char c) { out->push_back(c); }
  void Flush() {}
};

}  // namespace

std::string to_json(const JsonValue& v) {
  std::string text;
  StringOutput stream{&text};
  rapidjson::Writer<StringOutput> w(stream);
  v.Accept(w);
  return text;
}

void sort_keys(JsonValue& v, JsonAlloc& a) {
  if (v.IsArray()) {
    for (auto& e : v.GetArray()) sort_keys(e, a);
  } else if (v.IsObject()) {
    for (auto& m : v.GetObject()) sort_keys(m.value, a);
    std::sort(v.MemberBegin(), v.MemberEnd(), [](const auto& l, const auto& r) {
      return std::string_view(l.name.GetString(), l.name.GetStringLength()) <
             std::string_view(r.name.GetString(), r.name.GetStringLength());
    });
  }
}

std::string to_pretty_json(const JsonValue& v, bool sorted) {
  JsonDoc copy;
  copy.CopyFrom(v, copy.GetAllocator());
  if (sorted) sort_keys(copy, copy.GetAllocator());
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
  copy.Accept(w);
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

JsonDoc parse_json(std::string_view text) {
  JsonDoc d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError()) {
    throw Error(ErrorKind::Bug, std::string("internal JSON does not parse: ") +
                                    rapidjson::GetParseError_En(d.GetParseError()) + " at offset " +
                                    std::to_string(d.GetErrorOffset()));
  }
  return d;
}

bool json_equal(const JsonValue& a, const JsonValue& b) {
  return a == b;
}

const JsonValue* member(const JsonValue& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(JsonValue(rapidjson::StringRef(key.data(), key.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string get_string(const JsonValue& obj, std::string_view key, std::string_view fallback) {
  const JsonValue* v = member(obj, key);
  if (v && v->IsString()) return std::string(v->GetString(), v->GetStringLength());
  return std::string(fallback);
}

bool get_bool(const JsonValue& obj, std::string_view key, bool fallback) {
  const JsonValue* v = member(obj, key);
  return v && v->IsBool() ? v->GetBool() : fallback;
}

int64_t get_int(const JsonValue& obj, std::string_view key, int64_t fallback) {
  const JsonValue* v = member(obj, key);
  return v && v->IsInt64() ? v->GetInt64() : fallback;
}

std::vector<std::string> get_strings(const JsonValue& obj, std::string_view key) {
  std::vector<std::string> out;
  const JsonValue* v = member(obj, key);
  if (v && v->IsArray()) {
    for (const auto& e : v->GetArray()) {
      if (e.IsString()) out.emplace_back(e.GetString(), e.GetStringLength());
    }
  }
  return out;
}

std::optional<std::string> opt_string(const JsonValue& obj, std::string_view key) {
  const JsonValue* v = member(obj, key);
  if (!v || !v->IsString()) return std::nullopt;
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<bool> opt_bool(const JsonValue& obj, std::string_view key) {
  const JsonValue* v = member(obj, key);
  if (!v || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

std::optional<int64_t> opt_int(const JsonValue& obj, std::string_view key) {
  const JsonValue* v = member(obj, key);
  if (!v || !v->IsNumber()) return std::nullopt;
  if (v->IsInt64()) return v->GetInt64();
  if (v->IsUint64()) return static_cast<int64_t>(v->GetUint64());
  return static_cast<int64_t>(v->GetDouble());
}

std::optional<std::vector<std::string>> opt_strings(const JsonValue& obj, std::string_view key) {
  const JsonValue* v = member(obj, key);
  if (!v || !v->IsArray()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& e : v->GetArray()) {
    if (e.IsString()) out.emplace_back(e.GetString(), e.GetStringLength());
  }
  return out;
}

std::string json_pointer(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) {
    out += '/';
    for (char c : t) {
      if (c == '~')
        out += "~0";
      else if (c == '/')
        out += "~1";
      else
        out += c;
    }
  }
  return out;
}

std::vector<std::string> split_json_pointer(std::string_view pointer) {
  std::vector<std::string> out;
  if (!pointer.empty() && pointer[0] == '#') pointer.remove_prefix(1);
  if (pointer.empty()) return out;
  std::string cur;
  bool started = false;
  for (size_t i = 0; i < pointer.size(); ++i) {
    char c = pointer[i];
    if (c == '/') {
      if (started) out.push_back(cur);
      cur.clear();
      started = true;
    } else if (c == '~' && i + 1 < pointer.size()) {
      cur += pointer[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      cur += c;
    }
  }
  if (started) out.push_back(cur);
  return out;
}

}  // namespace opdbus
