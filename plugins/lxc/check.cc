// check(): every problem parse_section() finds (names, sizes, addresses, paths, raw keys), plus what only a
// document may not say: a container made both from a template and by cloning.
#include "diagnostic.h"
#include "lxc/model.h"

namespace opdbus::lxc {

std::vector<Problem> section_problems(const JsonValue& section) {
  std::vector<Problem> problems;
  Section s = parse_section(section, &problems);
  for (const auto& [name, c] : s.containers) {
    if (c.network && c.network->bridge.empty()) {
      problems.push_back(
          {{"containers", name, "config", "network"}, "a network needs a bridge to attach to", "", ""});
    }
    if (c.template_name && c.clone_from) {
      problems.push_back({{"containers", name, "clone_from"},
                          "give either \"template\" or \"clone_from\", not both",
                          "",
                          ""});
    }
  }
  return problems;
}

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   Diagnostics& out) {
  SectionReport report(file, section_pointer, out);
  for (const auto& p : section_problems(section)) {
    if (!p.expected.empty()) {
      report.expected(p.tokens, p.expected, p.found, p.message);
    } else {
      report.problem(p.tokens, p.message);
    }
  }
}

}  // namespace opdbus::lxc
