#include "diagnostic.h"

namespace opdbus {

std::string Diagnostic::format() const {
  std::string out = file.empty() ? std::string("<input>") : file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!pointer.empty()) out += pointer + ": ";
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

}  // namespace opdbus
