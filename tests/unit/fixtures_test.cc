// Data-driven diff tests: tests/fixtures/<plugin>/<case>/{desired,current,plan}.json.
// desired and current are the plugin's section; plan.json is the expected `plan --json` of diff(desired,
// current). Prints TAP, one line per case. OPDBUS_UPDATE_FIXTURES=1 rewrites plan.json from the code (review
// the result). A folder under tests/fixtures that is not a registered plugin (a typo such as "user/") is a
// failing case, never skipped: its cases would otherwise silently not run.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "engine.h"
#include "registry.h"
#include "sys/fs.h"

using namespace opdbus;
namespace fs = std::filesystem;

namespace {

// Folders under tests/fixtures that hold whole state documents rather than diff cases (read by the state
// and schema tests).
const std::vector<std::string> kDocumentFolders = {"roadmap"};

JsonDoc read_json(const fs::path& p) {
  auto text = sys::read_file(p);
  if (!text) throw Error(ErrorKind::InvalidArgument, "missing fixture file " + p.string());
  JsonDoc d;
  d.Parse(text->c_str(), text->size());
  if (d.HasParseError())
    throw Error(ErrorKind::InvalidArgument, "fixture " + p.string() + " is not valid JSON");
  return d;
}

std::string plan_text(const Plugin& plugin, const JsonValue& desired, const JsonValue& current) {
  Plan plan;
  plan.plugins = {std::string(plugin.name())};
  plan.actions = plugin.diff(desired, current);
  finish_actions(plugin.name(), desired, plan.actions);
  return to_pretty_json(plan_to_json(plan), false);
}

void comment(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::cout << "# " << text.substr(start, nl - start) << "\n";
    start = nl + 1;
  }
}

}  // namespace

int main() {
  const char* src = std::getenv("OPDBUS_SOURCE_ROOT");
  fs::path root = fs::path(src ? src : ".") / "tests" / "fixtures";
  bool update = std::getenv("OPDBUS_UPDATE_FIXTURES") != nullptr;
  int n = 0, failed = 0;
  auto plugins = make_plugins();
  std::vector<fs::path> folders;
  if (fs::is_directory(root)) {
    for (const auto& e : fs::directory_iterator(root)) {
      if (e.is_directory()) folders.push_back(e.path());
    }
  }
  std::sort(folders.begin(), folders.end());
  for (const auto& folder : folders) {
    std::string name = folder.filename().string();
    bool known = std::find(kDocumentFolders.begin(), kDocumentFolders.end(), name) != kDocumentFolders.end();
    for (const auto& plugin : plugins) known = known || plugin->name() == name;
    if (known) continue;
    ++n;
    ++failed;
    std::cout << "not ok " << n << " - " << name << "/: a fixture folder must be named after a plugin\n";
    comment("tests/fixtures/" + name +
            " is not a registered plugin (src/app/registry.cc); its cases do not run");
  }
  for (const auto& plugin : plugins) {
    fs::path dir = root / std::string(plugin->name());
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory()) cases.push_back(e.path());
    }
    std::sort(cases.begin(), cases.end());
    for (const auto& c : cases) {
      std::string name = std::string(plugin->name()) + "/" + c.filename().string();
      ++n;
      try {
        JsonDoc desired = read_json(c / "desired.json");
        JsonDoc current = read_json(c / "current.json");
        std::string got = plan_text(*plugin, desired, current);
        if (update) {
          sys::atomic_write(c / "plan.json", got);
          std::cout << "ok " << n << " - " << name << " # rewrote plan.json\n";
          continue;
        }
        std::string want = to_pretty_json(read_json(c / "plan.json"), false);
        // The same input must give the same bytes.
        std::string again = plan_text(*plugin, desired, current);
        if (got == want && again == got) {
          std::cout << "ok " << n << " - " << name << "\n";
        } else {
          ++failed;
          std::cout << "not ok " << n << " - " << name << "\n";
          comment(again != got ? "two diffs of the same input differ" : "got:\n" + got + "want:\n" + want);
        }
      } catch (const std::exception& e) {
        ++failed;
        std::cout << "not ok " << n << " - " << name << "\n";
        comment(e.what());
      }
    }
  }
  if (n == 0) {
    // An empty fixture tree would make this test pass vacuously.
    std::cout << "not ok 1 - fixture cases exist under " << root.string() << "\n1..1\n";
    return 1;
  }
  std::cout << "1.." << n << "\n";
  return failed ? 1 : 0;
}
