#include <catch2/catch.hpp>

#include <cstdio>

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

TEST_CASE("plan --json is streamed, byte for byte what the document form prints", "[render]") {
  Plan plan;
  plan.plugins = {"systemd", "network"};
  Action a = make(Op::Update, {"services", "ssh"}, "enable ssh.service \"quoted\" \xc3\xa9");
  a.changes.push_back({"state", "\"disabled\"", "\"enabled\"", false});
  a.changes.push_back({"numbers", "[1,-2,3.5,1e300,18446744073709551615,-9223372036854775808]", "0", false});
  a.changes.push_back({"nested", std::nullopt, R"({"a":{"b":[true,false,null,"x\n\u0001"]},"c":[]})", false});
  a.changes.push_back({"broken", "not json {", "\"ok\"", false});
  a.changes.push_back({"password", "\"old\"", "\"new\"", true});
  a.destructive = true;
  plan.actions.push_back(a);
  plan.actions.push_back(make(Op::Create, {"interfaces", "br0"}, "create br0"));
  plan.errors.push_back("plugin lxc is not implemented yet");

  for (const Plan& p : {plan, Plan{}}) {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    write_plan_json(p, f);
    std::rewind(f);
    std::string got;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) got.append(buf, n);
    std::fclose(f);
    CHECK(got == to_pretty_json(plan_to_json(p), false));
  }
}
