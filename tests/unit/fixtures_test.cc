// Data-driven diff tests: tests/fixtures/<plugin>/<case>/{desired,current,plan}.json.
// desired and current are the plugin's section; plan.json is the expected `plan --json` of diff(desired, current).
// OPDBUS_UPDATE_FIXTURES=1 rewrites plan.json from the code (review the result before committing).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "engine.h"
#include "registry.h"
#include "sys/fs.h"

using namespace opdbus;
namespace fs = std::filesystem;

namespace {

fs::path fixtures_root() {
  const char* src = std::getenv("OPDBUS_SOURCE_ROOT");
  return fs::path(src ? src : ".") / "tests" / "fixtures";
}

JsonDoc read_json(const fs::path& p) {
  auto text = sys::read_file(p);
  if (!text) FAIL("missing fixture file " << p);
  JsonDoc d;
  d.Parse(text->c_str(), text->size());
  if (d.HasParseError()) FAIL("fixture " << p << " is not valid JSON");
  return d;
}

}  // namespace

TEST_CASE("every plugin's diff fixtures produce their recorded plan", "[fixtures]") {
  auto plugins = make_plugins();
  bool update = std::getenv("OPDBUS_UPDATE_FIXTURES") != nullptr;
  size_t total = 0;
  for (const auto& plugin : plugins) {
    fs::path dir = fixtures_root() / std::string(plugin->name());
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) total += e.is_directory();
  }
  REQUIRE(total > 0);  // an empty fixture tree would make this test pass vacuously
  for (const auto& plugin : plugins) {
    fs::path dir = fixtures_root() / std::string(plugin->name());
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> case_dirs;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory()) case_dirs.push_back(e.path());
    }
    std::sort(case_dirs.begin(), case_dirs.end());
    for (const auto& c : case_dirs) {
      DYNAMIC_SECTION(plugin->name() << "/" << c.filename().string()) {
        JsonDoc desired = read_json(c / "desired.json");
        JsonDoc current = read_json(c / "current.json");
        auto actions = plugin->diff(desired, current);
        finish_actions(plugin->name(), desired, actions);
        Plan plan;
        plan.plugins = {std::string(plugin->name())};
        plan.actions = actions;
        std::string got = to_pretty_json(plan_to_json(plan), false);
        if (update) {
          sys::atomic_write(c / "plan.json", got);
          WARN("rewrote " << (c / "plan.json"));
        } else {
          JsonDoc want = read_json(c / "plan.json");
          INFO("case " << c << "\n--- got ---\n" << got);
          CHECK(got == to_pretty_json(want, false));
        }
        // The same input gives the same bytes.
        auto again = plugin->diff(desired, current);
        finish_actions(plugin->name(), desired, again);
        Plan plan2;
        plan2.plugins = plan.plugins;
        plan2.actions = again;
        CHECK(to_pretty_json(plan_to_json(plan2), false) == got);
      }
    }
  }
}
