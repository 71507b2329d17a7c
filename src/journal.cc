#include "journal.h"

#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "error.h"
#include "json.h"
#include "sys/fs.h"

namespace opdbus {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

const std::string kChainStart(64, '0');
constexpr const char* kSecret = "(secret)";

// What journal.head holds: the last entry's seq and line hash, and the file size after it was appended. The
// size lets record() notice an entry whose append completed but whose head update did not (a crash between).
struct Head {
  uint64_t seq = 0;
  std::string hash = kChainStart;
  uint64_t size = 0;
};

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
void put_json_text(Writer& w, const std::string& text) {
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

uint64_t size_of(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return 0;
    throw Error(ErrorKind::BackendError, "stat " + path.string() + ": " + ec.message());
  }
  return size;
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

Journal::Journal(std::filesystem::path dir)
    : dir_(std::move(dir)), file_(dir_ / "journal.jsonl"), head_(dir_ / "journal.head") {}

std::string Journal::new_run_id() const {
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist(0, 0xffffff);
  char rnd[8];
  std::snprintf(rnd, sizeof rnd, "%06x", dist(rd));
  return format_time(now(), "%Y%m%dT%H%M%SZ") + "-" + rnd;
}

void Journal::record(const std::string& run, const Action& action, bool ok, const std::string& error) {
  // The directory is private: entries name resources and carry their (non-secret) values.
  std::error_code ec;
  if (dir_.has_parent_path()) std::filesystem::create_directories(dir_.parent_path(), ec);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    int err = errno;
    throw Error(err == EACCES || err == EPERM ? ErrorKind::PermissionError : ErrorKind::BackendError,
                "create journal directory " + dir_.string() + ": " + std::strerror(err));
  }

  Head head;
  auto head_content = sys::read_file(head_);
  if (head_content) {
    auto parsed = parse_head(*head_content);
    if (!parsed) {
      throw Error(ErrorKind::BackendError,
                  head_.string() + " is unreadable; run 'op-dbus log verify' before applying again");
    }
    head = *parsed;
    uint64_t size = size_of(file_);
    if (size > head.size) {
      // Adopt one complete entry that was appended after the head was last written, if it chains on.
      auto content = sys::read_file(file_).value_or("");
      std::string_view tail = std::string_view(content).substr(std::min<uint64_t>(head.size, content.size()));
      JournalEntry e;
      if (!tail.empty() && tail.back() == '\n' && tail.find('\n') == tail.size() - 1) {
        tail.remove_suffix(1);
        if (!parse_entry(tail, e) && e.seq == head.seq + 1 && e.prev == head.hash) {
          head = Head{e.seq, sha256_hex(tail), size};
        }
      }
    }
  } else if (auto content = sys::read_file(file_)) {
    // No head yet (first use after an upgrade, or it was deleted): continue from the file's last entry.
    auto lines = split_lines(*content);
    if (!lines.empty()) {
      JournalEntry last;
      if (auto why = parse_entry(lines.back(), last)) {
        throw Error(ErrorKind::BackendError, "cannot continue " + file_.string() + ": its last line (" +
                                                 std::to_string(lines.size()) +
                                                 ") is not a journal entry: " + *why);
      }
      head = Head{last.seq, sha256_hex(lines.back()), content->size()};
    }
  }

  JournalEntry e;
  e.seq = head.seq + 1;
  e.time = format_time(now(), "%Y-%m-%dT%H:%M:%SZ");
  e.prev = head.hash;
  e.run = run;
  e.plugin = action.plugin;
  e.resource = action.resource();
  e.op = std::string(to_string(action.op));
  e.summary = action.summary;
  e.result = ok ? "ok" : "failed";
  e.error = ok ? "" : error;
  std::string line = entry_line(e, action.changes);

  sys::append_line(file_, line, 0600);
  sys::atomic_write(head_, head_text(Head{e.seq, sha256_hex(line), size_of(file_)}), 0600);
}

std::vector<JournalEntry> Journal::entries() const {
  std::vector<JournalEntry> out;
  auto content = sys::read_file(file_);
  if (!content) return out;
  auto lines = split_lines(*content);
  out.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    JournalEntry e;
    if (auto why = parse_entry(lines[i], e)) {
      throw Error(ErrorKind::InvalidArgument,
                  file_.string() + " line " + std::to_string(i + 1) + " is not a journal entry: " + *why);
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<JournalProblem> Journal::verify() const {
  auto content = sys::read_file(file_);
  auto head_content = sys::read_file(head_);
  std::optional<Head> head;
  if (head_content) head = parse_head(*head_content);

  if (!content) {
    if (head && head->seq > 0) {
      return JournalProblem{0, 1,
                            file_.string() + " is missing but journal.head records " +
                                std::to_string(head->seq) + " entries: " + range_text(1, head->seq) +
                                " removed"};
    }
    if (head_content && !head) return JournalProblem{0, 0, head_.string() + " is unreadable"};
    return std::nullopt;
  }

  auto lines = split_lines(*content);
  uint64_t last_seq = 0;
  std::string last_hash = kChainStart;
  for (size_t i = 0; i < lines.size(); ++i) {
    const uint64_t line_no = i + 1;
    const uint64_t expected = last_seq + 1;
    JournalEntry e;
    if (auto why = parse_entry(lines[i], e)) {
      return JournalProblem{line_no, expected,
                            "entry " + std::to_string(expected) + " was altered: line " +
                                std::to_string(line_no) + " is not a journal entry (" + *why + ")"};
    }
    if (e.seq != expected) {
      // The entry still chains onto the previous line, so only its own seq field was edited.
      if (e.prev == last_hash) {
        return JournalProblem{line_no, expected,
                              "entry " + std::to_string(expected) + " was altered (its seq reads " +
                                  std::to_string(e.seq) + ")"};
      }
      if (e.seq > expected) {
        return JournalProblem{line_no, expected, range_text(expected, e.seq - 1) + " removed"};
      }
      return JournalProblem{line_no, e.seq,
                            "line " + std::to_string(line_no) + " repeats entry " + std::to_string(e.seq) +
                                " (expected entry " + std::to_string(expected) + ")"};
    }
    if (e.prev != last_hash) {
      if (i == 0) {
        return JournalProblem{1, 1, "entry 1 was altered (its prev is not the start of the chain)"};
      }
      return JournalProblem{line_no - 1, last_seq,
                            "entry " + std::to_string(last_seq) +
                                " was altered (its hash does not match entry " + std::to_string(e.seq) +
                                "'s prev)"};
    }
    last_seq = e.seq;
    last_hash = sha256_hex(lines[i]);
  }

  if (!head_content) {
    if (lines.empty()) return std::nullopt;
    return JournalProblem{0, last_seq,
                          head_.string() + " is missing, so the end of the journal cannot be checked"};
  }
  if (!head) return JournalProblem{0, last_seq, head_.string() + " is unreadable"};
  if (head->seq > last_seq) {
    return JournalProblem{
        0, head->seq,
        (head->seq == last_seq + 1 ? "entry " + std::to_string(head->seq) + " (the last) was"
                                   : "entries " + std::to_string(last_seq + 1) + " to " +
                                         std::to_string(head->seq) + " (the last) were") +
            " altered or removed (journal.head records " + std::to_string(head->seq) +
            " entries, the file ends at entry " + std::to_string(last_seq) + ")"};
  }
  if (head->seq < last_seq) {
    return JournalProblem{
        head->seq + 1, head->seq + 1,
        range_text(head->seq + 1, last_seq) +
            " not recorded in journal.head (appended outside op-dbus, or op-dbus stopped while "
            "recording)"};
  }
  if (head->hash != last_hash) {
    return JournalProblem{lines.size(), last_seq,
                          "entry " + std::to_string(last_seq) +
                              " (the last) was altered or removed (its hash does not match journal.head)"};
  }
  return std::nullopt;
}

}  // namespace opdbus
