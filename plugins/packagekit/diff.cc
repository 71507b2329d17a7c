#include "packagekit/diff.h"

#include <algorithm>

#include "error.h"
#include "packagekit/model.h"
#include "packagekit/ops.h"
#include "text.h"

namespace opdbus::packagekit {
namespace {

Action make_action(std::vector<std::string> item, Op op, std::string summary, int order) {
  Action a;
  a.plugin = "packagekit";
  a.item = std::move(item);
  a.op = op;
  a.summary = std::move(summary);
  a.order = order;
  return a;
}

std::string quoted(const std::string& s) {
  return json_quoted(s);
}

std::string list_json(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back(json_quoted(s));
  return "[" + join(q, ",") + "]";
}

void repo_changes(Action& a, const Repository* have, const Repository* want) {
  auto field = [&](const char* name, auto get) {
    std::optional<std::string> before, after;
    // An empty list (no architectures) is the same as none.
    if (have && !get(*have).empty()) before = list_json(get(*have));
    if (want && !get(*want).empty()) after = list_json(get(*want));
    if (before != after) a.changes.push_back({name, before, after});
  };
  field("types", [](const Repository& r) { return r.types; });
  field("uris", [](const Repository& r) { return r.uris; });
  field("suites", [](const Repository& r) { return r.suites; });
  field("components", [](const Repository& r) { return r.components; });
  field("architectures", [](const Repository& r) { return r.architectures; });
  std::optional<std::string> kb, ka;
  if (have) kb = have->key.empty() ? "null" : quoted("(key, " + std::to_string(have->key.size()) + " bytes)");
  if (want) ka = quoted("(key, " + std::to_string(want->key.size()) + " bytes)");
  if (have && want && have->key != want->key) {
    kb = quoted("(key, " + std::to_string(have->key.size()) + " bytes)");
    ka = quoted("(another key, " + std::to_string(want->key.size()) + " bytes)");
  }
  if (kb != ka) a.changes.push_back({"key", kb, ka});
}

bool same_repository(const Repository& a, const Repository& b) {
  return a.types == b.types && a.uris == b.uris && a.suites == b.suites && a.components == b.components &&
         a.architectures == b.architectures && a.key == b.key;
}

std::string count_of(size_t n) {
  return std::to_string(n) + (n == 1 ? " package" : " packages");
}

// The packages of one step, split into the normal Action and, one each, the observed ones.
struct Step {
  std::vector<std::string> names;
  std::vector<Change> changes;
};

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired_json, const JsonValue& current_json,
                                 const std::vector<std::string>& manifest_packages) {
  const Section want = parse_section(desired_json, manifest_packages);
  const Section have = parse_section(current_json);
  std::vector<Action> actions;

  // ---- repositories
  bool repositories_change = false;
  for (const auto& [name, repo] : want.repositories) {
    auto it = have.repositories.find(name);
    const Repository* cur = it == have.repositories.end() ? nullptr : &it->second;
    if (repo.absent) {
      if (!cur) continue;
      Action a = make_action({"repositories", name}, Op::Delete, "remove repository " + name, kRepositories);
      repo_changes(a, cur, nullptr);
      a.operation = make_operation<Ops>(RemoveRepository{name});
      a.observe = repo.observe;
      repositories_change |= !repo.observe && !want.observe;
      actions.push_back(std::move(a));
      continue;
    }
    if (cur && same_repository(*cur, repo)) continue;
    Action a = make_action({"repositories", name}, cur ? Op::Update : Op::Create,
                           (cur ? "update repository " : "add repository ") + name + " (" +
                               join(repo.uris, " ") + " " + join(repo.suites, " ") + ")",
                           kRepositories);
    repo_changes(a, cur, &repo);
    a.operation = make_operation<Ops>(WriteRepository{name, render_sources(name, repo), repo.key});
    a.observe = repo.observe;
    repositories_change |= !repo.observe && !want.observe;
    actions.push_back(std::move(a));
  }
  if (repositories_change) {
    Action a = make_action({"repositories"}, Op::Update, "refresh the package lists (repositories changed)",
                           kRefresh);
    a.operation = make_operation<Ops>(RefreshCache{want.stall_timeout});
    actions.push_back(std::move(a));
  }

  // ---- packages
  auto installed = [&](const std::string& name) -> std::optional<std::string> {
    auto it = have.packages.find(name);
    if (it == have.packages.end() || it->second.state == Want::Absent) return std::nullopt;
    return it->second.version.value_or("");
  };
  auto available = [&](const std::string& name) -> const std::vector<std::string>* {
    if (!have.available) return nullptr;
    auto it = have.available->find(name);
    return it == have.available->end() ? nullptr : &it->second;
  };

  std::vector<std::string> unknown;
  Step remove, upgrade;
  std::vector<PackageRef> install_refs;
  Step install;
  bool downgrade = false;
  std::vector<Action> observed;

  for (const auto& [name, spec] : want.packages) {
    auto inst = installed(name);
    const auto* avail = available(name);
    const std::string state = std::string(to_string(spec.state));
    Step* step = nullptr;
    Change change;
    std::optional<PackageRef> ref;
    if (spec.state == Want::Absent) {
      if (!inst) continue;
      step = &remove;
      change = {name + "/state", quoted("present"), quoted("absent")};
    } else if (!inst) {
      if (avail && avail->empty()) {
        if (!repositories_change) unknown.push_back(name);
        if (!repositories_change) continue;
      }
      if (spec.version && avail && !avail->empty() &&
          std::find(avail->begin(), avail->end(), *spec.version) == avail->end() && !repositories_change) {
        throw Error(ErrorKind::InvalidArgument,
                    "packagekit: packages/" + name + ": version " + *spec.version +
                        " is not available (the package manager offers: " + join(*avail, ", ") + ")");
      }
      step = &install;
      change = {name + "/state", quoted("absent"), quoted(spec.version ? "present" : state)};
      ref = PackageRef{name, spec.version};
    } else if (spec.version && *inst != *spec.version) {
      if (avail && std::find(avail->begin(), avail->end(), *spec.version) == avail->end() &&
          !repositories_change) {
        throw Error(ErrorKind::InvalidArgument, "packagekit: packages/" + name + ": version " +
                                                    *spec.version + " is not available (installed: " + *inst +
                                                    "; the package manager offers: " +
                                                    (avail->empty() ? "none" : join(*avail, ", ")) + ")");
      }
      step = &install;
      change = {name + "/version", quoted(*inst), quoted(*spec.version)};
      ref = PackageRef{name, spec.version};
      downgrade = true;  // PackageKit and apt need leave to install an older version; harmless for newer
    } else if (spec.state == Want::Latest && avail && !avail->empty() && avail->front() != *inst) {
      step = &upgrade;
      change = {name + "/version", quoted(*inst), quoted(avail->front())};
    } else {
      continue;
    }
    if (spec.observe) {
      // Its own observe-only Action, so the report names it; never applied.
      Op op = step == &remove ? Op::Delete : step == &install ? Op::Create : Op::Update;
      const char* verb = step == &remove ? "remove " : step == &install ? "install " : "upgrade ";
      Action a = make_action({"packages", name}, op, verb + name,
                             step == &remove    ? kRemove
                             : step == &install ? kInstall
                                                : kUpgrade);
      a.changes.push_back(change);
      a.observe = true;
      if (step == &remove) a.operation = make_operation<Ops>(RemovePackages{{name}, want.stall_timeout});
      if (step == &install)
        a.operation = make_operation<Ops>(InstallPackages{{*ref}, false, want.stall_timeout});
      if (step == &upgrade) a.operation = make_operation<Ops>(UpgradePackages{{name}, want.stall_timeout});
      observed.push_back(std::move(a));
      continue;
    }
    step->names.push_back(name);
    step->changes.push_back(change);
    if (ref) install_refs.push_back(*ref);
  }
  if (!unknown.empty()) {
    throw Error(
        ErrorKind::InvalidArgument,
        "packagekit: " + std::string(unknown.size() == 1 ? "unknown package " : "unknown packages ") +
            join(unknown, ", ") +
            " (the package manager knows no package of that name; nothing of this document is applied)");
  }
  if (!remove.names.empty()) {
    Action a =
        make_action({"packages"}, Op::Delete,
                    "remove " + count_of(remove.names.size()) + ": " + join(remove.names, ", "), kRemove);
    a.changes = remove.changes;
    // A removed program is gone for whoever used it (removing openssh-server locks the operator out).
    a.destructive = true;
    a.operation = make_operation<Ops>(RemovePackages{remove.names, want.stall_timeout});
    actions.push_back(std::move(a));
  }
  if (!install.names.empty()) {
    std::vector<std::string> shown;
    for (const auto& r : install_refs) shown.push_back(r.version ? r.name + "=" + *r.version : r.name);
    Action a = make_action({"packages"}, Op::Create,
                           "install " + count_of(shown.size()) + ": " + join(shown, ", "), kInstall);
    a.changes = install.changes;
    a.operation = make_operation<Ops>(InstallPackages{install_refs, downgrade, want.stall_timeout});
    actions.push_back(std::move(a));
  }
  if (!upgrade.names.empty()) {
    Action a =
        make_action({"packages"}, Op::Update,
                    "upgrade " + count_of(upgrade.names.size()) + ": " + join(upgrade.names, ", "), kUpgrade);
    a.changes = upgrade.changes;
    a.operation = make_operation<Ops>(UpgradePackages{upgrade.names, want.stall_timeout});
    actions.push_back(std::move(a));
  }
  for (auto& a : observed) actions.push_back(std::move(a));
  return actions;
}

}  // namespace opdbus::packagekit
