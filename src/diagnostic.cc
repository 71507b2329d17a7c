#include "diagnostic.h"

#include "json.h"

namespace opdbus {
namespace {

// A pointer names keys as the user wrote them; a key with a newline or another control character (refused,
// and so reported) must not break the one-line message or a terminal: those bytes are shown escaped.
std::string printable(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

std::string Diagnostic::format() const {
  std::string out = file.empty() ? std::string("<input>") : file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!pointer.empty()) out += printable(pointer) + ": ";
  std::string body = message;
  if (!expected.empty()) {
    if (!body.empty()) body += ": ";
    body += "expected " + expected;
  }
  if (!found.empty()) {
    if (!body.empty()) body += "; ";
    body += "found " + found;
  }
  return out + body;
}

SectionReport::SectionReport(std::string file, std::string section_pointer, Diagnostics& out)
    : file_(std::move(file)), section_pointer_(std::move(section_pointer)), out_(out) {}

std::string SectionReport::pointer(const std::vector<std::string>& tokens) const {
  return section_pointer_ + json_pointer(tokens);
}

void SectionReport::expected(const std::vector<std::string>& tokens, std::string expected, std::string found,
                             std::string message) {
  Diagnostic d;
  d.file = file_;
  d.pointer = pointer(tokens);
  d.expected = std::move(expected);
  d.found = std::move(found);
  d.message = std::move(message);
  out_.push_back(std::move(d));
  ++count_;
}

void SectionReport::problem(const std::vector<std::string>& tokens, std::string message) {
  expected(tokens, "", "", std::move(message));
}

}  // namespace opdbus
