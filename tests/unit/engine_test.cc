// The engine's passes against a recording fake plugin: ordering, observe, destructive refusal, stop at first
// failure, verification, rollback, --current. The fake is an in-memory key/value "system"; the real plugins
// have their own tests against real backends.
#include <catch2/catch.hpp>
#include <map>

#include <signal.h>

#include <filesystem>

#include "engine.h"
#include "journal.h"
#include "render.h"
#include "signals.h"

using namespace opdbus;

namespace {

// Section format: {"items": {"NAME": {"value": "...", "state": "absent"?, "mode": "observe"?}}}
struct FakeSystem {
  std::map<std::string, std::string> items;
  std::vector<std::string> calls;
  std::string fail_on;       // item whose apply throws
  std::string never_sticks;  // item whose apply silently does nothing
  int rollbacks = 0;
};

class FakeCheckpoint : public Checkpoint {
 public:
  FakeCheckpoint(FakeSystem& s) : sys_(s), saved_(s.items) {}
  void rollback(Context&) override {
    sys_.items = saved_;
    sys_.rollbacks++;
  }

 private:
  FakeSystem& sys_;
  std::map<std::string, std::string> saved_;
};

// The fake's operations, typed as a real plugin's are (operation.h).
struct SetValue {
  static constexpr std::string_view kName = "set";
  std::string value;
  void fields(JsonObject& o) const { o.set("value", value); }
};
struct DeleteItem {
  static constexpr std::string_view kName = "delete";
  void fields(JsonObject&) const {}
};
using FakeOps = std::variant<SetValue, DeleteItem>;

class FakePlugin : public Plugin {
 public:
  FakePlugin(std::string name, std::vector<std::string> after, FakeSystem& sys)
      : name_(std::move(name)), after_(std::move(after)), sys_(sys) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override { return "fake"; }
  std::vector<std::string> after() const override { return after_; }
  Probe probe(Context&) override { return {}; }
  bool with_checkpoint = false;
  int queries = 0;

  JsonDoc query(Context&, const JsonValue*) override {
    ++queries;
    JsonDoc d(rapidjson::kObjectType);
    JsonValue items(rapidjson::kObjectType);
    for (const auto& [k, v] : sys_.items) {
      JsonValue item(rapidjson::kObjectType);
      item.AddMember("value", str_value(v, d.GetAllocator()), d.GetAllocator());
      items.AddMember(str_value(k, d.GetAllocator()), item, d.GetAllocator());
    }
    d.AddMember("items", items, d.GetAllocator());
    return d;
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    std::vector<Action> out;
    const JsonValue* want = member(desired, "items");
    const JsonValue* have = member(current, "items");
    if (!want) return out;
    for (const auto& m : want->GetObject()) {
      std::string key = m.name.GetString();
      const JsonValue* cur = have ? member(*have, key) : nullptr;
      std::string now = cur ? get_string(*cur, "value") : "";
      Action a;
      a.item = {"items", key};
      if (get_string(m.value, "state") == "absent") {
        if (!cur) continue;
        a.op = Op::Delete;
        a.destructive = true;
        a.summary = "delete " + key;
        a.changes.push_back({"value", "\"" + now + "\"", std::nullopt, false});
        a.operation = make_operation<FakeOps>(DeleteItem{});
      } else {
        std::string v = get_string(m.value, "value");
        if (cur && now == v) continue;
        a.op = cur ? Op::Update : Op::Create;
        a.summary = "set " + key + " to " + v;
        a.changes.push_back({"value", cur ? std::optional<std::string>("\"" + now + "\"") : std::nullopt,
                             "\"" + v + "\"", false});
        a.operation = make_operation<FakeOps>(SetValue{v});
      }
      out.push_back(a);
    }
    return out;
  }

  void apply(Context&, const Action& a) override {
    const std::string& key = a.item[1];
    sys_.calls.push_back(name_ + ":" + std::string(to_string(a.op)) + ":" + key);
    if (key == sys_.fail_on) throw Error(ErrorKind::BackendError, "backend says no for " + key);
    if (key == sys_.never_sticks) return;
    std::visit(
        [&](const auto& op) {
          if constexpr (std::is_same_v<std::decay_t<decltype(op)>, SetValue>)
            sys_.items[key] = op.value;
          else
            sys_.items.erase(key);
        },
        operation_of<FakeOps>(a.operation, a.resource()));
  }

