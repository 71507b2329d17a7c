#include "journal.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/file.h>
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
  rapidjson::StringBuffer cbuf;
  Writer cw(cbuf);
  put_changes(cw, changes);
  std::string_view text(cbuf.GetString(), cbuf.GetSize());
  if (text.size() > kMaxJournalChanges) {
    // A 10,000-rule ruleset must not make a 10 MB line: its digest, size and count stand for it.
    w.StartObject();
    w.Key("sha256");
    put_string(w, sha256_hex(text));
    w.Key("size");
    w.Uint64(text.size());
    w.Key("count");
    w.Uint64(changes.size());
    w.EndObject();
  } else {
    w.RawValue(text.data(), text.size(), rapidjson::kArrayType);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

bool is_changes_digest(const JsonValue& v) {
  if (!v.IsObject() || v.MemberCount() != 3) return false;
  const JsonValue* sha = member(v, "sha256");
  const JsonValue* size = member(v, "size");
  const JsonValue* count = member(v, "count");
  return sha && sha->IsString() && sha->GetStringLength() == 64 && size && size->IsUint64() && count &&
         count->IsUint64();
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
  if (!changes || !(changes->IsArray() || is_changes_digest(*changes)))
    return std::string("\"changes\" is missing or not an array");
  out.changes = to_json(*changes);
  return std::nullopt;
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
constexpr const char* kLockFile = "/var/lib/op-dbus/journal.lock";

using sys::fail_errno;
using sys::write_all;

[[noreturn]] void fail(const std::string& what, const std::string& where, int err) {
  fail_errno(what, where, err);
}

bool is_break(const JournalEntry& e) {
  return e.op == "break" && e.result == "break";
}

// SHA-256 fed in pieces.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
      throw Error(ErrorKind::Bug, "SHA-256 failed in libcrypto");
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const char* data, size_t n) {
    if (n && EVP_DigestUpdate(ctx_, data, n) != 1) throw Error(ErrorKind::Bug, "SHA-256 failed in libcrypto");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_, digest, &len) != 1)
      throw Error(ErrorKind::Bug, "SHA-256 failed in libcrypto");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += kHex[digest[i] >> 4];
      out += kHex[digest[i] & 0xf];
    }
    EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// The journal's lines, one at a time, from `offset` up to `limit` (the size when reading started, so a line
// another writer is appending meanwhile is not read half-way). A line longer than kMaxJournalLine is hashed
// but not kept (too_long); memory stays at one line plus a 1 MiB buffer.
class LineReader {
 public:
  struct Line {
    std::string text;             // without the '\n'; empty when too_long
    std::string hash;             // SHA-256 of the whole line, without the '\n'
    uint64_t start = 0, end = 0;  // byte offsets: first byte, just after the '\n' (or the fragment)
    uint64_t length = 0;
    bool complete = false;  // ends with '\n'
    bool too_long = false;
  };

  LineReader(int fd, std::string where, uint64_t offset, uint64_t limit)
      : fd_(fd), where_(std::move(where)), pos_(offset), next_read_(offset), limit_(limit), buf_(1 << 20) {}

  // A line within the buffer is copied from it; a longer one is measured (and hashed) first, then read
  // into a string of exactly its size if it is within kMaxJournalLine, or left unread.
  bool next(Line& out) {
    out.text.clear();
    out.too_long = false;
    out.complete = false;
    out.length = 0;
    out.start = pos_;
    bool any = false;
    bool spans = false;  // the line does not lie within one buffer
    for (;;) {
      if (begin_ == end_ && !refill()) {
        if (!any) return false;
        break;
      }
      const char* b = buf_.data() + begin_;
      size_t avail = end_ - begin_;
      const void* nl = std::memchr(b, '\n', avail);
      size_t n = nl ? static_cast<size_t>(static_cast<const char*>(nl) - b) : avail;
      sha_.update(b, n);
      if (!any && nl) out.text.assign(b, n);
      if (!nl) spans = true;
      any = true;
      out.length += n;
      begin_ += n;
      pos_ += n;
      if (nl) {
        ++begin_;
        ++pos_;
        out.complete = true;
        break;
      }
    }
    out.end = pos_;
    out.hash = sha_.hex();
    if (spans) {
      if (out.length > kMaxJournalLine) {
        out.too_long = true;
      } else {
        out.text.resize(out.length);
        read_at(out.text.data(), out.length, out.start);
      }
    }
    return true;
  }

