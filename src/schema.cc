#include "schema.h"

#include <rapidjson/internal/regex.h>
#include <rapidjson/schema.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "error.h"
#include "text.h"

namespace opdbus::generated {
struct EmbeddedSchema {
  std::string_view name;
  std::string_view text;
};
extern const EmbeddedSchema kSchemas[];
extern const std::size_t kSchemaCount;
}  // namespace opdbus::generated

namespace opdbus {
namespace {

// One validation call reports at most this many problems; past that the rest is noise.
constexpr std::size_t kMaxDiagnosticsPerCall = 50;
// Long strings in messages are cut so one bad value cannot flood the terminal.
constexpr std::size_t kMaxQuotedLength = 60;

// Pool-allocated: with the default CrtAllocator, RapidJSON keeps some strings reachable only through its
// tagged 48-bit pointers, which leak checkers (LeakSanitizer under the fuzzer) report as leaks.
using SchemaDoc = rapidjson::GenericSchemaDocument<JsonValue, rapidjson::MemoryPoolAllocator<>>;
using SchemaValidator = rapidjson::GenericSchemaValidator<SchemaDoc>;

}  // namespace
}  // namespace opdbus

// RapidJSON runs a schema node's "pattern" (its own NFA regex engine) on every string the node judges: a
// document of 10,000 firewall rules runs the same few patterns on the same few values ("tcp", "@s1", a
// network) tens of thousands of times. So the answer is memoised per compiled pattern and string: the same
// pattern on the same string always gives the same answer, and the validator's outcome (and so every
// message) is unchanged. Compiled schema nodes live for ever (compiled() below), so a pattern's address is a
// stable key. This specialises the matcher of the validator type used here only (SchemaDoc).
namespace rapidjson::internal {
template <>
bool Schema<opdbus::SchemaDoc>::IsPatternMatch(const RegexType* pattern, const Ch* str, SizeType length) {
  constexpr std::size_t kMaxEntries = 1 << 16;  // a bound, for long-lived processes
  static std::mutex mu;
  static auto* memo = new std::unordered_map<const RegexType*, std::unordered_map<std::string, bool>>();
  std::string key(str, length);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto& answers = (*memo)[pattern];
    if (auto it = answers.find(key); it != answers.end()) return it->second;
  }
  bool matched = pattern->Search(str);  // as RapidJSON does (the string is NUL-terminated)
  std::lock_guard<std::mutex> lock(mu);
  auto& answers = (*memo)[pattern];
  if (answers.size() >= kMaxEntries) answers.clear();
  answers.emplace(std::move(key), matched);
  return matched;
}
}  // namespace rapidjson::internal

