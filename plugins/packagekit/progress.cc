// Progress of package transactions on stderr (docs/plugins/packagekit.md, "Progress").
#include <unistd.h>

#include <cstdio>

#include "packagekit/backend.h"

namespace opdbus::packagekit {

ProgressReporter::ProgressReporter(bool terminal, bool quiet) : terminal_(terminal), quiet_(quiet) {}

ProgressReporter::~ProgressReporter() {
  finish();
}

void ProgressReporter::update(const std::string& step, const std::string& status, int percentage,
                              const std::string& package) {
  if (quiet_) return;
  std::string what = step + (status.empty() ? "" : ": " + status) + (package.empty() ? "" : " " + package);
  if (terminal_) {
    constexpr int kWidth = 30;
    int filled = percentage < 0 ? 0 : percentage * kWidth / 100;
    std::string bar(filled, '#');
    bar.resize(kWidth, percentage < 0 ? '?' : '-');
    char pct[8];
    std::snprintf(pct, sizeof pct, percentage < 0 ? "  ?%%" : "%3d%%", percentage);
    std::string text = "packagekit: [" + bar + "] " + pct + " " + what;
    if (text.size() > 100) text.resize(100);
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    bar_shown_ = true;
    return;
  }
  // One line per step and status (not per percent, not per package signal).
  std::string key = step + (status.empty() ? "" : ": " + status);
  if (key == last_) return;
  last_ = key;
  std::fprintf(stderr, "packagekit: %s\n", what.c_str());
}

void ProgressReporter::line(const std::string& text) {
  if (quiet_) return;
  if (bar_shown_) {
    std::fprintf(stderr, "\r\033[K");
    bar_shown_ = false;
  }
  std::fprintf(stderr, "packagekit: %s\n", text.c_str());
}

void ProgressReporter::finish() {
  if (bar_shown_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    bar_shown_ = false;
  }
  last_.clear();
}

}  // namespace opdbus::packagekit