 private:
  bool refill() {
    if (next_read_ >= limit_) return false;
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf_.size(), limit_ - next_read_));
    ssize_t n;
    do {
      n = ::pread(fd_, buf_.data(), want, static_cast<off_t>(next_read_));
    } while (n < 0 && errno == EINTR);
    if (n < 0) fail("read", where_, errno);
    if (n == 0) return false;
    begin_ = 0;
    end_ = static_cast<size_t>(n);
    next_read_ += static_cast<uint64_t>(n);
    return true;
  }

  void read_at(char* dst, size_t len, uint64_t offset) {
    size_t got = 0;
    while (got < len) {
      ssize_t n = ::pread(fd_, dst + got, len - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("read", where_, n < 0 ? errno : EIO);
      got += static_cast<size_t>(n);
    }
  }

  int fd_;
  std::string where_;
  uint64_t pos_;        // offset of buf_[begin_]
  uint64_t next_read_;  // offset of the next pread
  uint64_t limit_;
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;
  Sha256 sha_;
};

std::string too_long_text(const LineReader::Line& l) {
  return "it is " + std::to_string(l.length) + " bytes long, over the " +
         std::to_string(kMaxJournalLine / (1024 * 1024)) + " MiB an entry may take; not read";
}

// A message cut to `max` bytes (at a UTF-8 boundary), saying how much was left out.
std::string clip(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t at = max;
  while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xc0) == 0x80) --at;
  return s.substr(0, at) + "... (" + std::to_string(s.size() - at) + " more bytes)";
}

uint64_t file_size_of(int fd, const std::string& where) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("stat", where, errno);
  return static_cast<uint64_t>(st.st_size);
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

// A short exclusive flock on journal.lock beside the journal, held around each write. It is independent of
// the apply lock, so writers holding different apply locks (or a tree's and the live one) still never
// interleave inside a line or chain onto a stale head. Opened through the RootDir, never following a symlink.
class Journal::WriteLock {
 public:
  explicit WriteLock(const sys::RootDir& root) {
    std::string where = (root.path() / std::string(kLockFile).substr(1)).string();
    fd_ = root.open(kLockFile, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) fail("stat", where, errno);
    if (!S_ISREG(st.st_mode)) {
      throw Error(ErrorKind::PermissionError, "journal lock " + where + " is not a regular file; remove it");
    }
    int rc;
    do {
      rc = ::flock(fd_.get(), LOCK_EX);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) fail("lock", where, errno);
  }
  ~WriteLock() { ::flock(fd_.get(), LOCK_UN); }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;

 private:
  sys::Fd fd_;
};

struct Journal::Scan {
  uint64_t size = 0;  // bytes read
  uint64_t lines = 0;
  uint64_t max_seq = 0;                 // of the lines that are entries
  std::string last_hash = kChainStart;  // of the last line, whatever it is
  bool ends_with_newline = true;
};

std::optional<std::string> Journal::adopt_after(Head& from, uint64_t file_size) const {
  if (file_size <= from.size) return std::nullopt;
  sys::Fd fd = root_.open(kFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (!fd) return std::string("the journal disappeared");
  LineReader reader(fd.get(), file().string(), from.size, file_size);
  LineReader::Line l;
  while (reader.next(l)) {
    if (!l.complete) {
      return "the journal ends with an incomplete line after entry " + std::to_string(from.seq) +
             " (op-dbus stopped while writing it, or it was cut)";
    }
    JournalEntry e;
    if (l.too_long || parse_entry(l.text, e) || e.seq != from.seq + 1 || e.prev != from.hash) {
      return "the line after entry " + std::to_string(from.seq) +
             " is not the next entry of the chain (appended or altered outside op-dbus)";
    }
    from = Head{e.seq, l.hash, l.end};
  }
  return std::nullopt;
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

  if (head.seq > 0) {
    sys::Fd fd = root_.open(kFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (!fd) return std::string("the journal is missing but journal.head records entries");
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
    const std::string mismatch = "the entry journal.head records (entry " + std::to_string(head.seq) +
                                 ") does not end the journal where journal.head says: it or journal.head was "
                                 "altered";
    // The line that ends at head.size must be the entry journal.head names. Read backwards from there, in
    // chunks, never more than one line's worth.
    uint64_t start = head.size - 1;
    std::string last;
    while (start > 0) {
      uint64_t from = start >= 65536 ? start - 65536 : 0;
      std::string chunk = read_range(from, start);
      size_t nl = chunk.rfind('\n');
      if (nl != std::string::npos) {
        last.insert(0, chunk, nl + 1, std::string::npos);
        break;
      }
      last.insert(0, chunk);
      if (last.size() > kMaxJournalLine) return mismatch;
      start = from;
    }
    std::string end = read_range(head.size - 1, head.size);
    JournalEntry e;
    if (end != "\n" || parse_entry(last, e) || e.seq != head.seq || sha256_hex(last) != head.hash) {
      return mismatch;
    }
  }
  // Entries after the head: a batch whose head update did not happen (yet). Adopted only if complete and
  // chained.
  if (auto why = adopt_after(head, file_size)) return why;
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

  fd_ = root_.open(kFile, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) fail("stat", file().string(), errno);
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::BackendError, file().string() + " is not a regular file");
  }
  WriteLock wl(root_);
  open_ = true;
  return check_tail(run);
}

