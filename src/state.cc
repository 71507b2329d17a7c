#include "state.h"

#include <fcntl.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "schema.h"

namespace opdbus {
namespace {

std::string join_diagnostics(const Diagnostics& diagnostics) {
  if (diagnostics.empty()) return "validation failed";
  std::string out;
  for (const auto& d : diagnostics) {
    if (!out.empty()) out += '\n';
    out += d.format();
  }
  return out;
}

std::string display_name(const std::string& path) {
  return path == "-" ? "<stdin>" : path;
}

struct Location {
  int line = 1;
  int column = 1;
};

// 1-based line and column (in characters, not bytes) of a byte offset.
Location location_at(std::string_view text, std::size_t offset) {
  Location loc;
  if (offset > text.size()) offset = text.size();
  for (std::size_t i = 0; i < offset; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++loc.line;
      loc.column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++loc.column;
    }
  }
  return loc;
}

Diagnostic at(const std::string& file, std::string_view text, std::size_t offset, std::string message) {
  Diagnostic d;
  d.file = file;
  d.message = std::move(message);
  Location loc = location_at(text, offset);
  d.line = loc.line;
  d.column = loc.column;
  return d;
}

// Offset of the first byte that is not valid UTF-8 (or is NUL, which JSON text never contains raw),
// or npos. Rejects overlong forms, surrogates and code points above U+10FFFF.
std::size_t find_bad_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  std::size_t i = 0;
  auto cont = [&](std::size_t k) { return k < n && (s[k] & 0xC0) == 0x80; };
  while (i < n) {
    unsigned char c = s[i];
    if (c == 0) return i;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    // Report the start of a broken sequence: that byte is what an editor shows as wrong.
    if (i + 1 >= n || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if (!cont(i + k)) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

bool is_blank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

std::string escape_token(std::string_view token) {
  return json_pointer({std::string(token)});
}

// SAX handler run by rapidjson::Reader. It keeps the path to the current value so it can
//  - build the DOM (when given a document) while refusing too-deep nesting and duplicate keys, before a
//    deep document can make RapidJSON's recursive DOM code overflow the stack;
//  - or record where given JSON pointers start in the text, to put line:column on schema diagnostics.
class SaxHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, SaxHandler> {
 public:
  SaxHandler(std::string_view text, const rapidjson::MemoryStream& stream, JsonDoc* doc,
             std::map<std::string, std::size_t>* wanted, std::size_t max_value = SIZE_MAX)
      : text_(text), stream_(stream), doc_(doc), wanted_(wanted), max_value_(max_value) {
    if (wanted_) {
      for (const auto& [pointer, offset] : *wanted_) {
        wanted_depths_.insert(static_cast<std::size_t>(std::count(pointer.begin(), pointer.end(), '/')));
      }
    }
  }

  bool Null() { return scalar(number_start()) && (!doc_ || doc_->Null()); }
  bool Bool(bool b) { return scalar(number_start()) && (!doc_ || doc_->Bool(b)); }
  bool Int(int i) { return scalar(number_start()) && (!doc_ || doc_->Int(i)); }
  bool Uint(unsigned u) { return scalar(number_start()) && (!doc_ || doc_->Uint(u)); }
  bool Int64(int64_t i) { return scalar(number_start()) && (!doc_ || doc_->Int64(i)); }
  bool Uint64(uint64_t u) { return scalar(number_start()) && (!doc_ || doc_->Uint64(u)); }
  bool Double(double d) { return scalar(number_start()) && (!doc_ || doc_->Double(d)); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    if (n > max_value_) return too_long(n, pointer());
    return scalar(string_start()) && (!doc_ || doc_->String(s, n, copy));
  }
  bool StartObject() { return open(true) && (!doc_ || doc_->StartObject()); }
  bool StartArray() { return open(false) && (!doc_ || doc_->StartArray()); }
  bool EndObject(rapidjson::SizeType n) { return close() && (!doc_ || doc_->EndObject(n)); }
  bool EndArray(rapidjson::SizeType n) { return close() && (!doc_ || doc_->EndArray(n)); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    Frame& top = frames_.back();
    top.key.assign(s, n);
    if (n > max_value_) return too_long(n, pointer());
    if (doc_ && !top.keys.insert(top.key).second) {
      fail(string_start(), "duplicate key " + to_json(JsonValue(rapidjson::StringRef(s, n))), pointer());
      return false;
    }
    return !doc_ || doc_->Key(s, n, copy);
  }

  bool failed() const { return failed_; }
  const std::string& error_message() const { return error_message_; }
  const std::string& error_pointer() const { return error_pointer_; }
  std::size_t error_offset() const { return error_offset_; }

 private:
  struct Frame {
    bool object = false;
    std::string key;                       // current member (objects)
    std::size_t index = 0;                 // current element (arrays)
    std::unordered_set<std::string> keys;  // seen so far (objects, when building)
  };

  std::string pointer() const {
    std::string out;
    for (const auto& f : frames_) out += f.object ? escape_token(f.key) : "/" + std::to_string(f.index);
    return out;
  }

  void fail(std::size_t offset, std::string message, std::string where) {
    failed_ = true;
    error_offset_ = offset;
    error_message_ = std::move(message);
    error_pointer_ = std::move(where);
  }

  bool too_long(std::size_t n, std::string where) {
    fail(string_start(),
         "a string of " + std::to_string(n) + " bytes is longer than the limit of " +
             format_byte_size(max_value_) + " for one value (--max-value-size)",
         std::move(where));
    return false;
  }

  void begin_value(std::size_t start) {
    if (!wanted_ || !wanted_depths_.count(frames_.size())) return;
    auto it = wanted_->find(pointer());
    if (it != wanted_->end() && it->second == std::string_view::npos) it->second = start;
  }

  void end_value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
  }

  bool scalar(std::size_t start) {
    begin_value(start);
    end_value();
    return true;
  }

  bool open(bool object) {
    std::size_t pos = stream_.Tell();
    // The iterative reader reports a container before consuming its bracket, the recursive one after.
    if (pos >= text_.size() || (text_[pos] != '{' && text_[pos] != '[')) pos = pos > 0 ? pos - 1 : 0;
    if (doc_ && frames_.size() >= static_cast<std::size_t>(kMaxNestingDepth)) {
      fail(pos, "nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels", "");
      return false;
    }
    begin_value(pos);
    frames_.push_back(Frame{object, {}, 0, {}});
    return true;
  }

  bool close() {
    frames_.pop_back();
    end_value();
    return true;
  }

  // Handlers run just after a token; these find where the token began.
  std::size_t string_start() const {
    std::size_t end = stream_.Tell();
    if (end < 2 || end > text_.size() || text_[end - 1] != '"') return end;
    for (std::size_t i = end - 1; i-- > 0;) {
      if (text_[i] != '"') continue;
      std::size_t slashes = 0;
      while (slashes < i && text_[i - 1 - slashes] == '\\') ++slashes;
      if (slashes % 2 == 0) return i;
    }
    return end;
  }

  std::size_t number_start() const {
    std::size_t p = std::min(stream_.Tell(), text_.size());
    auto token_char = [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
             c == '-' || c == '.';
    };
    while (p > 0 && token_char(text_[p - 1])) --p;
    return p;
  }

  std::string_view text_;
  const rapidjson::MemoryStream& stream_;
  JsonDoc* doc_;
  std::map<std::string, std::size_t>* wanted_;
  std::set<std::size_t> wanted_depths_;  // token counts of the wanted pointers, to skip the rest cheaply
  std::vector<Frame> frames_;
  bool failed_ = false;
  std::string error_message_;
  std::string error_pointer_;
  std::size_t error_offset_ = 0;
  std::size_t max_value_;
};

constexpr unsigned kReaderFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

std::string parse_error_text(rapidjson::ParseErrorCode code) {
  std::string text = rapidjson::GetParseError_En(code);
  if (!text.empty() && text.back() == '.') text.pop_back();
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return text;
}

// RapidJSON's reasons are terse; for the mistakes people actually make, say what they probably did.
std::string syntax_message(std::string_view text, const rapidjson::ParseResult& result) {
  std::string reason = parse_error_text(result.Code());
  std::size_t at = result.Offset();
  std::string hint;
  if (at >= text.size()) {
    hint = "the file ends too early";
  } else {
    unsigned char c = static_cast<unsigned char>(text[at]);
    std::size_t before = at;
    while (before > 0 && std::string_view(" \t\r\n").find(text[before - 1]) != std::string_view::npos)
      --before;
    bool after_comma = before > 0 && text[before - 1] == ',';
    if (result.Code() == rapidjson::kParseErrorStringEscapeInvalid && c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "%02X", c);
      reason = c == '\n' ? "line break inside a string"
                         : std::string("control character U+00") + buf + " inside a string";
      hint = c == '\n' ? "a missing closing quote?" : "escape it, e.g. \\t or \\u0009";
    } else if (c == '/') {
      hint = "comments are not allowed in JSON";
    } else if (c == '\'') {
      hint = "JSON strings and keys need double quotes";
    } else if ((c == '}' || c == ']') && after_comma) {
      hint = "a trailing comma?";
    }
  }
  return "invalid JSON: " + reason + (hint.empty() ? "" : " (" + hint + ")");
}

std::string_view strip_bom(std::string_view text) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

// Adds line:column to diagnostics that only carry a JSON pointer, by re-reading the (valid) text.
void locate(std::string_view text, Diagnostics& diagnostics) {
  // Every prefix too: a diagnostic whose own place cannot be found falls back to its nearest parent.
  std::map<std::string, std::size_t> wanted;
  for (const auto& d : diagnostics) {
    if (d.line != 0) continue;
    for (std::string p = d.pointer; !p.empty(); p.resize(p.rfind('/')))
      wanted.emplace(p, std::string_view::npos);
  }
  if (wanted.empty()) return;
  rapidjson::MemoryStream stream(text.data(), text.size());
  SaxHandler handler(text, stream, nullptr, &wanted);
  rapidjson::Reader reader;
  reader.Parse<kReaderFlags>(stream, handler);
  // One pass over the text for all offsets: a 10 MB file with many errors stays fast.
  std::map<std::size_t, Location> places;
  for (const auto& [pointer, offset] : wanted) {
    if (offset != std::string_view::npos) places.emplace(offset, Location{});
  }
  Location loc;
  std::size_t pos = 0;
  for (auto& [offset, place] : places) {
    for (; pos < offset && pos < text.size(); ++pos) {
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (c == '\n') {
        ++loc.line;
        loc.column = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++loc.column;
      }
    }
    place = loc;
  }
  for (auto& d : diagnostics) {
    if (d.line != 0 || d.pointer.empty()) continue;
    for (std::string p = d.pointer; !p.empty(); p.resize(p.rfind('/'))) {
      auto it = wanted.find(p);
      if (it != wanted.end() && it->second != std::string_view::npos) {
        d.line = places[it->second].line;
        d.column = places[it->second].column;
        break;
      }
    }
  }
}

std::string read_file(const std::string& path, std::size_t max_size) {
  auto fail = [&](int err) {
    return Error(ErrorKind::InvalidArgument,
                 "cannot read " + display_name(path) + ": " + std::system_category().message(err));
  };
  int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(errno);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (fd != STDIN_FILENO) ::close(fd);
    throw fail(EISDIR);
  }
  std::string data;
  char buf[65536];
  if (struct stat st{}; fd != STDIN_FILENO && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                        static_cast<std::size_t>(st.st_size) > max_size) {
    ::close(fd);
    throw Error(ErrorKind::InvalidArgument, "cannot read " + display_name(path) + ": larger than " +
                                                format_byte_size(max_size) +
                                                " (--max-document-size); this is not a state document");
  }
  // One allocation of the right size: growing by doubling would briefly hold 1.5x the file twice over.
  if (struct stat st{}; fd != STDIN_FILENO && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    data.reserve(static_cast<std::size_t>(st.st_size) + 1);
  }
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      if (fd != STDIN_FILENO) ::close(fd);
      throw fail(err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > max_size) {
      if (fd != STDIN_FILENO) ::close(fd);
      throw Error(ErrorKind::InvalidArgument, "cannot read " + display_name(path) + ": larger than " +
                                                  format_byte_size(max_size) +
                                                  " (--max-document-size); this is not a state document");
    }
  }
  if (fd != STDIN_FILENO) ::close(fd);
  return data;
}

}  // namespace

