// Test helper: appends N entries to the journal of ROOT while holding the apply lock LOCKFILE (as a live apply
// with its own OPDBUS_LOCK_FILE would), in batches of BATCH. Several run at once in the journal test.
// usage: journal_writer ROOT LOCKFILE TAG N [BATCH]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "journal.h"
#include "lock.h"

using namespace opdbus;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: journal_writer ROOT LOCKFILE TAG N [BATCH]\n");
    return 2;
  }
  try {
    const std::string tag = argv[3];
    const int n = std::atoi(argv[4]);
    const int batch = argc > 5 ? std::max(1, std::atoi(argv[5])) : 1;
    ApplyLock lock{std::filesystem::path(argv[2])};
    Journal journal(argv[1]);
    journal.use_lock(lock);
    std::string run = journal.new_run_id();
    if (auto damaged = journal.open_for_append(run)) std::fprintf(stderr, "%s\n", damaged->c_str());
    for (int i = 0; i < n; ++i) {
      if (batch > 1 && i % batch == 0) journal.begin_batch();
      Action a;
      a.plugin = "test";
      a.item = {"writers", tag + "-" + std::to_string(i)};
      a.op = Op::Update;
      a.summary = "entry " + std::to_string(i) + " of " + tag;
      a.changes.push_back(Change{"n", std::nullopt, std::to_string(i), false});
      journal.record(run, a, true);
      if (batch > 1 && (i % batch == batch - 1 || i == n - 1)) journal.commit_batch();
    }
    journal.close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "journal_writer: %s\n", e.what());
    return 1;
  }
  return 0;
}
