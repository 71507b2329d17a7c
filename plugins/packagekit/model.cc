#include "packagekit/model.h"

#include <algorithm>

#include "error.h"
#include "text.h"

namespace opdbus::packagekit {
namespace {

bool is_mode_observe(const JsonValue& v) {
  return get_string(v, "mode") == "observe";
}

bool all_of_chars(std::string_view s, std::string_view extra, bool upper = true) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (upper && c >= 'A' && c <= 'Z') ||
           extra.find(c) != std::string_view::npos;
  });
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

constexpr std::string_view kKeyBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
constexpr std::string_view kKeyEnd = "-----END PGP PUBLIC KEY BLOCK-----";

std::vector<std::string> field_words(std::string_view value) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace

std::string_view to_string(Want w) {
  switch (w) {
    case Want::Present:
      return "present";
    case Want::Absent:
      return "absent";
    case Want::Latest:
      return "latest";
  }
  return "present";
}

bool valid_package_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  auto colon = s.find(':');
  std::string_view name = s.substr(0, colon);
  if (name.empty() || !is_lower_alnum(name[0]) || !all_of_chars(name, "+.-", false)) return false;
  if (colon == std::string_view::npos) return true;
  return valid_architecture(s.substr(colon + 1));
}

bool valid_version(std::string_view s) {
  return !s.empty() && s.size() <= 128 && s[0] >= '0' && s[0] <= '9' && all_of_chars(s, ".+~:-");
}

bool valid_repository_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && s[0] != '.' && all_of_chars(s, "_.-");
}

bool valid_uri(std::string_view s) {
  if (s.size() > 1024) return false;
  auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  auto scheme = s.substr(0, colon);
  if (!(scheme[0] >= 'a' && scheme[0] <= 'z') || !all_of_chars(scheme, "+.-", false)) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c <= '~'; });
}

bool valid_suite(std::string_view s) {
  return !s.empty() && s.size() <= 128 && s[0] != '-' && all_of_chars(s, "._/~+-");
}

bool valid_component(std::string_view s) {
  return !s.empty() && s.size() <= 128 && s[0] != '-' && s[0] != '/' && all_of_chars(s, "._/+-");
}

bool valid_architecture(std::string_view s) {
  return !s.empty() && s.size() <= 32 && is_lower_alnum(s[0]) && all_of_chars(s, "-", false);
}

std::string normalise_key(std::string_view s) {
  // Lines without trailing blanks (\r included), no blank lines around the block, one final newline.
  std::vector<std::string> lines;
  for (auto& l : split(s, '\n')) {
    std::string t(l);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r')) t.pop_back();
    lines.push_back(std::move(t));
  }
  while (!lines.empty() && trim(lines.front()).empty()) lines.erase(lines.begin());
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  if (!lines.empty()) lines.front() = trim(lines.front());
  return join(lines, "\n") + "\n";
}

bool valid_key(std::string_view s) {
  if (s.size() > 1024 * 1024) return false;
  std::string k = normalise_key(s);
  if (!starts_with(k, kKeyBegin) || !ends_with(k, std::string(kKeyEnd) + "\n")) return false;
  // Printable ASCII lines only: the armour is base64 plus header lines.
  return std::all_of(k.begin(), k.end(), [](char c) { return c == '\n' || (c >= ' ' && c <= '~'); });
}