// Under the journal lock.
std::optional<std::string> Journal::check_tail(const std::string& run) {
  const uint64_t size = file_size_of(fd_.get(), file().string());
  auto head_content = root_.read_file(kHeadFile);
  std::optional<std::string> problem = tail_problem(head_content, size);
  if (!problem) {
    // A fresh journal gets its head before the first entry, so a run stopped before its first commit is
    // not mistaken for a journal whose head was deleted.
    if (!head_content) write_head();
    return std::nullopt;
  }

  // Never repaired, never hidden: the story goes into a break entry that `log verify` reports for ever. The
  // whole file is read (one line at a time); the reason names the first problems and the last ones (earlier
  // breaks are quoted only shortened), so a break never grows with the journal's history.
  constexpr size_t kFirst = 2, kLast = 3, kEach = 512;
  std::vector<std::string> first;
  std::vector<std::string> last;  // ring of kLast
  uint64_t found = 0;
  Scan sc;
  scan(
      [&](const JournalProblem& p) {
        std::string m = clip(p.message, kEach);
        if (first.size() < kFirst) {
          first.push_back(std::move(m));
        } else {
          if (last.size() == kLast) last.erase(last.begin());
          last.push_back(std::move(m));
        }
        ++found;
      },
      &sc);
  std::string detail;
  for (const auto& m : first) detail += (detail.empty() ? "" : "; ") + m;
  if (found > first.size() + last.size()) {
    detail += "; ... " + std::to_string(found - first.size() - last.size()) + " more ...";
  }
  for (const auto& m : last) detail += "; " + m;
  std::string reason = *problem + (detail.empty() ? "" : " (log verify: " + detail + ")");
  uint64_t seq = sc.max_seq;
  if (auto h = head_content ? parse_head(*head_content) : std::nullopt) seq = std::max(seq, h->seq);
  JournalEntry b;
  b.seq = seq + 1;
  b.time = format_time(now(), "%Y-%m-%dT%H:%M:%SZ");
  b.prev = sc.last_hash;
  b.run = run;
  b.plugin = "op-dbus";
  b.resource = "journal";
  b.op = "break";
  b.summary = "the journal was found damaged; recorded here, not repaired";
  b.result = "break";
  b.error = reason;
  std::string line = entry_line(b, {});
  // On a line of its own, even after a fragment: never glued onto what was there.
  std::string prefix = sc.ends_with_newline ? "" : "\n";
  write_all(fd_.get(), prefix + line + "\n", file().string());
  if (::fsync(fd_.get()) != 0) fail("sync", file().string(), errno);
  head_ = Head{b.seq, sha256_hex(line), sc.size + prefix.size() + line.size() + 1};
  write_head();
  return "the journal " + file().string() + " was damaged: " + *problem + ". Recorded as break entry " +
         std::to_string(b.seq) + " (see `op-dbus log verify" +
         (root_.is_host() ? "" : " --root " + root_.path().string()) + "`)";
}

// Under the journal lock: what other writers appended since our last write is adopted if it chains on.
std::optional<std::string> Journal::catch_up(const std::string& run) {
  const uint64_t size = file_size_of(fd_.get(), file().string());
  if (size == head_.size) return std::nullopt;
  if (size > head_.size) {
    Head h = head_;
    if (!adopt_after(h, size)) {
      head_ = h;
      return std::nullopt;
    }
  }
  return check_tail(run);
}

