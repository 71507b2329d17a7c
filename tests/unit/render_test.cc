#include <catch2/catch.hpp>

#include "render.h"

using namespace opdbus;

namespace {
Action make(Op op, std::vector<std::string> item, std::string summary) {
  Action a;
  a.plugin = "systemd";
  a.item = std::move(item);
  a.op = op;
  a.summary = std::move(summary);
  return a;
}
}  // namespace

TEST_CASE("a plan renders one line per action with its field changes", "[render]") {
  Plan plan;
  plan.plugins = {"systemd"};
  Action a = make(Op::Update, {"services", "ssh"}, "enable ssh.service");
  a.changes.push_back({"state", "\"disabled\"", "\"enabled\"", false});
  plan.actions.push_back(a);
  std::string out = render_plan(plan, {false, false});
  CHECK_THAT(out, Catch::Contains("~ update  systemd/services/ssh  enable ssh.service"));
  CHECK_THAT(out, Catch::Contains("state: \"disabled\" -> \"enabled\""));
  CHECK_THAT(out, Catch::Contains("Plan: 1 to update."));
  CHECK(out.find('\033') == std::string::npos);  // no colour unless asked
  CHECK(render_plan(plan, {true, false}).find('\033') != std::string::npos);
}

TEST_CASE("secrets never appear in rendered or JSON plans", "[render]") {
  Plan plan;
  plan.plugins = {"users"};
  Action a = make(Op::Update, {"accounts", "alice"}, "set password");
  a.plugin = "users";
  a.changes.push_back({"password_hash", "\"$6$old\"", "\"$6$hunter2\"", true});
  plan.actions.push_back(a);
  CHECK(render_plan(plan, {false, true}).find("hunter2") == std::string::npos);
  CHECK(to_json(plan_to_json(plan)).find("hunter2") == std::string::npos);
  CHECK_THAT(render_plan(plan, {false, true}), Catch::Contains("(secret)"));
}

TEST_CASE("multi-line text changes are shown as a line diff", "[render]") {
  std::string d = render_text_diff("[Unit]\nA=1\nB=2\n", "[Unit]\nA=1\nB=3\n", {});
  CHECK(d == "  [Unit]\n  A=1\n- B=2\n+ B=3\n");
  CHECK(render_text_diff("same\n", "same\n", {}).empty());
}

TEST_CASE("an empty plan says the system matches", "[render]") {
  Plan plan;
  CHECK_THAT(render_plan(plan, {}), Catch::Contains("No changes: the system matches the state."));
  plan.errors.push_back("lxc: plugin lxc is not implemented yet");
  CHECK_THAT(render_plan(plan, {}), Catch::Contains("plugin lxc is not implemented yet"));
}

TEST_CASE("long values are shortened unless verbose", "[render]") {
  std::string longv = "\"" + std::string(200, 'x') + "\"";
  CHECK(render_value(longv, false, false).size() <= 72);
  CHECK(render_value(longv, false, true) == longv);
  CHECK(render_value(std::nullopt, false, false) == "(absent)");
  CHECK(render_value("\"a\\nb\\nc\"", false, false) == "(text, 3 lines)");
}
