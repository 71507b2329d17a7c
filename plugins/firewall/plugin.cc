// The firewall Plugin: name, order, probe, and the wiring of model + check, query, diff, apply, backend.
#include "firewall/plugin.h"

#include <cstdlib>

#include "error.h"
#include "firewall/apply.h"
#include "firewall/diff.h"
#include "firewall/model.h"
#include "firewall/query.h"

namespace opdbus {
namespace firewall {
namespace {

// --root is not in this plugin yet: refused, never ignored. Refused from query(), so an apply stops at its
// preflight plan with nothing changed (by any plugin).
void refuse_unsupported(Context& ctx) {
  if (ctx.offline()) {
    throw Error(ErrorKind::NotSupported,
                "not supported yet: the firewall plugin with --root (nothing is rendered "
                "for boot); plan and apply it on the running system");
  }
}

// What a confirm timeout (or a failed apply) restores: the table exactly as it was listed before apply.
class TableCheckpoint : public Checkpoint {
 public:
  TableCheckpoint(BackendFactory factory, std::optional<std::string> listing)
      : factory_(std::move(factory)), listing_(std::move(listing)) {}
  void rollback(Context& ctx) override { factory_(ctx)->run_batch(render_restore(listing_)); }

 private:
  BackendFactory factory_;
  std::optional<std::string> listing_;
};

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
      refuse_unsupported(ctx);
      return factory_(ctx)->describe();
    });
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    check_section(section, file, section_pointer, out);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    refuse_unsupported(ctx);
    auto backend = factory_(ctx);
    JsonDoc current = query_section(*backend);
    // For lockout protection (diff.cc): the connection this command runs over, when planning a document.
    if (desired) {
      if (const char* ssh = std::getenv("SSH_CONNECTION"); ssh && *ssh) {
        current.AddMember("ssh_connection", str_value(ssh, current.GetAllocator()), current.GetAllocator());
      }
    }
    return current;
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  void apply(Context& ctx, const Action& action) override {
    refuse_unsupported(ctx);
    auto backend = factory_(ctx);
    apply_action(*backend, action);
  }

  std::unique_ptr<Checkpoint> checkpoint(Context& ctx, const std::vector<Action>& actions) override {
    (void)actions;
    if (ctx.offline()) return nullptr;
    return std::make_unique<TableCheckpoint>(factory_, factory_(ctx)->list_table());
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
