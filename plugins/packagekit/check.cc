// Semantic validation of the packagekit section: every package name and version becomes an argv element
// (apt-get, PackageKit ids), every repository name a file name, every URI, suite, component and
// architecture a line of a deb822 file. Checked here and, where a pattern can say it, in the schema.
#include <set>

#include "packagekit/model.h"
#include "text.h"

namespace opdbus::packagekit {
namespace {

std::string shown(std::string_view s) {
  if (s.size() > 80) return json_quoted(s.substr(0, 80)) + "...";
  return json_quoted(s);
}

void check_words(SectionReport& r, const JsonValue& repo, const std::vector<std::string>& at, const char* key,
                 bool (*valid)(std::string_view), const char* expected) {
  const JsonValue* list = member(repo, key);
  if (!list || !list->IsArray()) return;
  size_t i = 0;
  for (const auto& v : list->GetArray()) {
    if (v.IsString()) {
      std::string_view s(v.GetString(), v.GetStringLength());
      if (!valid(s)) {
        auto tokens = at;
        tokens.push_back(key);
        tokens.push_back(std::to_string(i));
        r.expected(tokens, expected, shown(s));
      }
    }
    ++i;
  }
}

}  // namespace

void check_section(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                   const std::vector<std::string>& manifest_packages, Diagnostics& out) {
  (void)manifest_packages;
  SectionReport r(file, section_pointer, out);
  if (!section.IsObject()) return;
  const char* kName = "a Debian package name (lower-case letters, digits, + . -, optionally :ARCH)";
  if (const JsonValue* extra = member(section, "additional_packages"); extra && extra->IsArray()) {
    size_t i = 0;
    for (const auto& v : extra->GetArray()) {
      if (v.IsString() && !valid_package_name(std::string_view(v.GetString(), v.GetStringLength()))) {
        r.expected({"additional_packages", std::to_string(i)}, kName, shown(v.GetString()));
      }
      ++i;
    }
  }
  if (const JsonValue* pkgs = member(section, "packages"); pkgs && pkgs->IsObject()) {
    for (auto it = pkgs->MemberBegin(); it != pkgs->MemberEnd(); ++it) {
      const std::string name(it->name.GetString(), it->name.GetStringLength());
      if (!valid_package_name(name)) {
        r.expected({"packages", name}, kName, shown(name));
        continue;
      }
      if (!it->value.IsObject()) continue;
      auto version = opt_string(it->value, "version");
      auto state = get_string(it->value, "state", "present");
      if (version && !valid_version(*version)) {
        r.expected({"packages", name, "version"},
                   "a Debian version (digits first; letters, digits, . + ~ : -)", shown(*version));
      }
      if (version && (state == "absent" || state == "latest")) {
        r.problem({"packages", name, "version"},
                  "a version goes with \"state\": \"present\" only (found \"" + state + "\")");
      }
    }
  }
  if (const JsonValue* repos = member(section, "repositories"); repos && repos->IsObject()) {
    for (auto it = repos->MemberBegin(); it != repos->MemberEnd(); ++it) {
      const std::string name(it->name.GetString(), it->name.GetStringLength());
      if (!valid_repository_name(name)) {
        r.expected({"repositories", name},
                   "a repository name apt accepts as a file name (letters, digits, _ . -; not starting with "
                   "'.'; at most 64 bytes)",
                   shown(name));
        continue;
      }
      const JsonValue& rv = it->value;
      if (!rv.IsObject()) continue;
      const bool absent = get_string(rv, "state") == "absent";
      check_words(r, rv, {"repositories", name}, "uris", valid_uri, "a URI without spaces (scheme:...)");
      check_words(r, rv, {"repositories", name}, "suites", valid_suite,
                  "a suite name (letters, digits, . _ / ~ + -)");
      check_words(r, rv, {"repositories", name}, "components", valid_component,
                  "a component name (letters, digits, . _ / + -)");
      check_words(r, rv, {"repositories", name}, "architectures", valid_architecture,
                  "a Debian architecture (amd64, arm64, ...)");
      if (absent) continue;
      auto key = opt_string(rv, "key");
      if (!key) {
        r.problem({"repositories", name, "key"},
                  "a repository needs its signing key (\"key\": an ASCII-armoured "
                  "public key block); op-dbus adds no unsigned repositories");
      } else if (!valid_key(*key)) {
        r.expected(
            {"repositories", name, "key"},
            "an ASCII-armoured OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK----- ... -----END PGP "
            "PUBLIC KEY BLOCK-----, printable lines only)",
            shown(*key));
      }
      if (get_strings(rv, "uris").empty())
        r.problem({"repositories", name, "uris"}, "at least one URI is needed");
      auto suites = get_strings(rv, "suites");
      if (suites.empty()) r.problem({"repositories", name, "suites"}, "at least one suite is needed");
      bool flat = !suites.empty() && ends_with(suites.front(), "/");
      auto components = get_strings(rv, "components");
      if (flat && !components.empty()) {
        r.problem({"repositories", name, "components"},
                  "a suite ending in '/' (a flat repository) takes no components");
      }
      if (!flat && !suites.empty() && components.empty()) {
        r.problem({"repositories", name, "components"}, "at least one component is needed (e.g. \"main\")");
      }
    }
  }
}

}  // namespace opdbus::packagekit
