// The offline backend (--root DIR) on a temporary tree: the symlinks it makes must be the ones
// `systemctl --root` (systemd 252) makes. The expected trees below were recorded from systemctl itself;
// tests/integration/systemd/offline.sh compares against the real systemctl on every run.
#include <stdlib.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "context.h"
#include "sys/fs.h"
#include "systemd/backend.h"
#include "systemd/plugin.h"

using namespace opdbus;
using namespace opdbus::systemd;
namespace fs = std::filesystem;

namespace {

class TempRoot {
 public:
  TempRoot() {
    std::string tmpl = (fs::temp_directory_path() / "opdbus-systemd-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
    fs::create_directories(path_ / "etc/systemd/system");
    unit("a.service",
         "[Unit]\nDescription=A\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
         "Alias=a-alias.service\n");
    unit("b.service",
         "[Service]\nExecStart=/bin/true\n[Install]\nRequiredBy=b-needs.target\n"
         "WantedBy=multi-user.target graphical.target\nAlso=c.service\n");
    unit("c.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=default.target\n");
    unit("static.service", "[Service]\nExecStart=/bin/true\n");
    unit("indirect.service", "[Service]\nExecStart=/bin/true\n[Install]\nAlso=c.service\n");
    unit("t@.service",
         "[Service]\nExecStart=/bin/true %i\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=x\n");
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

  void unit(const std::string& name, const std::string& content) {
    sys::atomic_write(path_ / "lib/systemd/system" / name, content);
  }

  // "etc/systemd/system/x.wants/a.service -> /lib/systemd/system/a.service", directories without an arrow.
  std::vector<std::string> etc_tree() const {
    std::vector<std::string> out;
    for (auto it = fs::recursive_directory_iterator(path_ / "etc"); it != fs::recursive_directory_iterator();
         ++it) {
      std::string rel = fs::relative(it->path(), path_).string();
      if (it->is_symlink())
        out.push_back(rel + " -> " + fs::read_symlink(it->path()).string());
      else
        out.push_back(rel);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("offline enable makes the symlinks systemctl --root makes", "[systemd][offline]") {
  TempRoot root;
  auto b = make_root_backend(root.path());
  b->enable({"a.service"});
  b->enable({"b.service"});
  CHECK(root.etc_tree() ==
        std::vector<std::string>{
            "etc/systemd",
            "etc/systemd/system",
            "etc/systemd/system/a-alias.service -> /lib/systemd/system/a.service",
            "etc/systemd/system/b-needs.target.requires",
            "etc/systemd/system/b-needs.target.requires/b.service -> /lib/systemd/system/b.service",
            "etc/systemd/system/default.target.wants",
            "etc/systemd/system/default.target.wants/c.service -> /lib/systemd/system/c.service",
            "etc/systemd/system/graphical.target.wants",
            "etc/systemd/system/graphical.target.wants/b.service -> /lib/systemd/system/b.service",
            "etc/systemd/system/multi-user.target.wants",
            "etc/systemd/system/multi-user.target.wants/a.service -> /lib/systemd/system/a.service",
            "etc/systemd/system/multi-user.target.wants/b.service -> /lib/systemd/system/b.service",
        });
  CHECK(b->unit_file_state("a.service") == "enabled");
  CHECK(b->unit_file_state("b.service") == "enabled");
  CHECK(b->unit_file_state("c.service") == "enabled");
  CHECK(b->unit_file_state("a-alias.service") == "alias");
  CHECK(b->unit_file_state("static.service") == "static");
  CHECK(b->unit_file_state("indirect.service") == "indirect");
  CHECK(b->unit_file_state("t@.service") == "disabled");
  CHECK(b->unit_file_state("nope.service") == "not-found");

  // Enabling again changes nothing.
  auto before = root.etc_tree();
  b->enable({"a.service"});
  CHECK(root.etc_tree() == before);
}

TEST_CASE("offline disable removes what enable made, Also= units included, and empty directories",
          "[systemd][offline]") {
  TempRoot root;
  auto b = make_root_backend(root.path());
  b->enable({"a.service"});
  b->enable({"b.service"});
  b->enable({"t@.service"});
  b->enable({"t@y.service"});
  b->disable({"b.service"});
  CHECK(root.etc_tree() ==
        std::vector<std::string>{
            "etc/systemd",
            "etc/systemd/system",
            "etc/systemd/system/a-alias.service -> /lib/systemd/system/a.service",
            "etc/systemd/system/multi-user.target.wants",
            "etc/systemd/system/multi-user.target.wants/a.service -> /lib/systemd/system/a.service",
            "etc/systemd/system/multi-user.target.wants/t@x.service -> /lib/systemd/system/t@.service",
            "etc/systemd/system/multi-user.target.wants/t@y.service -> /lib/systemd/system/t@.service",
        });
  CHECK(b->unit_file_state("c.service") == "disabled");

  // Disabling a template takes its instances with it.
  b->disable({"a.service"});
  b->disable({"t@.service"});
  CHECK(root.etc_tree() == std::vector<std::string>{"etc/systemd", "etc/systemd/system"});
  CHECK_THROWS_WITH(b->disable({"nope.service"}), Catch::Contains("does not exist"));
}

TEST_CASE("offline mask and unmask", "[systemd][offline]") {
  TempRoot root;
  auto b = make_root_backend(root.path());
  b->enable({"a.service"});
  b->mask({"a.service"});
  CHECK(b->unit_file_state("a.service") == "masked");
  CHECK(fs::read_symlink(root.path() / "etc/systemd/system/a.service") == "/dev/null");
  // A mask is left alone by disable and refuses enable, as in systemctl.
  b->disable({"a.service"});
  CHECK(fs::is_symlink(root.path() / "etc/systemd/system/multi-user.target.wants/a.service"));
  CHECK_THROWS_WITH(b->enable({"a.service"}), Catch::Contains("is masked"));
  b->unmask({"a.service"});
  CHECK(b->unit_file_state("a.service") == "enabled");
  // A unit file of the same name in /etc/systemd/system cannot be masked.
  sys::atomic_write(root.path() / "etc/systemd/system/mine.service", "[Service]\nExecStart=/bin/true\n");
  CHECK_THROWS_WITH(b->mask({"mine.service"}), Catch::Contains("already exists"));
  // Masking a unit that has no file anywhere works, as in systemctl.
  b->mask({"ghost.service"});
  CHECK(b->unit_file_state("ghost.service") == "masked");
}

TEST_CASE("offline apply through the plugin: converges, plans to nothing, and show round-trips",
          "[systemd][offline]") {
  TempRoot root;
  auto plugin = make_systemd_plugin();
  Options opts;
  opts.root = root.path();
  Context ctx(opts);
  REQUIRE(plugin->probe(ctx).available);

  JsonDoc desired = parse_json(R"({
    "services": {"a": {"state": "enabled", "running": true}, "b.service": {"state": "masked"},
                 "c": {"state": "enabled", "dropins": {"10-nice.conf": "[Service]\nNice=5"}}},
    "timers": {"backup": {"on_calendar": "daily", "persistent": true}},
    "custom_units": {"app.service": {"content": "[Service]\nExecStart=/bin/app\n[Install]\nWantedBy=multi-user.target",
                                     "enabled": true, "running": true}}})");
  auto plan = [&](const JsonValue& d) {
    JsonDoc current = plugin->query(ctx, &d);
    return plugin->diff(d, current);
  };
  auto actions = plan(desired);
  std::stable_sort(actions.begin(), actions.end(),
                   [](const Action& l, const Action& r) { return action_less(l, r, 0, 0); });
  for (const auto& a : actions) {
    INFO(a.summary);
    CHECK(a.op != Op::Start);  // offline never starts anything
    plugin->apply(ctx, a);
  }
  CHECK(plan(desired).empty());
  CHECK(fs::read_symlink(root.path() / "etc/systemd/system/timers.target.wants/backup.timer") ==
        "/etc/systemd/system/backup.timer");
  CHECK(fs::read_symlink(root.path() / "etc/systemd/system/multi-user.target.wants/app.service") ==
        "/etc/systemd/system/app.service");
  CHECK(fs::read_symlink(root.path() / "etc/systemd/system/b.service") == "/dev/null");
  CHECK(*sys::read_file(root.path() / "etc/systemd/system/c.service.d/10-nice.conf") ==
        "[Service]\nNice=5\n");

  JsonDoc shown = plugin->query(ctx, nullptr);
  INFO(to_pretty_json(shown));
  CHECK(member(*member(shown, "services"), "a.service"));
  CHECK(member(*member(shown, "timers"), "backup.timer"));
  CHECK(member(*member(shown, "custom_units"), "app.service"));
  CHECK(plan(shown).empty());

  // Removing the custom unit and the timer takes their enablement symlinks with them.
  JsonDoc absent = parse_json(R"({"custom_units": {"app.service": {"state": "absent"}},
                                  "timers": {"backup.timer": {"state": "absent"}}})");
  for (const auto& a : plan(absent)) plugin->apply(ctx, a);
  CHECK(plan(absent).empty());
  CHECK_FALSE(fs::exists(root.path() / "etc/systemd/system/app.service"));
  CHECK_FALSE(
      fs::exists(fs::symlink_status(root.path() / "etc/systemd/system/multi-user.target.wants/app.service")));
  CHECK_FALSE(fs::exists(root.path() / "etc/systemd/system/timers.target.wants"));
}

TEST_CASE("offline probe needs DIR/etc/systemd", "[systemd][offline]") {
  auto plugin = make_systemd_plugin();
  Options opts;
  opts.root = fs::temp_directory_path() / "opdbus-no-such-root";
  Context ctx(opts);
  Probe p = plugin->probe(ctx);
  CHECK_FALSE(p.available);
  CHECK_THAT(p.detail, Catch::Contains("etc/systemd does not exist"));
}
