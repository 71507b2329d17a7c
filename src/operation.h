// What an Action does, as a typed value. Each plugin declares its operations in plugins/NAME/ops.h: one struct
// per operation, gathered in a std::variant. diff() stores one in Action::operation with make_operation(),
// apply() takes it back with operation_of<Ops>() and std::visit. JSON appears only at the boundary (the
// journal, traces) through Operation::to_json().
//
// An operation struct has a name and writes its fields as JSON:
//
//   struct Enable {
//     static constexpr std::string_view kName = "enable";
//     std::string unit;
//     void fields(JsonObject& o) const { o.set("unit", unit); }
//   };
//   using Ops = std::variant<Enable, Disable, ...>;
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <variant>

#include "error.h"
#include "json_object.h"

namespace opdbus {

class Operation {
 public:
  virtual ~Operation() = default;
  virtual std::string_view name() const = 0;  // "enable"
  virtual JsonDoc to_json() const = 0;        // {"op": "enable", "unit": "ssh.service"}
};

template <typename Ops>
class TypedOperation final : public Operation {
 public:
  explicit TypedOperation(Ops v) : value(std::move(v)) {}
  std::string_view name() const override {
    return std::visit([](const auto& o) -> std::string_view { return o.kName; }, value);
  }
  JsonDoc to_json() const override {
    return std::visit(
        [](const auto& o) {
          JsonObject j;
          j.set("op", o.kName);
          o.fields(j);
          return j.take();
        },
        value);
  }
  const Ops value;
};

// The shared, immutable operation for an Action (Actions are copied freely; the operation is not).
template <typename Ops, typename Op>
std::shared_ptr<const Operation> make_operation(Op op) {
  return std::make_shared<const TypedOperation<Ops>>(Ops(std::move(op)));
}

// The plugin's operation carried by `op`. Throws Error(Bug) if it carries none or another plugin's.
template <typename Ops>
const Ops& operation_of(const std::shared_ptr<const Operation>& op, std::string_view resource) {
  auto* typed = dynamic_cast<const TypedOperation<Ops>*>(op.get());
  if (!typed) {
    throw Error(ErrorKind::Bug, "action " + std::string(resource) + " carries " +
                                    (op ? "another plugin's operation" : "no operation"));
  }
  return typed->value;
}

}  // namespace opdbus