void Journal::write_head() {
  root_.write_file(kHeadFile, head_text(head_), 0600);
  dirty_ = false;
}

void Journal::append(const std::string& run, JournalEntry e, const std::vector<Change>& changes) {
  WriteLock wl(root_);
  run_ = run;
  catch_up(run);
  e.seq = head_.seq + 1;
  e.time = format_time(now(), "%Y-%m-%dT%H:%M:%SZ");
  e.prev = head_.hash;
  e.run = run;
  std::string line = entry_line(e, changes);
  write_all(fd_.get(), line + "\n", file().string());
  head_ = Head{e.seq, sha256_hex(line), head_.size + line.size() + 1};
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
  WriteLock wl(root_);
  catch_up(run_);  // journal.head never goes back to before what others appended
  if (::fsync(fd_.get()) != 0) fail("sync", file().string(), errno);
  write_head();
}

void Journal::record(const std::string& run, const Action& action, bool ok, const std::string& error) {
  open_for_append(run);
  JournalEntry e;
  e.plugin = action.plugin;
  e.resource = action.resource();
  e.op = std::string(to_string(action.op));
  e.summary = action.summary;
  e.result = ok ? "ok" : "failed";
  e.error = ok ? "" : error;
  append(run, std::move(e), action.changes);
}

void Journal::record_event(const std::string& run, const std::string& plugin, const std::string& op,
                           const std::string& summary, const std::string& result, const std::string& error) {
  open_for_append(run);
  JournalEntry e;
  e.plugin = plugin;
  e.resource = plugin;
  e.op = op;
  e.summary = summary;
  e.result = result;
  e.error = error;
  append(run, std::move(e), {});
}

