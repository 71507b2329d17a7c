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

}  // namespace opdbus