Section parse_section(const JsonValue& v, const std::vector<std::string>& manifest_packages) {
  Section s;
  if (!v.IsObject()) return s;
  s.observe = is_mode_observe(v);
  s.manifest = opt_string(v, "manifest");
  if (auto t = opt_int(v, "stall_timeout")) s.stall_timeout = static_cast<int>(*t);
  for (const auto& name : manifest_packages) s.packages[name] = PackageSpec{};
  for (const auto& name : get_strings(v, "additional_packages")) s.packages[name] = PackageSpec{};
  if (const JsonValue* pkgs = member(v, "packages"); pkgs && pkgs->IsObject()) {
    for (auto it = pkgs->MemberBegin(); it != pkgs->MemberEnd(); ++it) {
      const std::string name(it->name.GetString(), it->name.GetStringLength());
      PackageSpec p;
      if (it->value.IsObject()) {
        auto state = get_string(it->value, "state", "present");
        p.state = state == "absent" ? Want::Absent : state == "latest" ? Want::Latest : Want::Present;
        p.version = opt_string(it->value, "version");
        p.observe = is_mode_observe(it->value);
      }
      s.packages[name] = std::move(p);
    }
  }
  if (const JsonValue* repos = member(v, "repositories"); repos && repos->IsObject()) {
    for (auto it = repos->MemberBegin(); it != repos->MemberEnd(); ++it) {
      const std::string name(it->name.GetString(), it->name.GetStringLength());
      Repository r;
      const JsonValue& rv = it->value;
      if (rv.IsObject()) {
        r.absent = get_string(rv, "state") == "absent";
        if (auto t = opt_strings(rv, "types")) r.types = *t;
        r.uris = get_strings(rv, "uris");
        r.suites = get_strings(rv, "suites");
        r.components = get_strings(rv, "components");
        r.architectures = get_strings(rv, "architectures");
        if (auto k = opt_string(rv, "key")) r.key = normalise_key(*k);
        r.observe = is_mode_observe(rv);
      }
      s.repositories[name] = std::move(r);
    }
  }
  if (const JsonValue* avail = member(v, "x-available"); avail && avail->IsObject()) {
    s.available.emplace();
    for (auto it = avail->MemberBegin(); it != avail->MemberEnd(); ++it) {
      std::vector<std::string> versions;
      if (it->value.IsArray()) {
        for (const auto& x : it->value.GetArray())
          if (x.IsString()) versions.emplace_back(x.GetString(), x.GetStringLength());
      }
      (*s.available)[std::string(it->name.GetString(), it->name.GetStringLength())] = std::move(versions);
    }
  }
  for (const auto& [name, p] : s.packages) {
    if (p.state != Want::Absent && p.version) s.installed_versions[name] = *p.version;
  }
  return s;
}

std::vector<std::string> parse_manifest(std::string_view text) {
  JsonDoc d;
  try {
    d = parse_json(text);
  } catch (const Error& e) {
    throw Error(ErrorKind::InvalidArgument, std::string("not JSON: ") + e.what());
  }
  const JsonValue* list = nullptr;
  if (d.IsArray()) {
    list = &d;
  } else if (d.IsObject()) {
    if (get_string(d, "format") != "op-dbus-manifest") {
      throw Error(ErrorKind::InvalidArgument,
                  "expected \"format\": \"op-dbus-manifest\" or an array of names");
    }
    if (get_int(d, "version", 0) != 1) {
      throw Error(ErrorKind::InvalidArgument, "unsupported manifest version (this op-dbus reads version 1)");
    }
    list = member(d, "packages");
    if (!list || !list->IsArray()) throw Error(ErrorKind::InvalidArgument, "\"packages\" must be an array");
  } else {
    throw Error(ErrorKind::InvalidArgument, "expected an object or an array of package names");
  }
  std::vector<std::string> names;
  for (const auto& e : list->GetArray()) {
    std::string name;
    if (e.IsString()) {
      name.assign(e.GetString(), e.GetStringLength());
    } else if (e.IsObject() && member(e, "name") && member(e, "name")->IsString()) {
      name = get_string(e, "name");
    } else {
      throw Error(ErrorKind::InvalidArgument,
                  "a package entry is neither a name nor an object with \"name\"");
    }
    if (!valid_package_name(name)) {
      throw Error(ErrorKind::InvalidArgument, "invalid package name " + json_quoted(name));
    }
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string sources_path(const std::string& name) {
  return std::string(kSourcesDir) + "/" + name + ".sources";
}

std::string key_path(const std::string& name) {
  return std::string(kKeyringDir) + "/" + name + ".asc";
}

std::string render_sources(const std::string& name, const Repository& r) {
  std::string out(kManagedMarker);
  out += ": changes here are overwritten\n";
  out += "Types: " + join(r.types, " ") + "\n";
  out += "URIs: " + join(r.uris, " ") + "\n";
  out += "Suites: " + join(r.suites, " ") + "\n";
  if (!r.components.empty()) out += "Components: " + join(r.components, " ") + "\n";
  if (!r.architectures.empty()) out += "Architectures: " + join(r.architectures, " ") + "\n";
  out += "Signed-By: /" + key_path(name) + "\n";
  return out;
}

std::optional<Repository> parse_sources(std::string_view content) {
  if (!starts_with(content, kManagedMarker)) return std::nullopt;
  Repository r;
  r.types.clear();
  for (const auto& line : split(content, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string field = lower(trim(line.substr(0, colon)));
    auto words = field_words(line.substr(colon + 1));
    if (field == "types") r.types = words;
    if (field == "uris") r.uris = words;
    if (field == "suites") r.suites = words;
    if (field == "components") r.components = words;
    if (field == "architectures") r.architectures = words;
  }
  return r;
}

}  // namespace opdbus::packagekit
