#include "firewall/apply.h"

#include "firewall/model.h"
#include "firewall/ops.h"

namespace opdbus::firewall {

void apply_action(Backend& backend, const Action& action) {
  const auto& ops = operation_of<Ops>(action.operation, action.resource());
  struct Visitor {
    Backend& backend;
    void operator()(const ReplaceTable& op) const {
      std::string batch = render_batch(op.desired);
      if (op.table_differs) backend.run_batch(batch);
      // Loaded at boot: the same batch, the unit, enabled; or none of them.
      auto boot = backend.read_boot();
      if (op.desired.persist) {
        if (!boot.installed() || *boot.batch != batch) backend.write_boot(batch);
      } else if (boot.any()) {
        backend.remove_boot();
      }
    }
    void operator()(const DeleteTable&) const {
      if (backend.list_table()) backend.run_batch(render_delete());
      if (backend.read_boot().any()) backend.remove_boot();
    }
  };
  std::visit(Visitor{backend}, ops);
}

}  // namespace opdbus::firewall
