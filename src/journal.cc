#include "journal.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "error.h"
#include "json.h"
#include "lock.h"
#include "sys/fs.h"

namespace opdbus {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

const std::string kChainStart(64, '0');
constexpr const char* kSecret = "(secret)";

using Head = JournalHead;

std::string format_time(std::time_t t, const char* fmt) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, fmt, &tm);
  return std::string(buf, n);
}

std::time_t now() {
  return std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
}

void put_string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// Change values are compact JSON text; they are re-emitted as JSON values. Text that does not parse (a plugin
// bug) is kept as a string rather than losing the record.
// A value longer than kMaxJournalValue is written as its digest: a 50 MB unit file must not be copied into
// every entry that touches it. For a string the digest is of its contents (what `sha256sum FILE` prints).
void put_json_text(Writer& w, const std::string& text) {
  if (text.size() > kMaxJournalValue) {
    JsonDoc d;
    d.Parse(text.data(), text.size());
    std::string_view content = text;
    if (!d.HasParseError() && d.IsString()) content = std::string_view(d.GetString(), d.GetStringLength());
    w.StartObject();
    w.Key("sha256");
    put_string(w, sha256_hex(content));
    w.Key("size");
    w.Uint64(content.size());
    w.EndObject();
    return;
  }
  JsonDoc d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError()) {
    put_string(w, text);
  } else {
    d.Accept(w);
  }
}

void put_changes(Writer& w, const std::vector<Change>& changes) {
  w.StartArray();
  for (const auto& c : changes) {
    w.StartObject();
    w.Key("path");
    put_string(w, c.path);
    auto put_value = [&](const char* key, const std::optional<std::string>& v) {
      if (!v) return;
      w.Key(key);
      if (c.secret) {
        w.String(kSecret);
      } else {
        put_json_text(w, *v);
      }
    };
    put_value("before", c.before);
    put_value("after", c.after);
    w.EndObject();
  }
  w.EndArray();
}

std::string entry_line(const JournalEntry& e, const std::vector<Change>& changes) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("seq");
  w.Uint64(e.seq);
  const std::pair<const char*, const std::string*> fields[] = {
      {"time", &e.time},         {"prev", &e.prev}, {"run", &e.run},         {"plugin", &e.plugin},
      {"resource", &e.resource}, {"op", &e.op},     {"summary", &e.summary}, {"result", &e.result},
  };
  for (const auto& [key, value] : fields) {
    w.Key(key);
    put_string(w, *value);
  }
  if (e.result != "ok") {
    w.Key("error");
    put_string(w, e.error);
  }
  w.Key("changes");
  put_changes(w, changes);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// Parses one line into `out`; returns the reason when it is not a well-formed entry.
std::optional<std::string> parse_entry(std::string_view line, JournalEntry& out) {
  JsonDoc d;
  d.Parse(line.data(), line.size());
  if (d.HasParseError()) {
    return std::string(rapidjson::GetParseError_En(d.GetParseError())) + " at offset " +
           std::to_string(d.GetErrorOffset());
  }
  if (!d.IsObject()) return std::string("not a JSON object");
  const JsonValue* seq = member(d, "seq");
  if (!seq || !seq->IsUint64() || seq->GetUint64() == 0)
    return std::string("\"seq\" is not a positive integer");
  out.seq = seq->GetUint64();
  const std::pair<const char*, std::string*> fields[] = {
      {"time", &out.time},         {"prev", &out.prev}, {"run", &out.run},         {"plugin", &out.plugin},
      {"resource", &out.resource}, {"op", &out.op},     {"summary", &out.summary}, {"result", &out.result},
  };
  for (const auto& [key, target] : fields) {
    const JsonValue* v = member(d, key);
    if (!v || !v->IsString()) return "\"" + std::string(key) + "\" is missing or not a string";
    target->assign(v->GetString(), v->GetStringLength());
  }
  out.error.clear();
  if (const JsonValue* v = member(d, "error")) {
    if (!v->IsString()) return std::string("\"error\" is not a string");
    out.error.assign(v->GetString(), v->GetStringLength());
  }
  const JsonValue* changes = member(d, "changes");
  if (!changes || !changes->IsArray()) return std::string("\"changes\" is missing or not an array");
  out.changes = to_json(*changes);
  return std::nullopt;
}

