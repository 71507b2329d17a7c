// The little XML the kvm plugin needs: escaping values into the XML it writes, and reading libvirt's domain
// XML back into a tree. libvirt's output is plain, well-formed XML (elements, attributes, text, the five
// predefined entities and character references; no DTD): this reader handles exactly that, plus comments,
// CDATA and processing instructions, and refuses anything else with Error(BackendError). Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace opdbus::kvm {

struct XmlNode {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::string text;  // the element's own character data, concatenated (whitespace kept)
  std::vector<XmlNode> children;

  // The first child element called `child`, or nullptr.
  const XmlNode* child(std::string_view child) const;
  std::vector<const XmlNode*> all(std::string_view child) const;
  // The attribute's value, or "" when absent.
  std::string attr(std::string_view key) const;
};

// The root element of `text`. Throws Error(BackendError) saying where the text is not well-formed.
XmlNode parse_xml(std::string_view text);

// Text safe inside an element or a single- or double-quoted attribute: & < > ' " escaped.
std::string xml_escape(std::string_view s);

}  // namespace opdbus::kvm
