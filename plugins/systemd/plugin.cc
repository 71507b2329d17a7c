// Wiring only: the parts live in check.cc (validation), query.cc (reading the host), diff.cc (the pure
// plan), apply.cc (carrying out operations) and the two backends.
#include "systemd/plugin.h"

#include "error.h"
#include "systemd/apply.h"
#include "systemd/check.h"
#include "systemd/diff.h"
#include "systemd/query.h"
#include "text.h"

namespace opdbus {
namespace systemd {
namespace {

class SystemdPlugin : public Plugin {
 public:
  explicit SystemdPlugin(BackendFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "systemd"; }
  std::string_view summary() const override {
    return "services (enable, disable, mask, run, drop-ins), timers and custom unit files";
  }
  std::vector<std::string> after() const override { return {"storage", "packagekit", "users"}; }

  Probe probe(Context& ctx) override {
    return probe_with([&] { return factory_(ctx)->describe(); });
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    check_section(section, file, section_pointer, out);
  }

  // A fresh backend for every query: a plan (and the verification after apply) reads the host once, anew.
  // A new plan also ends whatever run was handed over before.
  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    backend_.reset();
    applier_.begin({});
    auto backend = factory_(ctx);
    return desired ? query_named(*backend, *desired) : query_all(*backend);
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  // Live, apply batches the enablement calls and job starts of each step and reloads once (apply.h). Offline
  // every action stands alone: a symlink each, cheap, and the journal then records exactly what was done
  // even if the run is killed half-way; what such a killed run left half-written (temporary files and links
  // of a writer that no longer runs) is removed first, by the walk the apply makes anyway. Never in a plan.
  void begin_apply(Context& ctx, const std::vector<Action>& actions) override {
    backend_.reset();
    applier_.begin(ctx.offline() ? std::vector<Action>{} : actions);
    if (!ctx.offline()) return;
    backend_ = factory_(ctx);
    auto removed = backend_->clean_stale_temporaries();
    if (!removed.empty()) {
      ctx.logger("systemd").info("removed {} temporary file(s) left by a run that no longer runs: {}",
                                 removed.size(), join(removed, ", "));
    }
  }

  void end_apply(Context& ctx) override {
    (void)ctx;
    if (backend_) applier_.finish(*backend_);
  }

  // One backend for the whole run, so the --root index follows what apply did instead of re-reading the
  // tree for every action.
  void apply(Context& ctx, const Action& action) override {
    if (!backend_) backend_ = factory_(ctx);
    applier_.apply(*backend_, action);
  }

 private:
  BackendFactory factory_;
  std::unique_ptr<Backend> backend_;
  Applier applier_;
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory) {
  return std::make_unique<SystemdPlugin>(std::move(factory));
}

}  // namespace systemd

std::unique_ptr<Plugin> make_systemd_plugin() {
  return systemd::make_plugin([](Context& ctx) -> std::unique_ptr<systemd::Backend> {
    if (ctx.offline()) return systemd::make_root_backend(ctx.root());
    return systemd::make_live_backend(ctx);
  });
}

}  // namespace opdbus