// The file's lines without their '\n'. A final fragment without a newline counts as a line.
std::vector<std::string_view> split_lines(std::string_view content) {
  std::vector<std::string_view> lines;
  while (!content.empty()) {
    size_t nl = content.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(content);
      break;
    }
    lines.push_back(content.substr(0, nl));
    content.remove_prefix(nl + 1);
  }
  return lines;
}

std::string head_text(const Head& h) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("seq");
  w.Uint64(h.seq);
  w.Key("hash");
  put_string(w, h.hash);
  w.Key("size");
  w.Uint64(h.size);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

std::optional<Head> parse_head(std::string_view text) {
  JsonDoc d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsObject()) return std::nullopt;
  const JsonValue* seq = member(d, "seq");
  const JsonValue* hash = member(d, "hash");
  const JsonValue* size = member(d, "size");
  if (!seq || !seq->IsUint64() || !hash || !hash->IsString() || !size || !size->IsUint64())
    return std::nullopt;
  Head h;
  h.seq = seq->GetUint64();
  h.hash.assign(hash->GetString(), hash->GetStringLength());
  h.size = size->GetUint64();
  return h;
}

std::string range_text(uint64_t from, uint64_t to) {
  if (from == to) return "entry " + std::to_string(from) + " was";
  return "entries " + std::to_string(from) + " to " + std::to_string(to) + " were";
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorKind::Bug, "SHA-256 failed in libcrypto");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

namespace {

constexpr const char* kDir = "/var/lib/op-dbus";
constexpr const char* kFile = "/var/lib/op-dbus/journal.jsonl";
constexpr const char* kHeadFile = "/var/lib/op-dbus/journal.head";

using sys::fail_errno;
using sys::write_all;

[[noreturn]] void fail(const std::string& what, const std::string& where, int err) {
  fail_errno(what, where, err);
}

bool is_break(const JournalEntry& e) {
  return e.op == "break" && e.result == "break";
}

// Byte offsets just after each line (the fragment's end for a last line without '\n').
std::vector<uint64_t> line_ends(std::string_view content) {
  std::vector<uint64_t> ends;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    if (nl == std::string_view::npos) {
      ends.push_back(content.size());
      break;
    }
    ends.push_back(nl + 1);
    pos = nl + 1;
  }
  return ends;
}

}  // namespace

Journal::Journal(const std::filesystem::path& root) : root_(root) {}

Journal::~Journal() {
  try {
    close();
  } catch (...) {
    // Entries are in the file already; a head that lags behind them is accepted by verify.
  }
}

void Journal::close() {
  if (dirty_) {
    batch_ = 0;
    commit_batch();
  }
  fd_.reset();
  if (own_lock_) {
    lock_ = nullptr;
    own_lock_.reset();
  }
  open_ = false;
}

std::filesystem::path Journal::file() const {
  return root_.path() / std::string(kFile).substr(1);
}

std::string Journal::new_run_id() const {
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist(0, 0xffffff);
  char rnd[8];
  std::snprintf(rnd, sizeof rnd, "%06x", dist(rd));
  return format_time(now(), "%Y%m%dT%H%M%SZ") + "-" + rnd;
}

