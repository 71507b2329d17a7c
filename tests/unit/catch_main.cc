// The shared Catch2 main, with a reporter that prints one TAP line per test case (Catch2's own TAP reporter
// prints one per assertion), so meson and the CI summary count test cases. Failed assertions follow as
// "#" comments with file, line and the expanded expression. A case that called SKIP(reason) (tap_skip.h)
// prints "ok N - name # SKIP reason".
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "tap_skip.h"

namespace {

// Set by SKIP() in the running test case; read and cleared when the case ends.
std::optional<std::string>& skip_reason() {
  static std::optional<std::string> reason;
  return reason;
}

// One line: a reason with a newline would end the TAP directive early.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s.empty() ? std::string("no reason given") : s;
}

class TapCasesReporter : public Catch::StreamingReporterBase<TapCasesReporter> {
 public:
  using StreamingReporterBase::StreamingReporterBase;

  static std::string getDescription() { return "TAP, one line per test case"; }

  void noMatchingTestCases(std::string const& spec) override {
    stream << "# no test cases match " << spec << "\n";
  }
  void assertionStarting(Catch::AssertionInfo const&) override {}

  bool assertionEnded(Catch::AssertionStats const& stats) override {
    const auto& r = stats.assertionResult;
    if (r.isOk()) return true;
    std::string text = r.getSourceInfo().file;
    text += ":" + std::to_string(r.getSourceInfo().line) + ": ";
    if (r.hasExpression()) text += r.getExpressionInMacro() + " with expansion " + r.getExpandedExpression();
    if (r.hasMessage()) text += " " + r.getMessage();
    for (const auto& info : stats.infoMessages) text += "\n" + info.message;
    failures_.push_back(text);
    return true;
  }

  void testCaseEnded(Catch::TestCaseStats const& stats) override {
    ++count_;
    bool ok = stats.totals.assertions.failed == 0;
    stream << (ok ? "ok " : "not ok ") << count_ << " - " << stats.testInfo.name;
    // A failure before SKIP stays a failure: the directive goes only on a passing case.
    if (skip_reason()) stream << (ok ? " # SKIP " : "\n# then skipped: ") << one_line(*skip_reason());
    stream << "\n";
    skip_reason().reset();
    for (const auto& f : failures_) {
      size_t start = 0;
      while (start <= f.size()) {
        size_t nl = f.find('\n', start);
        if (nl == std::string::npos) nl = f.size();
        stream << "# " << f.substr(start, nl - start) << "\n";
        start = nl + 1;
      }
    }
    failures_.clear();
    StreamingReporterBase::testCaseEnded(stats);
  }

  void testRunEnded(Catch::TestRunStats const& stats) override {
    stream << "1.." << count_ << "\n";
    StreamingReporterBase::testRunEnded(stats);
  }

 private:
  int count_ = 0;
  std::vector<std::string> failures_;
};

}  // namespace

CATCH_REGISTER_REPORTER("tap-cases", TapCasesReporter)

namespace opdbus_test {
void mark_skipped(std::string reason) {
  skip_reason() = std::move(reason);
}
}  // namespace opdbus_test
