#include "packagekit/query.h"

#include "json_object.h"
#include "packagekit/dpkg.h"
#include "packagekit/model.h"
#include "text.h"

namespace opdbus::packagekit {
namespace {

void add_repository(JsonObject& repos, const sys::RootDir& root, const std::string& name) {
  auto content = root.read_file(sources_path(name));
  if (!content) return;
  auto repo = parse_sources(*content);
  if (!repo) return;  // not ours: left alone, not reported
  JsonObject r;
  r.set("types", repo->types).set("uris", repo->uris).set("suites", repo->suites);
  if (!repo->components.empty()) r.set("components", repo->components);
  if (!repo->architectures.empty()) r.set("architectures", repo->architectures);
  auto key = root.read_file(key_path(name));
  r.set("key", key ? normalise_key(*key) : std::string());
  repos.set(name, r.take());
}

}  // namespace

JsonDoc query_section(Backend& backend, const JsonValue* desired,
                      const std::vector<std::string>& manifest_packages) {
  const sys::RootDir& root = backend.root();
  JsonObject section;
  JsonObject packages, repos;
  if (desired) {
    Section want = parse_section(*desired, manifest_packages);
    std::vector<std::string> names;
    for (const auto& [name, spec] : want.packages) names.push_back(name);
    // dpkg's database first: only what it cannot settle is resolved by the package manager (one query).
    const auto local =
        answer_from_dpkg(want.packages, parse_dpkg_installed(root.read_file(kDpkgStatus).value_or("")));
    auto resolved =
        local.to_resolve.empty() ? std::map<std::string, Resolved>{} : backend.resolve(local.to_resolve);
    JsonObject available;
    for (const auto& name : names) {
      std::optional<std::string> installed;
      if (auto s = local.settled.find(name); s != local.settled.end()) {
        installed = s->second;  // no "x-available" entry: the plan needs none for it
      } else {
        Resolved r;
        if (auto it = resolved.find(name); it != resolved.end()) r = it->second;
        installed = r.installed;
        available.set(name, r.available);
      }
      JsonObject p;
      if (installed) {
        p.set("state", "present").set("version", *installed);
      } else {
        p.set("state", "absent");
      }
      packages.set(name, p.take());
    }
    section.set("packages", packages.take());
    section.set("x-available", available.take());
    for (const auto& [name, repo] : want.repositories) add_repository(repos, root, name);
    section.set("repositories", repos.take());
    return section.take();
  }
  // show: what an administrator asked for (apt's manual marks), not every dependency.
  auto installed = parse_dpkg_status(root.read_file(kDpkgStatus).value_or(""));
  auto automatic = parse_auto_installed(root.read_file(kExtendedStates).value_or(""));
  for (const auto& [name, version] : installed) {
    if (automatic.count(name)) continue;
    JsonObject p;
    p.set("state", "present");
    packages.set(name, p.take());
  }
  section.set("packages", packages.take());
  for (const auto& e : root.list_dir(kSourcesDir)) {
    if (!ends_with(e.name, ".sources")) continue;
    std::string name = e.name.substr(0, e.name.size() - 8);
    if (valid_repository_name(name)) add_repository(repos, root, name);
  }
  section.set("repositories", repos.take());
  return section.take();
}

}  // namespace opdbus::packagekit
