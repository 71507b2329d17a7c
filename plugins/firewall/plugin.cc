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

// With --root the table is what the installed system loads at boot: "persist": false would leave nothing.
void refuse_unreachable(Context& ctx, const JsonValue* desired) {
  if (!ctx.offline() || !desired || !desired->IsObject()) return;
  if (const JsonValue* p = member(*desired, "persist");
      p && p->IsBool() && !p->GetBool() && !declares_nothing(*desired)) {
    throw Error(ErrorKind::InvalidArgument,
                "\"persist\": false with --root: the table of an installed system is what it loads at boot "
                "(drop \"persist\", or apply on the running system)");
  }
}

// What a confirm timeout (or a failed apply) restores: the table exactly as it was before apply (as listed,
// or, when the plan decoded it from the kernel's dump, made again from that section), and the boot files as
// they were.
class TableCheckpoint : public Checkpoint {
 public:
  TableCheckpoint(BackendFactory factory, std::optional<std::string> listing, std::optional<Section> decoded,
                  BootFiles boot)
      : factory_(std::move(factory)),
        listing_(std::move(listing)),
        decoded_(std::move(decoded)),
        boot_(std::move(boot)) {}
  void rollback(Context& ctx) override {
    auto backend = factory_(ctx);
    backend->run_batch(decoded_ ? render_batch(*decoded_) : render_restore(listing_));
    if (boot_.batch) {
      backend->write_boot(*boot_.batch);
    } else if (backend->read_boot().any()) {
      backend->remove_boot();
    }
  }

 private:
  BackendFactory factory_;
  std::optional<std::string> listing_;
  std::optional<Section> decoded_;  // when set, what the table held (listing_ is then unused)
  BootFiles boot_;
};

// A section the decoder read is the whole table (decode_table reads nothing else), so render_batch() makes
// it again exactly, but for the counters' values: a table with counters is listed, and restored with them.
bool has_counters(const Section& s) {
  for (const auto& r : s.rules) {
    if (r.counter) return true;
  }
  return false;
}

class FirewallPlugin : public Plugin {
 public:
  explicit FirewallPlugin(BackendFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "firewall"; }
  std::string_view summary() const override { return "the nftables firewall"; }
  std::vector<std::string> after() const override { return {"network"}; }

  // Live: libnftables must work. Under --root: always available (it renders the boot files).
  Probe probe(Context& ctx) override {
    return probe_with([&] { return factory_(ctx)->describe(); });
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    check_section(section, file, section_pointer, out);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    refuse_unreachable(ctx, desired);
    auto backend = factory_(ctx);
    TableRead read;
    JsonDoc current = query_section(*backend, &read);
    last_read_ = std::move(read);
    // For lockout protection (diff.cc): the connection this command runs over, when planning a document.
    if (desired && !ctx.offline()) {
      if (const char* ssh = std::getenv("SSH_CONNECTION"); ssh && *ssh) {
        current.AddMember("ssh_connection", str_value(ssh, current.GetAllocator()), current.GetAllocator());
      }
    }
    return current;
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  void begin_apply(Context& ctx, const std::vector<Action>& actions) override {
    (void)ctx, (void)actions;
    applied_.reset();
  }

  // Every action of a plan carries the same operation (the one transaction): it runs once.
  void apply(Context& ctx, const Action& action) override {
    if (applied_ && applied_ == action.operation) return;
    auto backend = factory_(ctx);
    apply_action(*backend, action);
    applied_ = action.operation;
  }

  std::unique_ptr<Checkpoint> checkpoint(Context& ctx, const std::vector<Action>& actions) override {
    (void)actions;
    if (ctx.offline()) return nullptr;  // nothing running to lock anyone out of
    auto backend = factory_(ctx);
    // The engine plans this plugin (query) right before its checkpoint, under the apply lock: what it read is
    // the table as it is now, and need not be read again. A table the plan decoded from the kernel's dump is
    // made again from that section, unless it has counters (then it is listed, so they are restored too).
    std::optional<std::string> listing;
    std::optional<Section> decoded;
    if (last_read_ && (last_read_->listed || !last_read_->present)) {
      listing = std::move(last_read_->listing);
    } else if (last_read_ && !has_counters(last_read_->section)) {
      decoded = std::move(last_read_->section);
    } else {
      listing = backend->list_table();
    }
    last_read_.reset();
    return std::make_unique<TableCheckpoint>(factory_, std::move(listing), std::move(decoded),
                                             backend->read_boot());
  }

 private:
  BackendFactory factory_;
  std::optional<TableRead> last_read_;        // how the last query read the table, for checkpoint()
  std::shared_ptr<const Operation> applied_;  // the operation this apply already ran
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory) {
  return std::make_unique<FirewallPlugin>(std::move(factory));
}

}  // namespace firewall

std::unique_ptr<Plugin> make_firewall_plugin() {
  return firewall::make_plugin([](Context& ctx) {
    return ctx.offline() ? firewall::make_root_backend(ctx) : firewall::make_live_backend(ctx);
  });
}

}  // namespace opdbus