// Compares journal.head with the file's end, reading only the last recorded line and what follows it. Sets
// head_ to where appending continues when they agree; returns what is wrong otherwise.
std::optional<std::string> Journal::tail_problem(const std::optional<std::string>& head_content,
                                                 uint64_t file_size) {
  Head head;
  if (head_content) {
    auto parsed = parse_head(*head_content);
    if (!parsed) return "journal.head is unreadable";
    head = *parsed;
  } else if (file_size > 0) {
    return "journal.head is missing, so entries at the end of the journal may have been removed";
  }
  if (head.size > file_size) {
    return "the journal is shorter than journal.head records (" + std::to_string(file_size) + " bytes, not " +
           std::to_string(head.size) + "): entries at its end were removed or cut";
  }
  if ((head.seq == 0) != (head.size == 0) || (head.seq == 0 && head.hash != kChainStart)) {
    return "journal.head is inconsistent (seq " + std::to_string(head.seq) + ", size " +
           std::to_string(head.size) + ")";
  }

  sys::Fd fd = root_.open(kFile, O_RDONLY | O_NOFOLLOW);
  auto read_range = [&](uint64_t from, uint64_t to) {
    std::string out(to - from, '\0');
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::pread(fd.get(), out.data() + got, out.size() - got, static_cast<off_t>(from + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("read", file().string(), n < 0 ? errno : EIO);
      got += static_cast<size_t>(n);
    }
    return out;
  };
  if (head.seq > 0) {
    // The line that ends at head.size must be the entry journal.head names.
    uint64_t start = head.size >= 1 ? head.size - 1 : 0;
    std::string last;
    while (start > 0) {
      uint64_t from = start >= 4096 ? start - 4096 : 0;
      std::string chunk = read_range(from, start);
      size_t nl = chunk.rfind('\n');
      if (nl != std::string::npos) {
        last = chunk.substr(nl + 1) + last;
        break;
      }
      last = chunk + last;
      start = from;
    }
    std::string end = read_range(head.size - 1, head.size);
    JournalEntry e;
    if (end != "\n" || parse_entry(last, e) || e.seq != head.seq || sha256_hex(last) != head.hash) {
      return "the entry journal.head records (entry " + std::to_string(head.seq) +
             ") does not end the journal where journal.head says: it or journal.head was altered";
    }
  }
  // Entries after the head: a batch whose head update did not happen. Adopted only if complete and chained.
  if (file_size > head.size) {
    std::string rest = read_range(head.size, file_size);
    std::string_view tail = rest;
    while (!tail.empty()) {
      size_t nl = tail.find('\n');
      if (nl == std::string_view::npos) {
        return "the journal ends with an incomplete line after entry " + std::to_string(head.seq) +
               " (op-dbus stopped while writing it, or it was cut)";
      }
      std::string_view line = tail.substr(0, nl);
      JournalEntry e;
      if (parse_entry(line, e) || e.seq != head.seq + 1 || e.prev != head.hash) {
        return "the line after entry " + std::to_string(head.seq) +
               " is not the next entry of the chain (appended or altered outside op-dbus)";
      }
      head = Head{e.seq, sha256_hex(line), head.size + nl + 1};
      tail.remove_prefix(nl + 1);
    }
  }
  head_ = head;
  return std::nullopt;
}

std::optional<std::string> Journal::open_for_append(const std::string& run) {
  if (open_) return std::nullopt;
  if (!lock_) {
    own_lock_ = std::make_unique<ApplyLock>(root_);
    lock_ = own_lock_.get();
  }
  root_.make_dirs("/var/lib", 0755);
  root_.make_dirs(kDir, 0700);  // private: entries name resources and carry their (non-secret) values
  removed_ = root_.clean_stale_temporaries(kDir);

  fd_ = root_.open(kFile, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0600);
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) fail("stat", file().string(), errno);
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::BackendError, file().string() + " is not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto head_content = root_.read_file(kHeadFile);
  std::optional<std::string> problem = tail_problem(head_content, size);
  open_ = true;
  if (!problem) {
    // A fresh journal gets its head before the first entry, so a run stopped before its first commit is
    // not mistaken for a journal whose head was deleted.
    if (!head_content) write_head();
    return std::nullopt;
  }

  // Never repaired, never hidden: the full story goes into a break entry that `log verify` reports for ever.
  std::string detail;
  for (const auto& p : verify_all()) detail += (detail.empty() ? "" : "; ") + p.message;
  std::string reason = *problem + (detail.empty() ? "" : " (log verify: " + detail + ")");
  auto content = root_.read_file(kFile).value_or("");
  auto lines = split_lines(content);
  uint64_t seq = 0;
  if (auto h = head_content ? parse_head(*head_content) : std::nullopt) seq = h->seq;
  for (auto line : lines) {
    JournalEntry e;
    if (!parse_entry(line, e)) seq = std::max(seq, e.seq);
  }
  JournalEntry b;
  b.seq = seq + 1;
  b.time = format_time(now(), "%Y-%m-%dT%H:%M:%SZ");
  b.prev = lines.empty() ? kChainStart : sha256_hex(lines.back());
  b.run = run;
  b.plugin = "op-dbus";
  b.resource = "journal";
  b.op = "break";
  b.summary = "the journal was found damaged; recorded here, not repaired";
  b.result = "break";
  b.error = reason;
  std::string line = entry_line(b, {});
  // On a line of its own, even after a fragment: never glued onto what was there.
  std::string prefix = !content.empty() && content.back() != '\n' ? "\n" : "";
  write_all(fd_.get(), prefix + line + "\n", file().string());
  if (::fsync(fd_.get()) != 0) fail("sync", file().string(), errno);
  head_ = Head{b.seq, sha256_hex(line), content.size() + prefix.size() + line.size() + 1};
  write_head();
  return "the journal " + file().string() + " was damaged: " + *problem + ". Recorded as break entry " +
         std::to_string(b.seq) + " (see `op-dbus log verify" +
         (root_.is_host() ? "" : " --root " + root_.path().string()) + "`)";
}