ValidationFailed::ValidationFailed(Diagnostics diagnostics)
    : Error(ErrorKind::InvalidArgument, join_diagnostics(diagnostics)),
      diagnostics_(std::move(diagnostics)) {}

const JsonValue* State::section(std::string_view plugin) const {
  const JsonValue* plugins = member(doc, "plugins");
  if (!plugins) return nullptr;
  const JsonValue* s = member(*plugins, plugin);
  return s && s->IsObject() ? s : nullptr;
}

std::vector<std::string> State::plugin_names() const {
  std::vector<std::string> names;
  const JsonValue* plugins = member(doc, "plugins");
  if (plugins && plugins->IsObject()) {
    for (const auto& m : plugins->GetObject())
      names.emplace_back(m.name.GetString(), m.name.GetStringLength());
  }
  return names;
}

std::size_t parse_byte_size(std::string_view text) {
  auto bad = [&] {
    return Error(ErrorKind::InvalidArgument, "'" + std::string(text) +
                                                 "' is not a size; use bytes or a number with K, M or G "
                                                 "(binary units), e.g. 16M");
  };
  std::size_t i = 0, value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (value > (SIZE_MAX - 9) / 10) throw bad();
    value = value * 10 + static_cast<std::size_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) throw bad();
  std::string unit(text.substr(i));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = 0;
  if (unit == "" || unit == "B") {
    shift = 0;
  } else if (unit == "K" || unit == "KB" || unit == "KIB") {
    shift = 10;
  } else if (unit == "M" || unit == "MB" || unit == "MIB") {
    shift = 20;
  } else if (unit == "G" || unit == "GB" || unit == "GIB") {
    shift = 30;
  } else {
    throw bad();
  }
  if (value == 0 || value > (SIZE_MAX >> shift)) throw bad();
  return value << shift;
}