  std::unique_ptr<Checkpoint> checkpoint(Context&, const std::vector<Action>&) override {
    if (!with_checkpoint) return nullptr;
    return std::make_unique<FakeCheckpoint>(sys_);
  }

 private:
  std::string name_;
  std::vector<std::string> after_;
  FakeSystem& sys_;
};

State make_state(const char* json) {
  State s;
  s.file = "test.json";
  s.doc.Parse(json);
  REQUIRE_FALSE(s.doc.HasParseError());
  return s;
}

std::vector<std::unique_ptr<Plugin>> one_fake(FakeSystem& sys, FakePlugin** out = nullptr) {
  std::vector<std::unique_ptr<Plugin>> v;
  auto p = std::make_unique<FakePlugin>("systemd", std::vector<std::string>{}, sys);
  if (out) *out = p.get();
  v.push_back(std::move(p));
  return v;
}

}  // namespace

TEST_CASE("plugins are ordered by after edges, ties by registry order", "[engine]") {
  FakeSystem sys;
  std::vector<std::unique_ptr<Plugin>> reg;
  reg.push_back(std::make_unique<FakePlugin>("storage", std::vector<std::string>{}, sys));
  reg.push_back(std::make_unique<FakePlugin>("firewall", std::vector<std::string>{"network"}, sys));
  reg.push_back(std::make_unique<FakePlugin>("network", std::vector<std::string>{"storage"}, sys));
  reg.push_back(std::make_unique<FakePlugin>("users", std::vector<std::string>{}, sys));
  auto names = [](const std::vector<Plugin*>& ps) {
    std::vector<std::string> out;
    for (auto* p : ps) out.emplace_back(p->name());
    return out;
  };
  CHECK(names(order_plugins(reg, {"users", "firewall", "network", "storage"})) ==
        std::vector<std::string>{"storage", "network", "firewall", "users"});
  // An edge to a plugin that is not in the document is ignored.
  CHECK(names(order_plugins(reg, {"firewall", "users"})) == std::vector<std::string>{"firewall", "users"});

  std::vector<std::unique_ptr<Plugin>> cyclic;
  cyclic.push_back(std::make_unique<FakePlugin>("a", std::vector<std::string>{"b"}, sys));
  cyclic.push_back(std::make_unique<FakePlugin>("b", std::vector<std::string>{"a"}, sys));
  CHECK_THROWS_AS(order_plugins(cyclic, {"a", "b"}), Error);
}

TEST_CASE("plan reports changes, sorted, and nothing when in sync", "[engine]") {
  FakeSystem sys;
  sys.items = {{"b", "1"}};
  Context ctx(Options{});
  Engine engine(ctx, one_fake(sys));
  State s = make_state(
      R"({"version":1,"plugins":{"systemd":{"items":{"c":{"value":"3"},"b":{"value":"2"},"a":{"value":"1"}}}}})");
  Plan plan = engine.plan(s);
  REQUIRE(plan.actions.size() == 3);
  CHECK(plan.actions[0].resource() == "systemd/items/a");
  CHECK(plan.actions[1].resource() == "systemd/items/b");
  CHECK(plan.actions[1].op == Op::Update);
  CHECK(plan.actions[2].resource() == "systemd/items/c");
  CHECK(sys.calls.empty());  // planning never changes anything
  // Same input, same bytes.
  CHECK(to_json(plan_to_json(plan)) == to_json(plan_to_json(engine.plan(s))));

  sys.items = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  CHECK(engine.plan(s).in_sync());
}

TEST_CASE("apply applies, verifies and converges; a second plan is empty", "[engine]") {
  FakeSystem sys;
  Context ctx(Options{});
  Engine engine(ctx, one_fake(sys));
  State s =
      make_state(R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"1"},"b":{"value":"2"}}}}})");
  ApplyReport r = engine.apply(s, nullptr);
  REQUIRE(r.ok());
  CHECK(r.done.size() == 2);
  CHECK(sys.items == std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}});
  CHECK(engine.plan(s).in_sync());
}