namespace opdbus {
namespace {

struct LoadedSchema {
  std::string name;
  std::string_view text;
  // The schema with every local "$ref" replaced by a copy of its target, so any node can be compiled and
  // walked on its own.
  JsonDoc resolved;
};

std::string_view view(const JsonValue& v) {
  return {v.GetString(), v.GetStringLength()};
}

const JsonValue* get(const JsonValue& obj, std::string_view key) {
  return member(obj, key);
}

// Replaces {"$ref": "#/..."} by a deep copy of the target; sibling keys (a local "description") are kept
// on top of the copy. Refs to other files are left alone (our schemas do not use them).
void inline_refs(JsonValue& node, const JsonValue& root, JsonAlloc& alloc, int depth) {
  if (depth > 32) throw Error(ErrorKind::Bug, "schema $ref nesting too deep");
  if (node.IsArray()) {
    for (auto& e : node.GetArray()) inline_refs(e, root, alloc, depth);
    return;
  }
  if (!node.IsObject()) return;
  const JsonValue* ref = get(node, "$ref");
  if (ref && ref->IsString() && ref->GetStringLength() > 0 && ref->GetString()[0] == '#') {
    std::string target_text(view(*ref).substr(1));
    const JsonValue* target = rapidjson::Pointer(target_text.c_str()).Get(root);
    if (!target) throw Error(ErrorKind::Bug, "schema $ref not found: " + std::string(view(*ref)));
    JsonValue copy(*target, alloc);
    inline_refs(copy, root, alloc, depth + 1);
    if (copy.IsObject()) {
      for (auto& m : node.GetObject()) {
        if (view(m.name) == "$ref") continue;
        copy.RemoveMember(m.name);
        copy.AddMember(JsonValue(m.name, alloc), JsonValue(m.value, alloc), alloc);
      }
    }
    node = copy;
    return;
  }
  for (auto& m : node.GetObject()) inline_refs(m.value, root, alloc, depth);
}

const std::vector<std::unique_ptr<LoadedSchema>>& registry() {
  static const auto* schemas = [] {
    auto* out = new std::vector<std::unique_ptr<LoadedSchema>>();
    for (std::size_t i = 0; i < generated::kSchemaCount; ++i) {
      auto s = std::make_unique<LoadedSchema>();
      s->name = std::string(generated::kSchemas[i].name);
      s->text = generated::kSchemas[i].text;
      JsonDoc original = parse_json(s->text);
      s->resolved.CopyFrom(original, s->resolved.GetAllocator());
      inline_refs(s->resolved, original, s->resolved.GetAllocator(), 0);
      out->push_back(std::move(s));
    }
    std::sort(out->begin(), out->end(), [](const auto& a, const auto& b) { return a->name < b->name; });
    return out;
  }();
  return *schemas;
}

const LoadedSchema* find_schema(std::string_view name) {
  for (const auto& s : registry()) {
    if (s->name == name) return s.get();
  }
  return nullptr;
}

// Compiled validators, one per schema node that validation has needed so far. Nodes live as long as the
// registry (forever), so their addresses are stable keys.
const SchemaDoc& compiled(const JsonValue& node) {
  static std::mutex mu;
  static auto* cache = new std::map<const JsonValue*, std::unique_ptr<SchemaDoc>>();
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = (*cache)[&node];
  if (!slot) slot = std::make_unique<SchemaDoc>(node);
  return *slot;
}

// Optimal string alignment distance: edits, plus swapping two neighbours ("netwrok" -> "network") as one.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The candidate a typo most likely meant, or "" when none is close enough to be a useful guess.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.size() > 64) return "";  // not a typo, and keeps the distance table small
  std::string lw = lower(word);
  std::size_t limit = lw.size() <= 3 ? 1 : lw.size() <= 6 ? 2 : 3;
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    if (c.size() > 64) continue;
    std::size_t dist = edit_distance(lw, lower(c));
    if (dist < best_distance) {
      best_distance = dist;
      best = c;
    }
  }
  return best;
}

// A JSON string literal, shortened when long (never inside a UTF-8 sequence).
std::string quote(std::string_view s) {
  bool cut = false;
  if (s.size() > kMaxQuotedLength) {
    std::size_t n = kMaxQuotedLength;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n);
    cut = true;
  }
  JsonDoc tmp;
  std::string out = to_json(str_value(s, tmp.GetAllocator()));
  if (cut) out.insert(out.size() - 1, "...");
  return out;
}

std::string type_name(const JsonValue& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "boolean";
  if (v.IsObject()) return "object";
  if (v.IsArray()) return "array";
  if (v.IsString()) return "string";
  return "number";
}

// "number 5", "string \"x\"", "boolean true", "object", "array of 2 items", "null".
std::string describe(const JsonValue& v, bool secret) {
  if (secret && !v.IsNull()) return type_name(v) + " (value hidden)";
  if (v.IsNull()) return "null";
  if (v.IsBool()) return v.GetBool() ? "boolean true" : "boolean false";
  if (v.IsNumber()) return "number " + to_json(v);
  if (v.IsString()) return "string " + quote(view(v));
  if (v.IsObject()) return "object";
  std::size_t n = v.Size();
  return "array of " + std::to_string(n) + (n == 1 ? " item" : " items");
}

