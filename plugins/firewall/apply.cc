#include "firewall/apply.h"

#include "firewall/model.h"
#include "firewall/ops.h"

namespace opdbus::firewall {

void apply_action(Backend& backend, const Action& action) {
  const auto& ops = operation_of<Ops>(action.operation, action.resource());
  struct Visitor {
    Backend& backend;
    void operator()(const ReplaceTable& op) const {
      auto table = parse_table(backend.list_table());
      if (table.present && table.other_chains.empty() && table.section == op.desired) return;
      backend.run_batch(render_batch(op.desired));
    }
    void operator()(const DeleteTable&) const {
      if (!backend.list_table()) return;
      backend.run_batch(render_delete());
    }
  };
  std::visit(Visitor{backend}, ops);
}

}  // namespace opdbus::firewall