TEST_CASE("observe mode reports drift but never applies it", "[engine]") {
  FakeSystem sys;
  sys.items = {{"a", "old"}};
  Context ctx(Options{});
  Engine engine(ctx, one_fake(sys));
  SECTION("on an item") {
    State s = make_state(
        R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"new","mode":"observe"},"b":{"value":"2"}}}}})");
    Plan plan = engine.plan(s);
    REQUIRE(plan.actions.size() == 2);
    CHECK(plan.actions[0].observe);
    CHECK_FALSE(plan.actions[1].observe);
    CHECK(plan.applicable() == 1);
    ApplyReport r = engine.apply(s, nullptr);
    REQUIRE(r.ok());
    CHECK(sys.items.at("a") == "old");
    CHECK(sys.items.at("b") == "2");
    CHECK(r.observed.size() == 1);
    // Observed drift still counts for plan (exit code 2 in the CLI).
    CHECK_FALSE(engine.plan(s).in_sync());
  }
  SECTION("on the whole section") {
    State s =
        make_state(R"({"version":1,"plugins":{"systemd":{"mode":"observe","items":{"a":{"value":"new"}}}}})");
    ApplyReport r = engine.apply(s, nullptr);
    REQUIRE(r.ok());
    CHECK(sys.calls.empty());
    CHECK(r.observed.size() == 1);
  }
}

TEST_CASE("destructive actions are refused without --allow-destructive, before any change", "[engine]") {
  FakeSystem sys;
  sys.items = {{"gone", "x"}};
  State s = make_state(
      R"({"version":1,"plugins":{"systemd":{"items":{"new":{"value":"1"},"gone":{"state":"absent"}}}}})");
  {
    Context ctx(Options{});
    Engine engine(ctx, one_fake(sys));
    ApplyReport r = engine.apply(s, nullptr);
    REQUIRE_FALSE(r.ok());
    CHECK(r.failure->kind() == ErrorKind::InvalidArgument);
    CHECK_THAT(r.failure->what(),
               Catch::Contains("--allow-destructive") && Catch::Contains("systemd/items/gone"));
    CHECK(sys.calls.empty());  // not even the harmless create ran
  }
  Options o;
  o.allow_destructive = true;
  Context ctx(o);
  Engine engine(ctx, one_fake(sys));
  REQUIRE(engine.apply(s, nullptr).ok());
  CHECK(sys.items.count("gone") == 0);
}

TEST_CASE("apply stops at the first failure, reports what was and was not done, rolls back", "[engine]") {
  FakeSystem sys;
  sys.fail_on = "b";
  FakePlugin* fake = nullptr;
  Context ctx(Options{});
  Engine engine(ctx, one_fake(sys, &fake));
  fake->with_checkpoint = true;
  State s = make_state(
      R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"1"},"b":{"value":"2"},"c":{"value":"3"}}}}})");
  ApplyReport r = engine.apply(s, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.failure->what(), Catch::Contains("backend says no for b") && Catch::Contains("set b to 2"));
  CHECK(r.failed_resource == "systemd/items/b");
  REQUIRE(r.done.size() == 1);
  CHECK(r.done[0].resource() == "systemd/items/a");
  REQUIRE(r.not_done.size() == 1);
  CHECK(r.not_done[0].resource() == "systemd/items/c");
  CHECK(sys.rollbacks == 1);
  CHECK(sys.items.empty());  // the checkpoint restored the state from before apply
  CHECK(render_apply_report(r, {}).find("Not done (1)") != std::string::npos);
}

TEST_CASE("verification names what did not stick", "[engine]") {
  FakeSystem sys;
  sys.never_sticks = "a";
  Context ctx(Options{});
  Engine engine(ctx, one_fake(sys));
  State s = make_state(R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"1"}}}}})");
  ApplyReport r = engine.apply(s, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.failure->kind() == ErrorKind::VerificationError);
  CHECK_THAT(r.failure->what(), Catch::Contains("systemd/items/a: value: desired \"1\", found (absent)"));
}

TEST_CASE("plan --current uses the saved export and never queries", "[engine]") {
  FakeSystem sys;
  FakePlugin* fake = nullptr;
  Context ctx(Options{});
  Engine engine(ctx, one_fake(sys, &fake));
  State s = make_state(R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"1"}}}}})");
  JsonDoc saved = parse_json(R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"1"}}}}})");
  CHECK(engine.plan(s, &saved).in_sync());
  JsonDoc drifted = parse_json(R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"0"}}}}})");
  CHECK(engine.plan(s, &drifted).actions.size() == 1);
  CHECK(fake->queries == 0);
}

TEST_CASE("--plugin narrows the run and rejects unknown names", "[engine]") {
  FakeSystem sys;
  Options o;
  o.only_plugins = {"netwrok"};
  Context ctx(o);
  Engine engine(ctx, one_fake(sys));
  State s = make_state(R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"1"}}}}})");
  CHECK_THROWS_WITH(engine.plan(s), Catch::Contains("unknown plugin") && Catch::Contains("systemd"));
}

