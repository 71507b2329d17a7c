// The journal: every applied action appended as one JSON line to <root>/var/lib/op-dbus/journal.jsonl,
// reached through sys::RootDir (so a tree whose var/lib/op-dbus is a symlink out of it still keeps its
// journal inside it, where a chroot would). Each entry carries the SHA-256 (hex) of the previous line
// ("prev"; 64 zeros for the first), so altering or removing an entry breaks the chain. journal.head beside it
// holds the last entry's seq, hash and the file size after it, so truncating the tail (or editing the head)
// is detected too.
//
// Damage is never repaired or hidden. Before its first append, a run checks the tail (head against file); if
// it does not match, the run appends a *break* entry (op "break", result "break") that says what was found,
// on a line of its own, and carries on from there. `log verify` reports every break for ever after, and
// whatever damage it finds elsewhere. A break's reason names at most a few of the problems found (and how
// many more there are), so breaks do not grow by quoting earlier breaks.
//
// Values: secrets are written "(secret)"; a value longer than 64 KiB is written as {"sha256": hex, "size": n}
// (of the string's contents for a string, of its JSON text otherwise), never copied. When the compact JSON of
// one entry's whole changes array is still longer than 1 MiB (a 10,000-rule firewall), "changes" is written
// as the object {"sha256": hex, "size": n, "count": c}: the digest and byte length of that array's compact
// JSON text, and the number of changes in it. Readers accept both forms.
//
// Writers: the tree's apply lock (lock.h) keeps two applies of one tree apart (the caller's, or the journal
// takes it on its first write). Independently of it, every write (each entry, each batch commit, the tail
// check) is made under a short exclusive flock on journal.lock beside the journal, and under it the writer
// catches up with what other processes appended since its last write (entries that chain on are adopted), so
// writers holding different apply locks (OPDBUS_LOCK_FILE) still produce one chain. Entries can be grouped:
// between begin_batch() and commit_batch() they are written in order and fsynced once; journal.head is
// updated at the commit. The journal lock is taken per entry, not for the whole batch (a batch spans the
// plugin's actions, which may take minutes), so entries of concurrent runs may interleave; each carries its
// run id. Entries written after the head (a batch not yet committed, or op-dbus stopped mid-batch) are
// accepted as long as they chain on from it.
//
// Memory: readers (entries, verify, the tail check) stream the file and hold one line at a time; a line
// longer than kMaxJournalLine is reported as damaged without being loaded (its hash is still computed).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "action.h"
#include "sys/rootdir.h"

namespace opdbus {

class ApplyLock;

struct JournalEntry {
  uint64_t seq = 0;  // 0 for a line that is not an entry ("damaged")
  std::string time;  // RFC 3339 UTC
  std::string prev;  // hex SHA-256 of the previous line
  std::string run;   // id shared by the entries of one apply
  std::string plugin;
  std::string resource;
  std::string op;
  std::string summary;
  std::string result;   // "ok", "failed", "interrupted", "rolled-back", "break"; "damaged" for a bad line
  std::string error;    // when not ok: the reason
  std::string changes;  // compact JSON array, secrets redacted
};

struct JournalProblem {
  uint64_t line = 0;    // 1-based line in the file (0: the head file)
  uint64_t seq = 0;     // the entry concerned
  std::string message;  // "entry 4 was altered (its hash does not match entry 5's prev)"
};

// What journal.head holds: the last entry's seq and line hash, and the file size just after that entry.
struct JournalHead {
  uint64_t seq = 0;
  std::string hash = std::string(64, '0');
  uint64_t size = 0;
};

// Values longer than this are journalled as a digest.
inline constexpr size_t kMaxJournalValue = 64 * 1024;
// An entry whose changes array (compact JSON) is longer than this journals its digest instead.
inline constexpr size_t kMaxJournalChanges = 1024 * 1024;
// Lines longer than this are not read into memory: reported as damaged (no entry is ever that long).
inline constexpr size_t kMaxJournalLine = 64 * 1024 * 1024;

class Journal {
 public:
  // The journal of the tree at `root` ("/" = the live system).
  explicit Journal(const std::filesystem::path& root);
  ~Journal();  // commits an open batch
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // The apply lock the caller holds for this tree (it must outlive the journal's writes).
  void use_lock(const ApplyLock& lock) { lock_ = &lock; }

  std::string new_run_id() const;

  // Prepares appending (done by the first record() otherwise): takes the lock if needed, removes temporary
  // files of killed processes, checks the tail. A damaged journal gets a break entry; its reason is returned
  // so the caller can say so. Idempotent.
  std::optional<std::string> open_for_append(const std::string& run);

  // Appends one entry for an action that was attempted.
  void record(const std::string& run, const Action& action, bool ok, const std::string& error = "");
  // Appends an entry about the run rather than one action (interrupted, rolled back).
  void record_event(const std::string& run, const std::string& plugin, const std::string& op,
                    const std::string& summary, const std::string& result, const std::string& error = "");

  void begin_batch();
  void commit_batch();
  // Ends appending: commits, closes the file and releases a lock the journal took itself.
  void close();

  // Every line; a line that is not an entry comes back with seq 0 and result "damaged".
  std::vector<JournalEntry> entries() const;
  // The same, one line at a time (memory: one line); returns the number of lines.
  uint64_t for_each_entry(const std::function<void(const JournalEntry&)>& fn) const;
  // Every problem, in file order (breaks included); empty when the journal is intact.
  std::vector<JournalProblem> verify_all() const;
  // The same, each problem passed to `fn` as it is found (memory: one line); returns the number of lines.
  uint64_t verify_each(const std::function<void(const JournalProblem&)>& fn) const;
  // The first problem, or nullopt when the chain is intact.
  std::optional<JournalProblem> verify() const;

  // Host path of journal.jsonl, for messages.
  std::filesystem::path file() const;
  // Temporary files removed by open_for_append() (in-root paths).
  const std::vector<std::string>& removed_temporaries() const { return removed_; }

 private:
  class WriteLock;
  struct Scan;
  // verify_each's pass; also gathers what a break entry needs (highest seq, last line's hash, ...).
  uint64_t scan(const std::function<void(const JournalProblem&)>& fn, Scan* out) const;
  std::optional<std::string> tail_problem(const std::optional<std::string>& head_text, uint64_t file_size);
  // Adopts complete entries from `from.size` to `file_size` that chain on `from`; what is wrong otherwise.
  std::optional<std::string> adopt_after(JournalHead& from, uint64_t file_size) const;
  // Under the journal lock: brings head_ to the real end of the file (entries of other writers); records a
  // break when the file no longer chains on. Returns the break's message, if one was written.
  std::optional<std::string> catch_up(const std::string& run);
  std::optional<std::string> check_tail(const std::string& run);
  void append(const std::string& run, JournalEntry e, const std::vector<Change>& changes);
  void write_head();

  sys::RootDir root_;
  const ApplyLock* lock_ = nullptr;
  std::unique_ptr<ApplyLock> own_lock_;
  sys::Fd fd_;        // journal.jsonl, O_APPEND, while appending
  JournalHead head_;  // where the chain ends (what journal.head says once written)
  bool open_ = false;
  int batch_ = 0;
  bool dirty_ = false;  // entries written and not yet covered by journal.head
  std::string run_;     // the run of the last entry written
  std::vector<std::string> removed_;
};

std::string sha256_hex(std::string_view data);

}  // namespace opdbus
