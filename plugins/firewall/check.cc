// check(): every problem parse_section() finds, plus what only a document may not say (a raw "nft" rule is
// what query reports for a rule it cannot read; a document cannot ask for one).
#include "diagnostic.h"
#include "firewall/model.h"

namespace opdbus::firewall {

std::vector<Problem> section_problems(const JsonValue& section, Section* parsed) {
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
  if (parsed) *parsed = std::move(s);
  return problems;
}

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out) {
  SectionReport report(file, section_pointer, out);
  for (const auto& p : section_problems(section, nullptr)) report.problem(p.tokens, p.message);
}

}  // namespace opdbus::firewall