uint64_t Journal::for_each_entry(const std::function<void(const JournalEntry&)>& fn) const {
  sys::Fd fd = root_.open(kFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (!fd) return 0;
  LineReader reader(fd.get(), file().string(), 0, file_size_of(fd.get(), file().string()));
  LineReader::Line l;
  uint64_t n = 0;
  while (reader.next(l)) {
    ++n;
    JournalEntry e;
    std::optional<std::string> why =
        l.too_long ? std::make_optional(too_long_text(l)) : parse_entry(l.text, e);
    if (why) {
      e = JournalEntry{};
      e.result = "damaged";
      e.summary = "line " + std::to_string(n) + " is not a journal entry: " + *why;
    }
    fn(e);
  }
  return n;
}

std::vector<JournalEntry> Journal::entries() const {
  std::vector<JournalEntry> out;
  for_each_entry([&](const JournalEntry& e) { out.push_back(e); });
  return out;
}

std::optional<JournalProblem> Journal::verify() const {
  std::optional<JournalProblem> first;
  // Only the first is kept; the pass still reads to the end (the head is checked last).
  verify_each([&](const JournalProblem& p) {
    if (!first) first = p;
  });
  return first;
}

std::vector<JournalProblem> Journal::verify_all() const {
  std::vector<JournalProblem> problems;
  verify_each([&](const JournalProblem& p) { problems.push_back(p); });
  return problems;
}

uint64_t Journal::verify_each(const std::function<void(const JournalProblem&)>& fn) const {
  return scan(fn, nullptr);
}

uint64_t Journal::scan(const std::function<void(const JournalProblem&)>& report, Scan* out) const {
  Scan local;
  Scan& sc = out ? *out : local;
  sys::Fd fd = root_.open(kFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  const uint64_t size = fd ? file_size_of(fd.get(), file().string()) : 0;
  auto head_content = root_.read_file(kHeadFile);
  std::optional<Head> head;
  if (head_content) head = parse_head(*head_content);

  if (size == 0) {
    if (head && head->seq > 0) {
      report({0, 1,
              file().string() + " is " + (fd ? "empty" : "missing") + " but journal.head records " +
                  std::to_string(head->seq) + " entries: " + range_text(1, head->seq) + " removed"});
    } else if (head_content && !head) {
      report({0, 0, "journal.head is unreadable"});
    }
    return 0;
  }

  LineReader reader(fd.get(), file().string(), 0, size);
  LineReader::Line l;
  uint64_t last_seq = 0;
  std::string last_hash = kChainStart;  // of the last line that is part of the chain
  std::string prev_line = kChainStart;  // of the line just before, whatever it is
  bool adopt_next = false;              // after a damaged line, the next entry restarts the checks
  // The entry the head names: the last line holding that seq (a repeated seq is reported in the loop).
  std::optional<uint64_t> head_line;
  std::string head_line_hash;
  uint64_t head_line_end = 0;
  uint64_t line_no = 0;
  while (reader.next(l)) {
    ++line_no;
    sc.lines = line_no;
    sc.size = l.end;
    sc.last_hash = l.hash;
    sc.ends_with_newline = l.complete;
    const uint64_t expected = last_seq + 1;
    const std::string& hash = l.hash;
    JournalEntry e;
    std::optional<std::string> why =
        l.too_long ? std::make_optional(too_long_text(l)) : parse_entry(l.text, e);
    if (why) {
      bool cut = !l.complete;
      report({line_no, expected,
              cut ? "entry " + std::to_string(expected) + " is incomplete: line " + std::to_string(line_no) +
                        " was cut (" + *why + ")"
                  : "entry " + std::to_string(expected) + " was altered: line " + std::to_string(line_no) +
                        " is not a journal entry (" + *why + ")"});
      adopt_next = true;
      prev_line = hash;
      continue;
    }
    sc.max_seq = std::max(sc.max_seq, e.seq);
    if (head && e.seq == head->seq) {
      head_line = line_no;
      head_line_hash = hash;
      head_line_end = l.end;
    }
    if (is_break(e) && e.prev == prev_line && e.seq > last_seq) {
      // A break recorded by op-dbus: where the chain resumes. Reported for ever.
      report({line_no, e.seq,
              "break recorded at entry " + std::to_string(e.seq) + " (" + e.time + ", run " + e.run +
                  "): " + e.error});
    } else if (adopt_next) {
      // Checked against nothing: the line before it is damaged and was reported.
    } else if (e.seq != expected) {
      if (e.prev == last_hash) {
        // The entry still chains onto the previous line, so only its own seq field was edited.
        report({line_no, expected,
                "entry " + std::to_string(expected) + " was altered (its seq reads " + std::to_string(e.seq) +
                    ")"});
      } else if (e.seq > expected) {
        report({line_no, expected, range_text(expected, e.seq - 1) + " removed"});
      } else {
        report({line_no, e.seq,
                "line " + std::to_string(line_no) + " repeats entry " + std::to_string(e.seq) +
                    " (expected entry " + std::to_string(expected) + ")"});
      }
    } else if (e.prev != last_hash) {
      if (line_no == 1) {
        report({1, 1, "entry 1 was altered (its prev is not the start of the chain)"});
      } else {
        report({line_no - 1, last_seq,
                "entry " + std::to_string(last_seq) + " was altered (its hash does not match entry " +
                    std::to_string(e.seq) + "'s prev)"});
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
    report({0, last_seq, "journal.head is missing, so the end of the journal cannot be checked"});
    return line_no;
  }
  if (!head) {
    report({0, last_seq, "journal.head is unreadable"});
    return line_no;
  }
  if (head->seq == 0) {
    if (head->size != 0 || head->hash != kChainStart) {
      report({0, 0, "journal.head was altered (it records no entries but a size or hash)"});
    }
    return line_no;
  }
  if (!head_line) {
    uint64_t from = last_seq + 1;
    report({0, head->seq,
            (head->seq > last_seq ? (head->seq == from ? "entry " + std::to_string(from) + " (the last) was"
                                                       : "entries " + std::to_string(from) + " to " +
                                                             std::to_string(head->seq) + " (the last) were")
                                  : "entry " + std::to_string(head->seq) + " (the last recorded) was") +
                " altered or removed (journal.head records " + std::to_string(head->seq) +
                " entries, the file ends at entry " + std::to_string(last_seq) + ")"});
  } else if (head_line_hash != head->hash) {
    report({*head_line, head->seq,
            "entry " + std::to_string(head->seq) +
                " (the last) was altered or removed (its hash does not match journal.head)"});
  } else if (head_line_end != head->size) {
    report({0, head->seq,
            "journal.head was altered, or the journal before entry " + std::to_string(head->seq) +
                " changed length: journal.head records " + std::to_string(head->size) + " bytes, entry " +
                std::to_string(head->seq) + " ends at byte " + std::to_string(head_line_end)});
  }
  return line_no;
}

}  // namespace opdbus
