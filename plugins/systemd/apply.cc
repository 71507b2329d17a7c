#include "systemd/apply.h"

#include <type_traits>

#include "error.h"

namespace opdbus::systemd {
namespace {

bool is_enabled(const std::string& state) {
  return state == "enabled" || state == "enabled-runtime" || state == "alias";
}

// systemd enables a unit without [Install] rules "successfully" by doing nothing; say so at apply rather
// than leave it to verification.
std::string enable_failure(const std::string& state) {
  return "enabling changed nothing: unit file state is '" + state + "'" +
         (state == "static" ? " (no [Install] section with WantedBy=, RequiredBy= or Alias=)" : "");
}

}  // namespace

void Applier::begin(std::vector<Action> run) {
  run_ = std::move(run);
  applied_ = 0;
  reload_pending_ = false;
  done_.clear();
  failures_.clear();
  batching_ = true;
}

void Applier::flush_reload(Backend& backend) {
  if (!reload_pending_) return;
  reload_pending_ = false;
  backend.daemon_reload();
}

template <typename Op>
Backend::Failures Applier::call(Backend& backend, const std::vector<std::string>& units) {
  Backend::Failures failures;
  bool changed = false;
  if constexpr (std::is_same_v<Op, Enable>) {
    changed = backend.enable(units);
    for (const auto& [unit, state] : backend.unit_file_states(units)) {
      if (!is_enabled(state)) failures[unit] = enable_failure(state);
    }
  }
  if constexpr (std::is_same_v<Op, Disable>) changed = backend.disable(units);
  if constexpr (std::is_same_v<Op, Mask>) changed = backend.mask(units);
  if constexpr (std::is_same_v<Op, Unmask>) changed = backend.unmask(units);
  if (changed) reload_pending_ = true;
  if constexpr (std::is_same_v<Op, Start> || std::is_same_v<Op, Stop> || std::is_same_v<Op, Restart>) {
    // A job acts on the manager's view of the unit files: bring it up to date first.
    flush_reload(backend);
    if constexpr (std::is_same_v<Op, Start>) failures = backend.start(units);
    if constexpr (std::is_same_v<Op, Stop>) failures = backend.stop(units);
    if constexpr (std::is_same_v<Op, Restart>) failures = backend.restart(units);
  }
  return failures;
}

template <typename Op>
void Applier::batched(Backend& backend, const Op& op, int order) {
  auto& done = done_[Op::kName];
  if (!done.count(op.unit)) {
    // This unit and every later one the run does the same to in the same step: one backend call.
    std::vector<std::string> units = {op.unit};
    if (batching_) {
      for (size_t i = applied_; i < run_.size(); ++i) {
        if (run_[i].order != order || !run_[i].operation) continue;
        const auto* typed = dynamic_cast<const TypedOperation<Ops>*>(run_[i].operation.get());
        if (!typed) continue;
        if (const Op* later = std::get_if<Op>(&typed->value); later && later->unit != op.unit) {
          units.push_back(later->unit);
        }
      }
    }
    Backend::Failures failures;
    if (units.size() > 1) {
      try {
        failures = call<Op>(backend, units);
      } catch (const Error&) {
        // One of them is at fault; from here on each unit goes alone, so each error lands on its own action.
        batching_ = false;
        units = {op.unit};
        failures = call<Op>(backend, units);
      }
    } else {
      failures = call<Op>(backend, units);
    }
    done.insert(units.begin(), units.end());
    for (auto& [unit, why] : failures) failures_[{Op::kName, unit}] = std::move(why);
  }
  if (auto f = failures_.find({Op::kName, op.unit}); f != failures_.end()) {
    throw Error(ErrorKind::BackendError, f->second);
  }
}

void Applier::apply(Backend& backend, const Action& action) {
  const Ops& ops = operation_of<Ops>(action.operation, action.resource());
  ++applied_;
  try {
    std::visit(
        [&](const auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, WriteFile>) {
            backend.write_file(op.path, op.content);
          } else if constexpr (std::is_same_v<T, RemoveFiles>) {
            for (const auto& path : op.paths) backend.remove_path(path);
          } else if constexpr (std::is_same_v<T, Reload>) {
            reload_pending_ = true;
          } else {
            batched(backend, op, action.order);
          }
        },
        ops);
  } catch (const Error&) {
    try {
      flush_reload(backend);
    } catch (const Error&) {
      // the action's own error is the one to report
    }
    throw;
  }
  if (run_.empty() || applied_ >= run_.size()) flush_reload(backend);
}

}  // namespace opdbus::systemd