TEST_CASE("--confirm-timeout rolls back unless the operator confirms", "[engine]") {
  FakeSystem sys;
  sys.items = {{"a", "0"}};
  State s = make_state(R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"1"}}}}})");
  Options o;
  o.confirm_timeout = 5;
  FakePlugin* fake = nullptr;
  Context ctx(o);
  Engine engine(ctx, one_fake(sys, &fake));
  fake->with_checkpoint = true;
  int asked = 0;
  ApplyEvents events;
  SECTION("not confirmed") {
    events.wait_for_confirm = [&](int seconds) {
      ++asked;
      CHECK(seconds == 5);
      CHECK(sys.items.at("a") == "1");  // applied and verified before waiting
      return false;
    };
    ApplyReport r = engine.apply(s, nullptr, events);
    CHECK(asked == 1);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.failure->what(), Catch::Contains("not confirmed within 5 s"));
    CHECK(r.rolled_back == std::vector<std::string>{"systemd"});
    CHECK(sys.items.at("a") == "0");
  }
  SECTION("confirmed") {
    events.wait_for_confirm = [&](int) { return true; };
    REQUIRE(engine.apply(s, nullptr, events).ok());
    CHECK(sys.rollbacks == 0);
    CHECK(sys.items.at("a") == "1");
  }
}

TEST_CASE("SIGTERM during apply: the action under way finishes, the plugin rolls back, the journal says so",
          "[engine][signals]") {
  char tmpl[] = "/tmp/opdbus-engine-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::filesystem::path root = tmpl;
  for (bool with_checkpoint : {true, false}) {
    FakeSystem sys;
    FakePlugin* fake = nullptr;
    Context ctx(Options{});
    Engine engine(ctx, one_fake(sys, &fake));
    fake->with_checkpoint = with_checkpoint;
    State s = make_state(
        R"({"version":1,"plugins":{"systemd":{"items":{"a":{"value":"1"},"b":{"value":"2"},"c":{"value":"3"}}}}})");
    InterruptGuard guard;
    ApplyEvents events;
    // The signal arrives while "b" is being applied.
    events.on_action_start = [](const Action& a) {
      if (a.item[1] == "b") simulate_interrupt(SIGTERM);
    };
    Journal journal(root);
    ApplyReport r = engine.apply(s, &journal, events);
    journal.close();
    REQUIRE_FALSE(r.ok());
    CHECK(r.failure->kind() == ErrorKind::Interrupted);
    CHECK_THAT(r.failure->message(),
               Catch::Contains("interrupted by SIGTERM after 2 of 3 actions of systemd"));
    CHECK(sys.calls == std::vector<std::string>{"systemd:create:a", "systemd:create:b"});
    REQUIRE(r.not_done.size() == 1);
    CHECK(r.not_done[0].resource() == "systemd/items/c");
    CHECK(sys.rollbacks == (with_checkpoint ? 1 : 0));
    CHECK(sys.items.size() == (with_checkpoint ? 0u : 2u));
    auto entries = journal.entries();
    REQUIRE(entries.size() >= 3);
    CHECK(entries.back().op == "interrupt");
    CHECK(entries.back().result == "interrupted");
    CHECK_THAT(entries.back().summary, Catch::Contains(with_checkpoint ? "rolled back to the checkpoint"
                                                                       : "the actions done stay done"));
    CHECK_FALSE(journal.verify());
  }
  std::filesystem::remove_all(root);
}

TEST_CASE("a section whose schema exists but whose plugin is not registered is an error, never dropped",
          "[engine]") {
  FakeSystem sys;
  Context ctx(Options{});
  Engine engine(ctx, one_fake(sys));  // only "systemd" is registered
  // "lxc" has a schema (lxc.schema.json) but no plugin in this engine.
  State state = make_state(
      R"({"version": 1, "plugins": {"lxc": {"containers": {}}, "systemd": {"items": {"a": {"value": "1"}}}}})");
  Diagnostics problems;
  engine.check(state, problems);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].pointer == "/plugins/lxc");
  CHECK(problems[0].format().find("no plugin lxc is registered") != std::string::npos);
  CHECK_THROWS_WITH(engine.plan(state), Catch::Contains("no plugin lxc is registered"));
  ApplyReport report = engine.apply(state, nullptr);
  REQUIRE_FALSE(report.ok());
  CHECK(std::string(report.failure->what()).find("no plugin lxc is registered") != std::string::npos);
  CHECK(sys.calls.empty());
}
