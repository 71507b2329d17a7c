// check(): every problem parse_section() finds, plus what only a document may not say (a raw "nft" rule is
// what query reports for a rule it cannot read; a document cannot ask for one).
#include <cstring>
#include <mutex>

#include "diagnostic.h"
#include "firewall/model.h"

namespace opdbus::firewall {

namespace {

// Equal as JSON text would be: the same types (an integer is not a double), values, and members in the same
// order. (rapidjson's == says 22 == 22.0 and ignores member order; parse_section() does not.)
bool same_json(const JsonValue& a, const JsonValue& b) {
  if (a.GetType() != b.GetType()) return false;
  switch (a.GetType()) {
    case rapidjson::kNullType:
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return true;
    case rapidjson::kStringType:
      return a.GetStringLength() == b.GetStringLength() &&
             std::memcmp(a.GetString(), b.GetString(), a.GetStringLength()) == 0;
    case rapidjson::kNumberType:
      if (a.IsInt64() != b.IsInt64() || a.IsUint64() != b.IsUint64() || a.IsDouble() != b.IsDouble()) {
        return false;
      }
      if (a.IsDouble()) return a.GetDouble() == b.GetDouble();
      return a.IsInt64() ? a.GetInt64() == b.GetInt64() : a.GetUint64() == b.GetUint64();
    case rapidjson::kArrayType:
      if (a.Size() != b.Size()) return false;
      for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
        if (!same_json(a[i], b[i])) return false;
      }
      return true;
    case rapidjson::kObjectType: {
      if (a.MemberCount() != b.MemberCount()) return false;
      for (auto x = a.MemberBegin(), y = b.MemberBegin(); x != a.MemberEnd(); ++x, ++y) {
        if (!same_json(x->name, y->name) || !same_json(x->value, y->value)) return false;
      }
      return true;
    }
  }
  return false;
}

// The last section parsed, and what came of it: an apply parses the same document's section for check(),
// for the plan and again for the verification, and at 10,000 rules each parse costs more than comparing.
struct LastParse {
  std::mutex mu;
  JsonDoc section;
  Section parsed;
  std::vector<Problem> problems;
  bool valid = false;
};
LastParse& last_parse() {
  static auto* last = new LastParse();
  return *last;
}

}  // namespace

std::vector<Problem> section_problems(const JsonValue& section, Section* parsed) {
  LastParse& last = last_parse();
  {
    std::lock_guard<std::mutex> lock(last.mu);
    if (last.valid && same_json(last.section, section)) {
      if (parsed) *parsed = last.parsed;
      return last.problems;
    }
  }
  std::vector<Problem> problems;
  Section s = parse_section(section, &problems);
  if (const JsonValue* rules = member(section, "rules"); rules && rules->IsArray()) {
    for (rapidjson::SizeType i = 0; i < rules->Size(); ++i) {
      if (member((*rules)[i], "nft")) {
        problems.push_back(
            {{"rules", std::to_string(i), "nft"}, "not supported yet: raw nft expressions in a rule"});
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(last.mu);
    JsonDoc copy;  // a fresh document: its allocator holds this copy only
    copy.CopyFrom(section, copy.GetAllocator());
    last.section.Swap(copy);
    last.parsed = s;
    last.problems = problems;
    last.valid = true;
  }
  if (parsed) *parsed = std::move(s);
  return problems;
}

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out) {
  SectionReport report(file, section_pointer, out);
  for (const auto& p : section_problems(section, nullptr)) report.problem(p.tokens, p.message);
}

}  // namespace opdbus::firewall
