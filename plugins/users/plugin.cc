// Wiring only: check.cc (validation), query.cc (reading the databases), diff.cc (the pure plan), apply.cc
// (carrying out operations), backend_root.cc (the files of the root, live or --root).
#include "users/plugin.h"

#include "users/apply.h"
#include "users/diff.h"
#include "users/model.h"
#include "users/query.h"

namespace opdbus {
namespace users {
namespace {

class UsersPlugin : public Plugin {
 public:
  explicit UsersPlugin(BackendFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "users"; }
  std::string_view summary() const override { return "users, groups and SSH keys"; }
  std::vector<std::string> after() const override { return {"packagekit"}; }

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

  // Every action stands alone: it takes the lock, re-reads the databases and rewrites what it changes.
  void apply(Context& ctx, const Action& action) override {
    auto backend = factory_(ctx);
    apply_action(*backend, action);
  }

 private:
  BackendFactory factory_;
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory) {
  return std::make_unique<UsersPlugin>(std::move(factory));
}

}  // namespace users

std::unique_ptr<Plugin> make_users_plugin() {
  return users::make_plugin([](Context& ctx) { return users::make_root_backend(ctx.root()); });
}

}  // namespace opdbus
