// The firewall Plugin: name, order, probe, and the wiring of model + check, query, diff, apply, backend.
#include "firewall/plugin.h"

#include "error.h"
#include "firewall/apply.h"
#include "firewall/diff.h"
#include "firewall/model.h"
#include "firewall/query.h"

namespace opdbus {
namespace firewall {
namespace {

// --root and --confirm-timeout are not in this plugin yet: refused, never ignored. Refused from query(), so
// an apply stops at its preflight plan with nothing changed (by any plugin).
void refuse_unsupported(Context& ctx, const JsonValue* desired) {
  if (ctx.offline()) {
    throw Error(ErrorKind::NotSupported,
                "not supported yet: the firewall plugin with --root (nothing is rendered "
                "for boot); plan and apply it on the running system");
  }
  if (ctx.options().confirm_timeout > 0 && desired && !declares_nothing(*desired)) {
    throw Error(
        ErrorKind::NotSupported,
        "not supported yet: --confirm-timeout for the firewall (its table would not be restored); apply "
        "without it, or leave the firewall out with --plugin");
  }
}

class FirewallPlugin : public Plugin {
 public:
  explicit FirewallPlugin(BackendFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "firewall"; }
  std::string_view summary() const override { return "the nftables firewall"; }
  std::vector<std::string> after() const override { return {"network"}; }

  // Under --root the plugin is unavailable (said once; `show --root` leaves the firewall out), and a document
  // that asks for it there gets the refusal below from query().
  Probe probe(Context& ctx) override {
    return probe_with([&] {
      if (ctx.offline()) refuse_unsupported(ctx, nullptr);
      return factory_(ctx)->describe();
    });
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    check_section(section, file, section_pointer, out);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    refuse_unsupported(ctx, desired);
    auto backend = factory_(ctx);
    return query_section(*backend);
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  void apply(Context& ctx, const Action& action) override {
    refuse_unsupported(ctx, nullptr);
    auto backend = factory_(ctx);
    apply_action(*backend, action);
  }

 private:
  BackendFactory factory_;
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory) {
  return std::make_unique<FirewallPlugin>(std::move(factory));
}

}  // namespace firewall

std::unique_ptr<Plugin> make_firewall_plugin() {
  return firewall::make_plugin([](Context& ctx) { return firewall::make_live_backend(ctx); });
}

}  // namespace opdbus