std::string format_byte_size(std::size_t bytes) {
  const std::pair<int, const char*> units[] = {{30, "GiB"}, {20, "MiB"}, {10, "KiB"}};
  for (const auto& [shift, name] : units) {
    std::size_t unit = std::size_t{1} << shift;
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes >> shift) + " " + name;
  }
  if (bytes >= (std::size_t{1} << 20)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
    return buf;
  }
  return std::to_string(bytes) + " bytes";
}

JsonDoc parse_user_json(std::string_view raw, const std::string& name, const LoadLimits& limits) {
  std::string_view text = strip_bom(raw);
  if (is_blank(text)) {
    Diagnostic d;
    d.file = name;
    d.message = "the file is empty; expected a JSON object";
    throw ValidationFailed({d});
  }
  if (std::size_t bad = find_bad_utf8(text); bad != std::string_view::npos) {
    unsigned byte = static_cast<unsigned char>(text[bad]);
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", byte);
    std::string message = byte == 0
                              ? std::string("unexpected NUL byte; the file must be JSON text")
                              : std::string("invalid UTF-8 (byte ") + hex + "); the file must be UTF-8 text";
    throw ValidationFailed({at(name, text, bad, message)});
  }

  JsonDoc doc;
  rapidjson::MemoryStream stream(text.data(), text.size());
  SaxHandler handler(text, stream, &doc, nullptr, limits.max_value);
  rapidjson::ParseResult result;
  auto generator = [&](JsonDoc& target) {
    (void)target;
    rapidjson::Reader reader;
    result = reader.Parse<kReaderFlags>(stream, handler);
    return !result.IsError();
  };
  doc.Populate(generator);
  if (handler.failed()) {
    Diagnostic d = at(name, text, handler.error_offset(), handler.error_message());
    d.pointer = handler.error_pointer();
    throw ValidationFailed({d});
  }
  if (result.IsError()) {
    throw ValidationFailed({at(name, text, result.Offset(), syntax_message(text, result))});
  }
  if (!doc.IsObject()) {
    Diagnostic d;
    d.file = name;
    d.expected = "a JSON object at the top level";
    d.found = doc.IsArray()    ? "an array"
              : doc.IsString() ? "a string"
              : doc.IsNumber() ? "a number"
              : doc.IsBool()   ? "a boolean"
                               : "null";
    throw ValidationFailed({d});
  }
  return doc;
}

