// The lxc Plugin: name, order, probe, and the wiring of model + check, query, diff, apply, backend.
#include "lxc/plugin.h"

#include "error.h"
#include "lxc/apply.h"
#include "lxc/diff.h"
#include "lxc/model.h"
#include "lxc/query.h"

namespace opdbus {
namespace lxc {
namespace {

// Containers are running systems, not files of a tree: there is no offline meaning (docs/plugins/lxc.md).
void refuse_offline(Context& ctx) {
  if (ctx.offline()) {
    throw Error(
        ErrorKind::NotSupported,
        "not supported: the lxc plugin with --root (containers are created and started on the running "
        "host; the boot unit applies them at first boot)");
  }
}

class LxcPlugin : public Plugin {
 public:
  explicit LxcPlugin(BackendFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "lxc"; }
  std::string_view summary() const override { return "LXC system containers"; }
  // The bridge a container joins is made by the network plugin; a container's storage by storage.
  std::vector<std::string> after() const override { return {"storage", "network"}; }

  Probe probe(Context& ctx) override {
    return probe_with([&] {
      refuse_offline(ctx);
      return factory_(ctx)->describe();
    });
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    check_section(section, file, section_pointer, out);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    refuse_offline(ctx);
    auto backend = factory_(ctx);
    return query_section(*backend, desired);
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  void apply(Context& ctx, const Action& action) override {
    refuse_offline(ctx);
    auto backend = factory_(ctx);
    apply_action(*backend, action);
  }

 private:
  BackendFactory factory_;
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory) {
  return std::make_unique<LxcPlugin>(std::move(factory));
}

}  // namespace lxc

std::unique_ptr<Plugin> make_lxc_plugin() {
  return lxc::make_plugin([](Context& ctx) { return lxc::make_host_backend(ctx); });
}

}  // namespace opdbus