void Journal::write_head() {
  root_.write_file(kHeadFile, head_text(head_), 0600);
  dirty_ = false;
}

void Journal::append(const std::string& line) {
  write_all(fd_.get(), line + "\n", file().string());
  head_ = Head{head_.seq + 1, sha256_hex(line), head_.size + line.size() + 1};
  dirty_ = true;
  if (batch_ == 0) {
    if (::fsync(fd_.get()) != 0) fail("sync", file().string(), errno);
    write_head();
  }
}

void Journal::begin_batch() {
  ++batch_;
}

void Journal::commit_batch() {
  if (batch_ > 0) --batch_;
  if (batch_ > 0 || !dirty_ || !fd_) return;
  if (::fsync(fd_.get()) != 0) fail("sync", file().string(), errno);
  write_head();
}

JournalEntry Journal::next_entry(const std::string& run) const {
  JournalEntry e;
  e.seq = head_.seq + 1;
  e.time = format_time(now(), "%Y-%m-%dT%H:%M:%SZ");
  e.prev = head_.hash;
  e.run = run;
  return e;
}

void Journal::record(const std::string& run, const Action& action, bool ok, const std::string& error) {
  open_for_append(run);
  JournalEntry e = next_entry(run);
  e.plugin = action.plugin;
  e.resource = action.resource();
  e.op = std::string(to_string(action.op));
  e.summary = action.summary;
  e.result = ok ? "ok" : "failed";
  e.error = ok ? "" : error;
  append(entry_line(e, action.changes));
}

void Journal::record_event(const std::string& run, const std::string& plugin, const std::string& op,
                           const std::string& summary, const std::string& result, const std::string& error) {
  open_for_append(run);
  JournalEntry e = next_entry(run);
  e.plugin = plugin;
  e.resource = plugin;
  e.op = op;
  e.summary = summary;
  e.result = result;
  e.error = error;
  append(entry_line(e, {}));
}

