// The journal: every applied action appended as one JSON line to <root>/var/lib/op-dbus/journal.jsonl.
// Each entry carries the SHA-256 (hex) of the previous line ("prev"; 64 zeros for the first), so altering or
// removing an entry breaks the chain. journal.head beside it holds the last entry's seq and hash so that
// truncating the tail is detected too. Secrets never reach it: changes marked secret are written "(secret)".
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "action.h"

namespace opdbus {

struct JournalEntry {
  uint64_t seq = 0;
  std::string time;  // RFC 3339 UTC
  std::string prev;  // hex SHA-256 of the previous line
  std::string run;   // id shared by the entries of one apply
  std::string plugin;
  std::string resource;
  std::string op;
  std::string summary;
  std::string result;   // "ok" or "failed"
  std::string error;    // when failed
  std::string changes;  // compact JSON array, secrets redacted
};

struct JournalProblem {
  uint64_t line = 0;    // 1-based line in the file (0: the head file)
  uint64_t seq = 0;     // the entry concerned
  std::string message;  // "entry 4 was altered (its hash does not match entry 5's prev)"
};

class Journal {
 public:
  explicit Journal(std::filesystem::path dir);  // usually ctx.in_root("/var/lib/op-dbus")

  std::string new_run_id() const;
  // Appends one entry for an action that was attempted. Thread-compatible; callers hold the apply lock.
  void record(const std::string& run, const Action& action, bool ok, const std::string& error = "");
  std::vector<JournalEntry> entries() const;  // throws Error(InvalidArgument) on an unparsable line
  // nullopt when the chain is intact.
  std::optional<JournalProblem> verify() const;

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path dir_, file_, head_;
};

std::string sha256_hex(std::string_view data);

}  // namespace opdbus