// The value as the user wrote it (strings quoted), or its type when it is a container or secret.
std::string literal(const JsonValue& v, bool secret) {
  if (secret) return describe(v, true);
  if (v.IsString()) return quote(view(v));
  if (v.IsObject() || v.IsArray()) return describe(v, false);
  return to_json(v);
}

bool is_secret_node(const JsonValue* node) {
  const JsonValue* s = node ? get(*node, "secret") : nullptr;
  return s && s->IsBool() && s->GetBool();
}

std::vector<std::string> property_names(const JsonValue& schema) {
  std::vector<std::string> names;
  const JsonValue* props = get(schema, "properties");
  if (props && props->IsObject()) {
    for (const auto& m : props->GetObject()) names.emplace_back(view(m.name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string number_text(const JsonValue& v) {
  return v.IsNumber() ? to_json(v) : "?";
}

bool type_allows(const JsonValue& schema, std::string_view type) {
  const JsonValue* t = get(schema, "type");
  if (!t) return true;
  if (t->IsString()) return view(*t) == type;
  if (t->IsArray()) {
    for (const auto& e : t->GetArray()) {
      if (e.IsString() && view(e) == type) return true;
    }
  }
  return false;
}

// RapidJSON reports one failure as a keyword plus two pointers relative to the node that was checked:
// one into the schema, one into the value. The helpers below read them; the checked node stands in
// when a pointer does not resolve.
std::string failed_keyword(const SchemaValidator& validator) {
  return validator.GetInvalidSchemaKeyword() ? validator.GetInvalidSchemaKeyword() : "";
}

const JsonValue& failed_schema_node(const SchemaValidator& validator, const JsonValue& schema) {
  const JsonValue* node = validator.GetInvalidSchemaPointer().Get(schema);
  return node ? *node : schema;
}

const JsonValue& failed_value(const SchemaValidator& validator, const JsonValue& value) {
  const auto doc_pointer = validator.GetInvalidDocumentPointer();
  const JsonValue* found = doc_pointer.IsValid() ? doc_pointer.Get(value) : &value;
  return found ? *found : value;
}

// The failed value's path in the whole document: where the checked node sits, then RapidJSON's tokens.
std::vector<std::string> failed_path(const SchemaValidator& validator, const std::vector<std::string>& path) {
  std::vector<std::string> full_path = path;
  const auto doc_pointer = validator.GetInvalidDocumentPointer();
  for (std::size_t i = 0; i < doc_pointer.GetTokenCount(); ++i) {
    const auto& t = doc_pointer.GetTokens()[i];
    full_path.emplace_back(t.name, t.length);
  }
  return full_path;
}

// The schema author's own wording for what a node expects ("x-expected"), or "" when there is none.
std::string custom_expected(const JsonValue& node) {
  const JsonValue* custom = get(node, "x-expected");
  return custom && custom->IsString() ? std::string(view(*custom)) : "";
}

// The number a keyword holds ("?" when the node lacks it).
std::string keyword_number(const JsonValue& node, std::string_view keyword) {
  const JsonValue* n = get(node, keyword);
  return n ? number_text(*n) : "?";
}

// "at least N" for a min* keyword, "at most N" for a max* one.
std::string limit_text(const JsonValue& node, std::string_view keyword) {
  return (starts_with(keyword, "min") ? "at least " : "at most ") + keyword_number(node, keyword);
}

// "string", or "string or null" when the node allows several types.
std::string expected_type(const JsonValue& node) {
  const JsonValue* t = get(node, "type");
  std::vector<std::string> types;
  if (t && t->IsString()) types.emplace_back(view(*t));
  if (t && t->IsArray()) {
    for (const auto& e : t->GetArray()) {
      if (e.IsString()) types.emplace_back(view(e));
    }
  }
  return join(types, " or ");
}

// "\"only\"" for a one-value enum, else "one of \"a\", \"b\", 3".
std::string expected_enum(const JsonValue& node) {
  const JsonValue* e = get(node, "enum");
  std::vector<std::string> options;
  if (e && e->IsArray()) {
    for (const auto& o : e->GetArray()) options.push_back(o.IsString() ? quote(view(o)) : to_json(o));
  }
  return options.size() == 1 ? options[0] : "one of " + join(options, ", ");
}

// The value an enum refused; a misspelt string also gets the allowed value it most likely meant.
std::string found_for_enum(const JsonValue& node, const JsonValue& found, bool secret) {
  if (!found.IsString()) return describe(found, secret);
  std::string text = literal(found, secret);
  if (secret) return text;  // a guess would give the value away
  const JsonValue* e = get(node, "enum");
  std::vector<std::string> allowed;
  if (e && e->IsArray()) {
    for (const auto& o : e->GetArray()) {
      if (o.IsString()) allowed.emplace_back(view(o));
    }
  }
  std::string guess = closest_match(view(found), allowed);
  if (!guess.empty()) text += " (did you mean " + quote(guess) + "?)";
  return text;
}

// For "minimum"/"maximum": "at least 1", or "a number greater than 0" when the bound is exclusive.
std::string expected_bound(const JsonValue& node, std::string_view keyword) {
  bool is_min = keyword == "minimum";
  const JsonValue* exclusive = get(node, is_min ? "exclusiveMinimum" : "exclusiveMaximum");
  if (!(exclusive && exclusive->IsBool() && exclusive->GetBool())) return limit_text(node, keyword);
  return (is_min ? "a number greater than " : "a number less than ") + keyword_number(node, keyword);
}

// For "minLength"/"maxLength": "at most 15 characters"; the common minLength 1 reads "a non-empty string".
std::string expected_length(const JsonValue& node, std::string_view keyword) {
  if (keyword == "minLength" && keyword_number(node, keyword) == "1") return "a non-empty string";
  return limit_text(node, keyword) + " characters";
}

// Puts one failed keyword into words: what the schema expected and what the document has, or a message
// where "expected" does not fit. A secret node's value is never shown. An "x-expected" in the schema
// replaces the generated wording of type, bound, pattern, length and oneOf/anyOf failures.
void explain_keyword(Diagnostic& d, std::string_view keyword, const JsonValue& node, const JsonValue& found) {
  const bool secret = is_secret_node(&node);
  const std::string custom = custom_expected(node);
  auto or_custom = [&](std::string generated) { return custom.empty() ? generated : custom; };
  if (keyword == "type") {
    d.expected = or_custom(expected_type(node));
    d.found = describe(found, secret);
  } else if (keyword == "enum") {
    d.expected = expected_enum(node);
    d.found = found_for_enum(node, found, secret);
  } else if (keyword == "minimum" || keyword == "maximum") {
    d.expected = or_custom(expected_bound(node, keyword));
    d.found = describe(found, secret);
  } else if (keyword == "multipleOf") {
    d.expected = "a multiple of " + keyword_number(node, keyword);
    d.found = describe(found, secret);
  } else if (keyword == "pattern") {
    const JsonValue* p = get(node, "pattern");
    d.expected = or_custom("a string matching " + (p && p->IsString() ? quote(view(*p)) : std::string("?")));
    d.found = literal(found, secret);
  } else if (keyword == "minLength" || keyword == "maxLength") {
    d.expected = or_custom(expected_length(node, keyword));
    d.found = literal(found, secret);
  } else if (keyword == "minItems" || keyword == "maxItems") {
    d.expected = limit_text(node, keyword) + " items";
    d.found = describe(found, false);
  } else if (keyword == "minProperties" || keyword == "maxProperties") {
    d.expected = limit_text(node, keyword) + " keys";
    d.found = found.IsObject() ? std::to_string(found.MemberCount()) + " keys" : describe(found, secret);
  } else if (keyword == "uniqueItems") {
    d.message = "items must be unique";
    d.found = describe(found, false);
  } else if (keyword == "items" || keyword == "additionalItems") {
    d.message = "too many items";
    d.found = describe(found, false);
  } else if (keyword == "oneOf" || keyword == "anyOf") {
    d.expected = or_custom("a value of one of the allowed forms");
    d.found = describe(found, secret);
  } else if (keyword == "required") {
    d.message = "a required key is missing";
  } else {
    d.message = "value not allowed here (schema keyword \"" + std::string(keyword) + "\")";
    d.found = describe(found, secret);
  }
}

// Walks a value alongside its schema. RapidJSON's validator stops at the first failure, so where the
// schema is a plain object or array description we check the children one by one ourselves: one
// document then yields every problem, each pointing at its own place.
class Checker {
 public:
  Checker(std::string_view schema_name, const std::string& base_pointer, const std::string& file,
          Diagnostics& out)
      : schema_name_(schema_name), base_(base_pointer), file_(file), out_(out), start_(out.size()) {}

  void check(const JsonValue& value, const JsonValue& schema, std::vector<std::string>& path) {
    if (full()) return;
    SchemaValidator validator(compiled(schema));
    if (value.Accept(validator)) return;
    std::size_t before = out_.size();
    if (descend(value, schema, path)) {
      if (out_.size() > before || full()) return;
    }
    report(validator, value, schema, path);
  }

  void finish() {
    if (out_.size() - start_ >= kMaxDiagnosticsPerCall) {
      Diagnostic d = make({});
      d.message = "too many errors; only the first " + std::to_string(kMaxDiagnosticsPerCall) + " are shown";
      out_.push_back(std::move(d));
    }
  }

 private:
  bool full() const { return out_.size() - start_ >= kMaxDiagnosticsPerCall; }

  Diagnostic make(const std::vector<std::string>& path) const {
    Diagnostic d;
    d.file = file_;
    d.pointer = base_ + json_pointer(path);
    return d;
  }

  void add(Diagnostic d) {
    if (!full()) out_.push_back(std::move(d));
  }

  // True when the schema node only describes structure (keys, items) so children can be checked apart.
  static bool is_plain_container(const JsonValue& value, const JsonValue& schema) {
    static constexpr std::string_view kComplex[] = {"enum",
                                                    "oneOf",
                                                    "anyOf",
                                                    "allOf",
                                                    "not",
                                                    "dependencies",
                                                    "patternProperties",
                                                    "minProperties",
                                                    "maxProperties",
                                                    "uniqueItems",
                                                    "additionalItems"};
    if (!schema.IsObject()) return false;
    for (auto k : kComplex) {
      if (get(schema, k)) return false;
    }
    if (value.IsObject()) {
      return type_allows(schema, "object") &&
             (get(schema, "properties") || get(schema, "additionalProperties"));
    }
    if (value.IsArray()) {
      const JsonValue* items = get(schema, "items");
      return type_allows(schema, "array") && items && items->IsObject();
    }
    return false;
  }

  bool descend(const JsonValue& value, const JsonValue& schema, std::vector<std::string>& path) {
    if (!is_plain_container(value, schema)) return false;
    if (value.IsObject()) {
      const JsonValue* props = get(schema, "properties");
      const JsonValue* extra = get(schema, "additionalProperties");
      for (const auto& m : value.GetObject()) {
        if (full()) return true;
        std::string key(view(m.name));
        const JsonValue* sub = props && props->IsObject() ? get(*props, key) : nullptr;
        if (!sub && extra && extra->IsObject()) sub = extra;
        path.push_back(key);
        if (sub) {
          check(m.value, *sub, path);
        } else if (extra && extra->IsBool() && !extra->GetBool()) {
          add(unknown_key(schema, path));
        }
        path.pop_back();
      }
      add_missing_keys(schema, value, path);
      return true;
    }
    const JsonValue* min_items = get(schema, "minItems");
    const JsonValue* max_items = get(schema, "maxItems");
    if (min_items && min_items->IsUint64() && value.Size() < min_items->GetUint64()) {
      add(item_count(value, "at least " + std::to_string(min_items->GetUint64()), path));
    }
    if (max_items && max_items->IsUint64() && value.Size() > max_items->GetUint64()) {
      add(item_count(value, "at most " + std::to_string(max_items->GetUint64()), path));
    }
    const JsonValue& items = *get(schema, "items");
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      if (full()) return true;
      path.push_back(std::to_string(i));
      check(value[i], items, path);
      path.pop_back();
    }
    return true;
  }

  Diagnostic item_count(const JsonValue& value, const std::string& bound,
                        const std::vector<std::string>& path) {
    Diagnostic d = make(path);
    d.expected = bound + " items";
    d.found = describe(value, false);
    return d;
  }

  Diagnostic unknown_key(const JsonValue& parent_schema, const std::vector<std::string>& path) const {
    Diagnostic d = make(path);
    const std::string& key = path.back();
    std::vector<std::string> known = property_names(parent_schema);
    std::string guess = closest_match(key, known);
    if (schema_name_ == "state" && path.size() == 2 && path[0] == "plugins") {
      d.message = "unknown plugin " + quote(key) + "; known plugins: " + join(known, ", ");
      if (!guess.empty()) d.message += "; did you mean " + quote(guess) + "?";
      return d;
    }
    d.message = "unknown key " + quote(key);
    if (!guess.empty()) d.message += " (did you mean " + quote(guess) + "?)";
    d.expected = known.empty() ? std::string("no keys here") : "one of: " + join(known, ", ");
    return d;
  }

  Diagnostic missing_key(std::string_view key, const std::vector<std::string>& path) const {
    Diagnostic d = make(path);
    d.message = "missing required key " + quote(key);
    if (schema_name_ == "state" && path.empty() && key == "version") {
      d.message += "; add \"version\": 1";
    }
    return d;
  }

  // Explains RapidJSON's one failure: the keyword, the schema node that holds it and the value it judged.
  void report(const SchemaValidator& validator, const JsonValue& value, const JsonValue& schema,
              const std::vector<std::string>& path) {
    const std::string keyword = failed_keyword(validator);
    const JsonValue& node = failed_schema_node(validator, schema);
    const JsonValue& found = failed_value(validator, value);
    const std::vector<std::string> full_path = failed_path(validator, path);

    // Unknown and missing keys are worded as descend() words them, not as the keyword that caught them.
    if (keyword == "additionalProperties" && !full_path.empty()) {
      add(unknown_key(node, full_path));
      return;
    }
    if (keyword == "required" && add_missing_keys(node, found, full_path) > 0) return;
    if (is_unsupported_version(keyword, full_path, found)) {
      add(unsupported_version(found, full_path));
      return;
    }
    Diagnostic d = make(full_path);
    explain_keyword(d, keyword, node, found);
    add(std::move(d));
  }

  // Adds a "missing required key" for each key `schema` requires that `object` lacks; returns how many.
  std::size_t add_missing_keys(const JsonValue& schema, const JsonValue& object,
                               const std::vector<std::string>& path) {
    std::size_t before = out_.size();
    const JsonValue* required = get(schema, "required");
    if (required && required->IsArray() && object.IsObject()) {
      for (const auto& r : required->GetArray()) {
        if (r.IsString() && !object.HasMember(r)) add(missing_key(view(r), path));
      }
    }
    return out_.size() - before;
  }

  // The state schema's "version" enum fails for any version this build does not know; say which it knows
  // rather than "expected 1".
  bool is_unsupported_version(std::string_view keyword, const std::vector<std::string>& path,
                              const JsonValue& found) const {
    return keyword == "enum" && schema_name_ == "state" && path == std::vector<std::string>{"version"} &&
           found.IsNumber();
  }

  Diagnostic unsupported_version(const JsonValue& found, const std::vector<std::string>& path) const {
    Diagnostic d = make(path);
    d.message =
        "unsupported version " + to_json(found) + "; this op-dbus supports version " + std::to_string(1);
    return d;
  }

  std::string schema_name_;
  const std::string& base_;
  const std::string& file_;
  Diagnostics& out_;
  std::size_t start_;
};

bool is_index(std::string_view token) {
  return !token.empty() && token.size() < 10 &&
         std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool pattern_matches(const JsonValue& pattern, const std::string& token) {
  if (!pattern.IsString()) return false;
  std::string source(view(pattern));
  rapidjson::internal::Regex re(source.c_str());
  return re.IsValid() && re.Search(token.c_str());
}

// Follows `path` from `node`, trying every branch a schema allows (properties, patternProperties,
// additionalProperties, items, and the alternatives of allOf/anyOf/oneOf).
bool secret_along(const JsonValue& node, const std::vector<std::string>& path, std::size_t at, int depth) {
  if (!node.IsObject() || depth > 64) return false;
  if (is_secret_node(&node)) return true;
  for (const char* combinator : {"allOf", "anyOf", "oneOf"}) {
    const JsonValue* alts = get(node, combinator);
    if (alts && alts->IsArray()) {
      for (const auto& alt : alts->GetArray()) {
        if (secret_along(alt, path, at, depth + 1)) return true;
      }
    }
  }
  if (at == path.size()) return false;
  const std::string& token = path[at];
  bool matched = false;
  const JsonValue* props = get(node, "properties");
  if (props && props->IsObject()) {
    if (const JsonValue* sub = get(*props, token)) {
      matched = true;
      if (secret_along(*sub, path, at + 1, depth + 1)) return true;
    }
  }
  const JsonValue* patterns = get(node, "patternProperties");
  if (patterns && patterns->IsObject()) {
    for (const auto& m : patterns->GetObject()) {
      if (pattern_matches(m.name, token)) {
        matched = true;
        if (secret_along(m.value, path, at + 1, depth + 1)) return true;
      }
    }
  }
  const JsonValue* extra = get(node, "additionalProperties");
  if (!matched && extra && extra->IsObject() && secret_along(*extra, path, at + 1, depth + 1)) return true;
  const JsonValue* items = get(node, "items");
  if (is_index(token) && items) {
    if (items->IsObject() && secret_along(*items, path, at + 1, depth + 1)) return true;
    if (items->IsArray()) {
      std::size_t i = std::stoul(token);
      if (i < items->Size() &&
          secret_along((*items)[static_cast<rapidjson::SizeType>(i)], path, at + 1, depth + 1)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> schema_names() {
  std::vector<std::string> names;
  for (const auto& s : registry()) names.push_back(s->name);
  return names;
}

std::optional<std::string_view> schema_text(std::string_view name) {
  const LoadedSchema* s = find_schema(name);
  if (!s) return std::nullopt;
  return s->text;
}

void validate_schema(std::string_view name, const JsonValue& value, const std::string& base_pointer,
                     const std::string& file, Diagnostics& out) {
  const LoadedSchema* s = find_schema(name);
  if (!s) throw Error(ErrorKind::Bug, "no compiled-in schema named \"" + std::string(name) + "\"");
  Checker checker(name, base_pointer, file, out);
  std::vector<std::string> path;
  checker.check(value, s->resolved, path);
  checker.finish();
}

bool is_secret(std::string_view plugin, const std::vector<std::string>& path) {
  if (plugin == "state") return false;
  const LoadedSchema* s = find_schema(plugin);
  if (!s) return false;
  return secret_along(s->resolved, path, 0, 0);
}

}  // namespace opdbus
