#include "lxc/apply.h"

#include "lxc/ops.h"

namespace opdbus::lxc {

void apply_action(Backend& backend, const Action& action) {
  const auto& ops = operation_of<Ops>(action.operation, action.resource());
  struct Visitor {
    Backend& b;
    void operator()(const CreateContainer& op) const { b.create(op.target.lxcpath, op.target.name, op.spec); }
    void operator()(const DestroyContainer& op) const { b.destroy(op.target.lxcpath, op.target.name); }
    void operator()(const StopContainer& op) const { b.stop(op.target.lxcpath, op.target.name); }
    void operator()(const SetLimits& op) const {
      b.configure(op.target.lxcpath, op.target.name, op.spec, op.live);
    }
    void operator()(const Reconfigure& op) const {
      b.configure(op.target.lxcpath, op.target.name, op.spec, false);
      if (op.restart) {
        b.stop(op.target.lxcpath, op.target.name);
        b.start(op.target.lxcpath, op.target.name, op.wait_ip);
      }
    }
    void operator()(const StartContainer& op) const {
      b.start(op.target.lxcpath, op.target.name, op.wait_ip);
    }
  };
  std::visit(Visitor{backend}, ops);
}

}  // namespace opdbus::lxc
