#include "packagekit/apply.h"

#include "error.h"
#include "packagekit/model.h"
#include "packagekit/ops.h"
#include "text.h"

namespace opdbus::packagekit {
namespace {

std::string names_of(const std::vector<PackageRef>& refs) {
  std::vector<std::string> v;
  for (const auto& r : refs) v.push_back(r.version ? r.name + "=" + *r.version : r.name);
  return join(v, ", ");
}

template <typename Fn>
void step(const std::string& what, Fn&& fn) {
  try {
    fn();
  } catch (Error& e) {
    throw e.with_context(what);
  }
}

}  // namespace

void apply_action(Backend& backend, const Action& action) {
  const Ops& ops = operation_of<Ops>(action.operation, action.resource());
  struct Visitor {
    Backend& b;
    void operator()(const WriteRepository& op) const {
      const auto& root = b.root();
      // The key first: a sources file never points at a key that is not there.
      root.write_file(key_path(op.name), op.key, 0644);
      root.write_file(sources_path(op.name), op.sources, 0644);
    }
    void operator()(const RemoveRepository& op) const {
      const auto& root = b.root();
      root.remove(sources_path(op.name));
      root.remove(key_path(op.name));
    }
    void operator()(const RefreshCache& op) const {
      b.set_stall_timeout(op.stall_timeout);
      step("refresh the package lists", [&] { b.refresh_cache(); });
    }
    void operator()(const InstallPackages& op) const {
      b.set_stall_timeout(op.stall_timeout);
      step("install " + names_of(op.packages), [&] { b.install(op.packages, op.allow_downgrade); });
    }
    void operator()(const RemovePackages& op) const {
      b.set_stall_timeout(op.stall_timeout);
      step("remove " + join(op.packages, ", "), [&] { b.remove(op.packages); });
    }
    void operator()(const UpgradePackages& op) const {
      b.set_stall_timeout(op.stall_timeout);
      step("upgrade " + join(op.packages, ", "), [&] { b.upgrade(op.packages); });
    }
  };
  std::visit(Visitor{backend}, ops);
}

}  // namespace opdbus::packagekit