State load_state_text(std::string_view text, const std::string& name, const LoadLimits& limits) {
  State state;
  state.file = name;
  if (text.size() > limits.max_document) {
    throw Error(ErrorKind::InvalidArgument, name + ": larger than " + format_byte_size(limits.max_document) +
                                                " (--max-document-size); this is not a state document");
  }
  state.doc = parse_user_json(text, name, limits);

  Diagnostics out;
  validate_schema("state", state.doc, "", name, out);
  const std::vector<std::string> known = schema_names();
  if (const JsonValue* plugins = member(state.doc, "plugins"); plugins && plugins->IsObject()) {
    for (const auto& m : plugins->GetObject()) {
      std::string plugin(m.name.GetString(), m.name.GetStringLength());
      // Unknown plugins and non-object sections were already reported by the top-level schema.
      if (plugin == "state" || !m.value.IsObject()) continue;
      if (std::find(known.begin(), known.end(), plugin) == known.end()) continue;
      validate_schema(plugin, m.value, "/plugins" + escape_token(plugin), name, out);
    }
  }
  if (!out.empty()) {
    locate(strip_bom(text), out);
    throw ValidationFailed(std::move(out));
  }
  return state;
}

State load_state_file(const std::string& path, const LoadLimits& limits) {
  std::string text = read_file(path, limits.max_document);
  State state = load_state_text(text, display_name(path), limits);
  state.file = path;
  return state;
}

}  // namespace opdbus