std::vector<JournalEntry> Journal::entries() const {
  std::vector<JournalEntry> out;
  auto content = root_.read_file(kFile);
  if (!content) return out;
  auto lines = split_lines(*content);
  out.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    JournalEntry e;
    if (auto why = parse_entry(lines[i], e)) {
      e = JournalEntry{};
      e.result = "damaged";
      e.summary = "line " + std::to_string(i + 1) + " is not a journal entry: " + *why;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<JournalProblem> Journal::verify() const {
  auto all = verify_all();
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::vector<JournalProblem> Journal::verify_all() const {
  std::vector<JournalProblem> problems;
  auto content = root_.read_file(kFile);
  auto head_content = root_.read_file(kHeadFile);
  std::optional<Head> head;
  if (head_content) head = parse_head(*head_content);

  if (!content || content->empty()) {
    if (head && head->seq > 0) {
      problems.push_back({0, 1,
                          file().string() + " is " + (content ? "empty" : "missing") +
                              " but journal.head records " + std::to_string(head->seq) +
                              " entries: " + range_text(1, head->seq) + " removed"});
    } else if (head_content && !head) {
      problems.push_back({0, 0, "journal.head is unreadable"});
    }
    return problems;
  }

  auto lines = split_lines(*content);
  auto ends = line_ends(*content);
  uint64_t last_seq = 0;
  std::string last_hash = kChainStart;  // of the last line that is part of the chain
  std::string prev_line = kChainStart;  // of the line just before, whatever it is
  bool adopt_next = false;              // after a damaged line, the next entry restarts the checks
  for (size_t i = 0; i < lines.size(); ++i) {
    const uint64_t line_no = i + 1;
    const uint64_t expected = last_seq + 1;
    const std::string hash = sha256_hex(lines[i]);
    JournalEntry e;
    if (auto why = parse_entry(lines[i], e)) {
      bool cut = i + 1 == lines.size() && content->back() != '\n';
      problems.push_back({line_no, expected,
                          cut ? "entry " + std::to_string(expected) + " is incomplete: line " +
                                    std::to_string(line_no) + " was cut (" + *why + ")"
                              : "entry " + std::to_string(expected) + " was altered: line " +
                                    std::to_string(line_no) + " is not a journal entry (" + *why + ")"});
      adopt_next = true;
      prev_line = hash;
      continue;
    }
    if (is_break(e) && e.prev == prev_line && e.seq > last_seq) {
      // A break recorded by op-dbus: where the chain resumes. Reported for ever.
      problems.push_back({line_no, e.seq,
                          "break recorded at entry " + std::to_string(e.seq) + " (" + e.time + ", run " +
                              e.run + "): " + e.error});
    } else if (adopt_next) {
      // Checked against nothing: the line before it is damaged and was reported.
    } else if (e.seq != expected) {
      if (e.prev == last_hash) {
        // The entry still chains onto the previous line, so only its own seq field was edited.
        problems.push_back({line_no, expected,
                            "entry " + std::to_string(expected) + " was altered (its seq reads " +
                                std::to_string(e.seq) + ")"});
      } else if (e.seq > expected) {
        problems.push_back({line_no, expected, range_text(expected, e.seq - 1) + " removed"});
      } else {
        problems.push_back({line_no, e.seq,
                            "line " + std::to_string(line_no) + " repeats entry " + std::to_string(e.seq) +
                                " (expected entry " + std::to_string(expected) + ")"});
      }
    } else if (e.prev != last_hash) {
      if (i == 0) {
        problems.push_back({1, 1, "entry 1 was altered (its prev is not the start of the chain)"});
      } else {
        problems.push_back({line_no - 1, last_seq,
                            "entry " + std::to_string(last_seq) +
                                " was altered (its hash does not match entry " + std::to_string(e.seq) +
                                "'s prev)"});
      }
    }
    adopt_next = false;
    last_seq = e.seq;
    last_hash = hash;
    prev_line = hash;
  }

  // The head: the entry it names must end exactly where it says; entries after it must chain on (checked
  // above). So cutting the tail, or editing any field of the head, is found.
  if (!head_content) {
    problems.push_back({0, last_seq, "journal.head is missing, so the end of the journal cannot be checked"});
    return problems;
  }
  if (!head) {
    problems.push_back({0, last_seq, "journal.head is unreadable"});
    return problems;
  }
  if (head->seq == 0) {
    if (head->size != 0 || head->hash != kChainStart) {
      problems.push_back({0, 0, "journal.head was altered (it records no entries but a size or hash)"});
    }
    return problems;
  }
  // The entry the head names (the last line holding that seq: a repeated seq is reported above).
  std::optional<size_t> idx;
  for (size_t i = lines.size(); i-- > 0;) {
    JournalEntry e;
    if (!parse_entry(lines[i], e) && e.seq == head->seq) {
      idx = i;
      break;
    }
  }
  if (!idx) {
    uint64_t from = last_seq + 1;
    problems.push_back(
        {0, head->seq,
         (head->seq > last_seq ? (head->seq == from ? "entry " + std::to_string(from) + " (the last) was"
                                                    : "entries " + std::to_string(from) + " to " +
                                                          std::to_string(head->seq) + " (the last) were")
                               : "entry " + std::to_string(head->seq) + " (the last recorded) was") +
             " altered or removed (journal.head records " + std::to_string(head->seq) +
             " entries, the file ends at entry " + std::to_string(last_seq) + ")"});
  } else if (sha256_hex(lines[*idx]) != head->hash) {
    problems.push_back({*idx + 1, head->seq,
                        "entry " + std::to_string(head->seq) +
                            " (the last) was altered or removed (its hash does not match journal.head)"});
  } else if (ends[*idx] != head->size) {
    problems.push_back({0, head->seq,
                        "journal.head was altered, or the journal before entry " + std::to_string(head->seq) +
                            " changed length: journal.head records " + std::to_string(head->size) +
                            " bytes, entry " + std::to_string(head->seq) + " ends at byte " +
                            std::to_string(ends[*idx])});
  }
  return problems;
}

}  // namespace opdbus
