#include "kvm/xml.h"

#include <cstdint>

#include "error.h"

namespace opdbus::kvm {

const XmlNode* XmlNode::child(std::string_view c) const {
  for (const auto& n : children) {
    if (n.name == c) return &n;
  }
  return nullptr;
}

std::vector<const XmlNode*> XmlNode::all(std::string_view c) const {
  std::vector<const XmlNode*> out;
  for (const auto& n : children) {
    if (n.name == c) out.push_back(&n);
  }
  return out;
}

std::string XmlNode::attr(std::string_view key) const {
  auto it = attrs.find(std::string(key));
  return it == attrs.end() ? "" : it->second;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

constexpr int kMaxDepth = 64;

class Reader {
 public:
  explicit Reader(std::string_view t) : t_(t) {}

  XmlNode document() {
    skip_misc();
    if (!at("<")) fail("expected the root element");
    XmlNode root = element(0);
    skip_misc();
    if (i_ != t_.size()) fail("text after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error(ErrorKind::BackendError, "malformed XML at byte " + std::to_string(i_) + ": " + what);
  }
  bool at(std::string_view s) const { return t_.substr(i_, s.size()) == s; }
  void expect(std::string_view s) {
    if (!at(s)) fail("expected '" + std::string(s) + "'");
    i_ += s.size();
  }
  static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  void skip_space() {
    while (i_ < t_.size() && space(t_[i_])) ++i_;
  }
  void skip_until(std::string_view end) {
    auto p = t_.find(end, i_);
    if (p == std::string_view::npos) fail("unterminated '" + std::string(end) + "'");
    i_ = p + end.size();
  }
  // Whitespace, comments and processing instructions (the XML declaration among them) between elements.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (at("<?")) {
        skip_until("?>");
      } else if (at("<!--")) {
        skip_until("-->");
      } else if (at("<!")) {
        fail("DTDs are not supported");
      } else {
        return;
      }
    }
  }
  std::string name() {
    size_t start = i_;
    while (i_ < t_.size()) {
      char c = t_[i_];
      if (space(c) || c == '=' || c == '>' || c == '/' || c == '<' || c == '"' || c == '\'') break;
      ++i_;
    }
    if (i_ == start) fail("expected a name");
    return std::string(t_.substr(start, i_ - start));
  }
  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // At '&': one entity or character reference.
  void reference(std::string& out) {
    size_t semi = t_.find(';', i_);
    if (semi == std::string_view::npos || semi - i_ > 12) fail("unterminated reference");
    std::string_view ref = t_.substr(i_ + 1, semi - i_ - 1);
    if (ref == "amp")
      out += '&';
    else if (ref == "lt")
      out += '<';
    else if (ref == "gt")
      out += '>';
    else if (ref == "apos")
      out += '\'';
    else if (ref == "quot")
      out += '"';
    else if (ref.size() > 1 && ref[0] == '#') {
      bool hex = ref[1] == 'x';
      std::string digits(ref.substr(hex ? 2 : 1));
      if (digits.empty()) fail("empty character reference");
      uint32_t cp = 0;
      for (char c : digits) {
        int d = c >= '0' && c <= '9'          ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : -1;
        if (d < 0) fail("bad character reference");
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
        if (cp > 0x10FFFF) fail("character reference out of range");
      }
      put_utf8(out, cp);
    } else {
      fail("unknown entity '&" + std::string(ref) + ";'");
    }
    i_ = semi + 1;
  }
  std::string attr_value() {
    if (i_ >= t_.size() || (t_[i_] != '"' && t_[i_] != '\'')) fail("expected a quoted attribute value");
    char q = t_[i_++];
    std::string out;
    while (i_ < t_.size() && t_[i_] != q) {
      if (t_[i_] == '<') fail("'<' in an attribute value");
      if (t_[i_] == '&') {
        reference(out);
      } else {
        out += t_[i_++];
      }
    }
    if (i_ >= t_.size()) fail("unterminated attribute value");
    ++i_;
    return out;
  }
  XmlNode element(int depth) {
    if (depth > kMaxDepth) fail("nested too deeply");
    expect("<");
    XmlNode node;
    node.name = name();
    for (;;) {
      skip_space();
      if (at("/>")) {
        i_ += 2;
        return node;
      }
      if (at(">")) {
        ++i_;
        break;
      }
      std::string key = name();
      skip_space();
      expect("=");
      skip_space();
      std::string value = attr_value();
      if (!node.attrs.emplace(key, std::move(value)).second) fail("duplicate attribute '" + key + "'");
    }
    for (;;) {
      if (i_ >= t_.size()) fail("unterminated element <" + node.name + ">");
      if (at("</")) {
        i_ += 2;
        std::string end = name();
        if (end != node.name) fail("</" + end + "> closes <" + node.name + ">");
        skip_space();
        expect(">");
        return node;
      }
      if (at("<!--")) {
        skip_until("-->");
      } else if (at("<![CDATA[")) {
        size_t start = i_ + 9;
        skip_until("]]>");
        node.text.append(t_.substr(start, i_ - 3 - start));
      } else if (at("<?")) {
        skip_until("?>");
      } else if (at("<")) {
        node.children.push_back(element(depth + 1));
      } else if (t_[i_] == '&') {
        reference(node.text);
      } else {
        node.text += t_[i_++];
      }
    }
  }

  std::string_view t_;
  size_t i_ = 0;
};

}  // namespace

XmlNode parse_xml(std::string_view text) {
  return Reader(text).document();
}

}  // namespace opdbus::kvm
