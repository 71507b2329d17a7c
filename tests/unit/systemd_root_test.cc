// The offline backend (--root DIR) on a temporary tree: the symlinks it makes must be the ones
// `systemctl --root` (systemd 252) makes. The expected trees below were recorded from systemctl itself;
// tests/integration/systemd/offline.sh compares against the real systemctl on every run.
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
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

namespace {

// Every entry below `dir` with its type, link target or content: equal before and after means untouched.
std::vector<std::string> snapshot(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), dir).string();
    if (it->is_symlink())
      out.push_back(rel + " -> " + fs::read_symlink(it->path()).string());
    else if (it->is_regular_file())
      out.push_back(rel + " = " + *sys::read_file(it->path()));
    else
      out.push_back(rel + "/");
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("--root: symlinked directories are resolved inside DIR; nothing outside changes",
          "[systemd][offline]") {
  TempRoot base;  // holds DIR (base/root) and the outside tree (base/outside)
  fs::path dir = base.path() / "root";
  fs::path out = base.path() / "outside";
  fs::create_directories(dir / "lib/systemd/system");
  fs::create_directories(dir / "etc/systemd");
  sys::atomic_write(dir / "lib/systemd/system/web.service",
                    "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
  // Decoys outside DIR with the names op-dbus writes and removes.
  fs::create_directories(out / "units");
  fs::create_directories(out / "wants");
  sys::atomic_write(out / "units/app.service", "outside\n");
  fs::create_symlink("/etc/systemd/system/app.service", out / "wants/app.service");
  // etc/systemd/system -> the outside tree's absolute path: inside DIR that means DIR/<that path>.
  fs::path inside_units = dir / out.relative_path() / "units";
  fs::create_directories(inside_units);
  fs::create_symlink(out / "units", dir / "etc/systemd/system");
  // multi-user.target.wants -> far too many "..": stops at DIR, so DIR/wants.
  fs::create_directories(dir / "wants");
  std::string up;
  for (int i = 0; i < 12; ++i) up += "../";
  fs::create_symlink(up + "wants", inside_units / "multi-user.target.wants");
  // A drop-in directory pointing into DIR with an absolute target.
  fs::create_directories(dir / "dropins");
  fs::create_symlink("/dropins", inside_units / "web.service.d");
  const auto outside_before = snapshot(out);

  auto plugin = make_systemd_plugin();
  Options opts;
  opts.root = dir;
  Context ctx(opts);
  auto run = [&](const char* text) {
    JsonDoc d = parse_json(text);
    JsonDoc current = plugin->query(ctx, &d);
    auto actions = plugin->diff(d, current);
    std::stable_sort(actions.begin(), actions.end(),
                     [](const Action& l, const Action& r) { return action_less(l, r, 0, 0); });
    plugin->checkpoint(ctx, actions);
    for (const auto& a : actions) plugin->apply(ctx, a);
    JsonDoc after = plugin->query(ctx, &d);
    return plugin->diff(d, after).size();
  };
  CHECK(run(R"({"services": {"web": {"state": "enabled", "dropins": {"10-a.conf": "[Service]\nNice=1"}}},
                "custom_units": {"app.service": {"content": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target",
                                                 "enabled": true}}})") == 0);
  CHECK(snapshot(out) == outside_before);
  // Where a chroot would have put them.
  CHECK(fs::is_regular_file(inside_units / "app.service"));
  CHECK(fs::read_symlink(dir / "wants/app.service") == "/etc/systemd/system/app.service");
  CHECK(fs::read_symlink(dir / "wants/web.service") == "/lib/systemd/system/web.service");
  CHECK(*sys::read_file(dir / "dropins/10-a.conf") == "[Service]\nNice=1\n");

  CHECK(run(R"({"custom_units": {"app.service": {"state": "absent"}}})") == 0);
  CHECK(snapshot(out) == outside_before);
  CHECK_FALSE(fs::exists(inside_units / "app.service"));
  CHECK_FALSE(fs::is_symlink(dir / "wants/app.service"));
  CHECK(fs::is_symlink(dir / "wants/web.service"));
}

TEST_CASE("--root: one walk answers many unit states, and apply keeps the index current",
          "[systemd][offline]") {
  TempRoot root;
  for (int i = 0; i < 200; ++i) {
    root.unit("u" + std::to_string(i) + ".service",
              "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
  }
  auto b = make_root_backend(root.path());
  std::vector<std::string> units;
  for (int i = 0; i < 200; ++i) units.push_back("u" + std::to_string(i) + ".service");
  for (const auto& [unit, state] : b->unit_file_states(units)) CHECK(state == "disabled");
  CHECK(b->enable(units));
  for (const auto& [unit, state] : b->unit_file_states(units)) CHECK(state == "enabled");
  CHECK_FALSE(b->enable(units));  // nothing left to change
  // The same answers from a fresh walk of the tree.
  auto fresh = make_root_backend(root.path());
  for (const auto& [unit, state] : fresh->unit_file_states(units)) CHECK(state == "enabled");
  CHECK(b->disable({"u0.service", "u1.service"}));
  CHECK(b->unit_file_state("u0.service") == "disabled");
  CHECK(make_root_backend(root.path())->unit_file_state("u1.service") == "disabled");
  CHECK(make_root_backend(root.path())->unit_file_state("u2.service") == "enabled");
}

TEST_CASE("offline apply removes the temporaries a killed run left; a plan does not; a live writer's stay",
          "[systemd][offline]") {
  TempRoot root;
  const fs::path etc = root.path() / "etc/systemd/system";
  // A writer that has exited (reaped, so its pid names no process), and one beyond any pid_max.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string dead = ".op-dbus-tmp-" + std::to_string(child);
  const std::string live = ".op-dbus-tmp-" + std::to_string(::getpid());
  fs::create_directories(etc / "multi-user.target.wants");
  fs::create_directories(etc / "c.service.d");
  std::vector<fs::path> stale = {etc / ("app.service" + dead), etc / ("c.service.d/10-nice.conf" + dead),
                                 etc / "multi-user.target.wants/a.service.op-dbus-tmp-99999999"};
  sys::atomic_write(stale[0], "[Service]\nExecStart=/bin/half-written\n");
  sys::atomic_write(stale[1], "[Service]\n");
  fs::create_symlink("/lib/systemd/system/a.service", stale[2]);
  std::vector<fs::path> kept = {etc / ("app.service" + live),
                                etc / ("multi-user.target.wants/c.service" + live),
                                etc / "b.service.op-dbus-tmp-x1"};  // not a pid: not ours to judge
  sys::atomic_write(kept[0], "[Service]\n");
  fs::create_symlink("/lib/systemd/system/c.service", kept[1]);
  sys::atomic_write(kept[2], "x\n");
  auto present = [](const fs::path& p) { return fs::exists(fs::symlink_status(p)); };

  auto plugin = make_systemd_plugin();
  Options opts;
  opts.root = root.path();
  Context ctx(opts);
  JsonDoc desired = parse_json(R"({"services": {"a": {"state": "enabled"},
                                   "c": {"state": "enabled", "dropins": {"10-nice.conf": "[Service]\nNice=5"}}}})");
  auto plan = [&] {
    JsonDoc current = plugin->query(ctx, &desired);
    auto actions = plugin->diff(desired, current);
    std::stable_sort(actions.begin(), actions.end(),
                     [](const Action& l, const Action& r) { return action_less(l, r, 0, 0); });
    return actions;
  };
  auto actions = plan();
  REQUIRE_FALSE(actions.empty());
  for (const auto& p : stale) CHECK(present(p));  // a plan changes nothing

  plugin->begin_apply(ctx, actions);
  for (const auto& a : actions) plugin->apply(ctx, a);
  plugin->end_apply(ctx);
  for (const auto& p : stale) {
    INFO(p.string());
    CHECK_FALSE(present(p));
  }
  for (const auto& p : kept) {
    INFO(p.string());
    CHECK(present(p));
  }
  CHECK(fs::read_symlink(etc / "multi-user.target.wants/a.service") == "/lib/systemd/system/a.service");
  CHECK(*sys::read_file(etc / "c.service.d/10-nice.conf") == "[Service]\nNice=5\n");
  CHECK(plan().empty());
}
