// The storage Plugin: its name, what it runs after, its probe, and the wiring of the parts in this folder
// (model + check, query, diff, apply, backend).
#include "storage/plugin.h"

#include "storage/apply.h"
#include "storage/backend.h"
#include "storage/diff.h"
#include "storage/model.h"
#include "storage/query.h"
#include "sys/rootdir.h"

namespace opdbus {
namespace storage {
namespace {

class StoragePlugin : public Plugin {
 public:
  explicit StoragePlugin(BackendFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "storage"; }
  std::string_view summary() const override {
    return "partition tables, filesystems, btrfs subvolumes, mounts and fstab";
  }

  Probe probe(Context& ctx) override {
    return probe_with([&] { return factory_(ctx)->describe(); });
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    check_section(section, file, section_pointer, out);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    auto backend = factory_(ctx);
    return query_section(*backend, desired);
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  // A run killed half-way may have left a temporary of /etc/fstab (fstab.op-dbus-tmp-PID); the file itself
  // is written again by the actions still pending.
  void begin_apply(Context& ctx, const std::vector<Action>& actions) override {
    (void)actions;
    for (const auto& path : sys::RootDir(ctx.root()).clean_stale_temporaries("/etc")) {
      ctx.logger("storage").info("removed {}", path);
    }
  }

  void apply(Context& ctx, const Action& action) override {
    auto backend = factory_(ctx);
    apply_action(*backend, action);
  }

 private:
  BackendFactory factory_;
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory) {
  return std::make_unique<StoragePlugin>(std::move(factory));
}

}  // namespace storage

std::unique_ptr<Plugin> make_storage_plugin() {
  return storage::make_plugin([](Context& ctx) { return storage::make_live_backend(ctx); });
}

}  // namespace opdbus
