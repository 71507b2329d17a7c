#include "network/plugin.h"

#include <cstdlib>
#include <set>

#include "context.h"
#include "error.h"
#include "network/apply.h"
#include "network/backend.h"
#include "network/checkpoint.h"
#include "network/diff.h"
#include "network/model.h"
#include "network/persist.h"
#include "network/query.h"
#include "sys/rootdir.h"

namespace opdbus {
namespace network {
namespace {

// The Open vSwitch bridges a document asks for.
std::vector<std::string> ovs_bridges_in(const JsonValue& section) {
  std::vector<std::string> out;
  if (const JsonValue* ifs = member(section, "interfaces"); ifs && ifs->IsObject()) {
    for (const auto& m : ifs->GetObject()) {
      if (get_string(m.value, "type") == "ovs-bridge" && get_string(m.value, "state") != "absent") {
        out.emplace_back(m.name.GetString(), m.name.GetStringLength());
      }
    }
  }
  return out;
}

class NetworkPlugin : public Plugin {
 public:
  explicit NetworkPlugin(BackendFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "network"; }
  std::string_view summary() const override {
    return "links, bridges, VLANs, bonds, OVS, addresses, routes, DNS";
  }
  std::vector<std::string> after() const override { return {"packagekit"}; }

  Probe probe(Context& ctx) override {
    Probe::Part ovs;
    ovs.name = "ovs";
    Probe p = probe_with([&] {
      Backend& b = fresh_backend(ctx);
      unused_ = true;
      std::string detail = b.describe();
      if (auto why = b.ovs_unavailable()) {
        ovs.available = false;
        ovs.reason = *why;
      }
      return detail;
    });
    if (p.available) p.parts.push_back(ovs);
    return p;
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    check_section(section, file, section_pointer, out);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    // One read of the host per plan; apply() then works from (and keeps up to date) what this read. What
    // the probe just before read (the links it counted) is part of that read.
    Backend* b = unused_ && backend_ctx_ == &ctx ? backend_.get() : &fresh_backend(ctx);
    unused_ = false;
    if (!b->live()) {
      if (!desired) {
        // The tree's network is what it will apply at boot.
        if (auto text = b->read_file(kDocumentPath)) {
          if (auto section = persisted_section(*text)) return std::move(*section);
        }
        return parse_json("{}");
      }
      JsonDoc out = section_as_applied(*desired);
      out.AddMember("persisted", persisted_json(read_persisted(*b), out.GetAllocator()), out.GetAllocator());
      return out;
    }
    bool with_ovs = true;
    std::set<std::string> deferred;
    if (desired) {
      auto asked = ovs_bridges_in(*desired);
      with_ovs = !asked.empty();
      if (with_ovs) {
        if (auto why = b->ovs_unavailable()) {
          const char* defer = std::getenv(kDeferOvsVariable);
          if (!defer || std::string_view(defer) != "1") {
            throw Error(ErrorKind::Unavailable,
                        "the document asks for Open vSwitch bridge " + asked.front() + ", but " + *why);
          }
          // The first boot unit runs before ovs-vswitchd can: op-dbus-network-ovs.service does these later.
          deferred.insert(asked.begin(), asked.end());
          with_ovs = false;
          if (!deferral_logged_) {
            ctx.logger("network").info("Open vSwitch is not running yet; {} left to {}", asked.front(),
                                       kOvsUnitName);
            deferral_logged_ = true;
          }
        }
      }
    }
    JsonDoc out = section_from_host(b->host(with_ovs), desired == nullptr);
    if (!deferred.empty()) defer_links(out, *desired, deferred);
    if (desired)
      out.AddMember("persisted", persisted_json(read_persisted(*b), out.GetAllocator()), out.GetAllocator());
    return out;
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  void apply(Context& ctx, const Action& action) override {
    unused_ = false;
    apply_action(backend(ctx), action);
  }

  // A run killed half-way may have left temporaries (NAME.op-dbus-tmp-PID) where this plugin writes; the files
  // themselves are written again by the actions still pending.
  void begin_apply(Context& ctx, const std::vector<Action>& actions) override {
    (void)actions;
    sys::RootDir root(ctx.root());
    for (const char* dir : {"/etc", "/etc/network", "/etc/network/interfaces.d", "/etc/op-dbus",
                            "/etc/systemd/system", "/etc/systemd/system/multi-user.target.wants"}) {
      for (const auto& path : root.clean_stale_temporaries(dir))
        ctx.logger("network").info("removed {}", path);
    }
  }

  std::unique_ptr<Checkpoint> checkpoint(Context& ctx, const std::vector<Action>& actions) override {
    return take_checkpoint(ctx, factory_, actions);
  }

 private:
  // A new backend for `ctx` (nothing read yet), kept for the applies that follow.
  Backend& fresh_backend(Context& ctx) {
    backend_ = factory_(ctx);
    backend_ctx_ = &ctx;
    return *backend_;
  }
  // The backend of the last query on `ctx`, with the index it read and kept up to date.
  Backend& backend(Context& ctx) {
    if (!backend_ || backend_ctx_ != &ctx) return fresh_backend(ctx);
    return *backend_;
  }

  BackendFactory factory_;
  std::unique_ptr<Backend> backend_;
  const Context* backend_ctx_ = nullptr;
  bool unused_ = false;  // backend_ was made by probe() and has served no query yet
  bool deferral_logged_ = false;
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory) {
  return std::make_unique<NetworkPlugin>(std::move(factory));
}

}  // namespace network

std::unique_ptr<Plugin> make_network_plugin() {
  return network::make_plugin([](Context& ctx) -> std::unique_ptr<network::Backend> {
    if (ctx.offline()) return network::make_root_backend(ctx);
    return network::make_live_backend(ctx);
  });
}

}  // namespace opdbus
