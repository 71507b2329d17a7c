// A problem found in a state document: where (file, JSON pointer, line/column when known), what was expected
// and what was found. Validation collects all of them before failing.
#pragma once

#include <string>
#include <vector>

namespace opdbus {

struct Diagnostic {
  std::string file;      // as the user named it
  std::string pointer;   // JSON pointer into the document, "" for the whole document
  std::string expected;  // "one of \"enabled\", \"disabled\", \"masked\""; may be empty
  std::string found;     // "\"enbled\""; may be empty
  std::string message;   // free text when expected/found do not say it all
  int line = 0;          // 1-based; 0 when unknown
  int column = 0;

  // "state.json: /plugins/systemd/services/ssh/state: expected one of ...; found \"enbled\""
  std::string format() const;
};

using Diagnostics = std::vector<Diagnostic>;

// Builds the Diagnostics of one section of a document (what a plugin's check() reports): every one names the
// document's file and a JSON pointer made of the section's pointer and the item's tokens (escaped).
//
//   SectionReport report(file, section_pointer, out);          // section_pointer: "/plugins/network"
//   report.expected({"interfaces", name}, "an interface name of 1-15 bytes", json_quoted(name));
//   report.problem({"routes", "0"}, "the same route is declared present and absent");
class SectionReport {
 public:
  SectionReport(std::string file, std::string section_pointer, Diagnostics& out);

  // "FILE: POINTER: [message: ]expected EXPECTED; found FOUND"
  void expected(const std::vector<std::string>& tokens, std::string expected, std::string found,
                std::string message = "");
  // "FILE: POINTER: MESSAGE"
  void problem(const std::vector<std::string>& tokens, std::string message);

  // The document pointer of an item: section pointer + escaped tokens.
  std::string pointer(const std::vector<std::string>& tokens) const;
  // How many diagnostics this report added.
  std::size_t count() const { return count_; }

 private:
  std::string file_;
  std::string section_pointer_;
  Diagnostics& out_;
  std::size_t count_ = 0;
};

}  // namespace opdbus
