// The systemd plugin's pure parts: unit names, [Install] parsing, timer files, the diff and its ordering,
// semantic checks, and apply() against a backend fake that records what it was asked to do.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "context.h"
#include "error.h"
#include "systemd/backend.h"
#include "systemd/diff.h"
#include "systemd/model.h"
#include "systemd/ops.h"
#include "systemd/plugin.h"
#include "systemd/units.h"
#include "text.h"

using namespace opdbus;
using namespace opdbus::systemd;

namespace {

JsonDoc doc(const char* text) {
  return parse_json(text);
}

std::vector<Action> sorted_diff(const JsonValue& desired, const JsonValue& current) {
  auto actions = diff_section(desired, current);
  std::stable_sort(actions.begin(), actions.end(),
                   [](const Action& l, const Action& r) { return action_less(l, r, 0, 0); });
  return actions;
}

std::vector<std::string> summaries(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) out.push_back(a.summary);
  return out;
}

// A host in memory that records every call. Files live in a map; unit file states are set by the test and
// moved by enable/disable/mask/unmask the way systemd would.
class RecordingBackend : public Backend {
 public:
  std::vector<std::string> calls;
  std::map<std::string, std::string> files;
  std::map<std::string, std::string> states;
  std::set<std::string> active;
  bool runtime = true;
  std::string fail_start;  // unit whose start fails

  std::string describe() override { return "recording fake"; }
  bool sees_runtime() const override { return runtime; }
  std::map<std::string, std::string> unit_file_states(const std::vector<std::string>& units) override {
    calls.push_back("unit-file-states " + join(units, " "));
    std::map<std::string, std::string> out;
    for (const auto& u : units) {
      auto it = states.find(u);
      out[u] = it == states.end() ? "not-found" : it->second;
    }
    return out;
  }
  std::vector<UnitFile> list_unit_files(const std::string& suffix) override {
    std::vector<UnitFile> out;
    for (const auto& [name, state] : states) {
      if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
        out.push_back({name, state});
      }
    }
    return out;
  }
  std::set<std::string> active_of(const std::vector<std::string>& units) override {
    calls.push_back("active-of " + join(units, " "));
    std::set<std::string> out;
    for (const auto& u : units) {
      if (active.count(u)) out.insert(u);
    }
    return out;
  }
  std::set<std::string> active_units() override { return active; }
  std::optional<std::string> read_file(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  }
  std::vector<DirEntry> list_dir(const std::string& dir) override {
    std::vector<DirEntry> out;
    std::set<std::string> seen;
    for (const auto& [path, content] : files) {
      if (path.rfind(dir + "/", 0) != 0) continue;
      std::string rest = path.substr(dir.size() + 1);
      size_t slash = rest.find('/');
      std::string name = rest.substr(0, slash);
      if (!seen.insert(name).second) continue;
      out.push_back({name, slash == std::string::npos ? FileKind::File : FileKind::Directory});
    }
    return out;
  }
  void write_file(const std::string& path, const std::string& content) override {
    calls.push_back("write " + path);
    files[path] = content;
  }
  void remove_path(const std::string& path) override {
    calls.push_back("remove " + path);
    for (auto it = files.begin(); it != files.end();) {
      if (it->first == path || it->first.rfind(path + "/", 0) == 0)
        it = files.erase(it);
      else
        ++it;
    }
  }
  bool enable(const std::vector<std::string>& units) override {
    calls.push_back("enable " + join(units, " "));
    for (const auto& unit : units) {
      if (states[unit] != "static") states[unit] = "enabled";
    }
    return true;
  }
  bool disable(const std::vector<std::string>& units) override {
    calls.push_back("disable " + join(units, " "));
    for (const auto& unit : units) states[unit] = "disabled";
    return true;
  }
  bool mask(const std::vector<std::string>& units) override {
    calls.push_back("mask " + join(units, " "));
    for (const auto& unit : units) states[unit] = "masked";
    return true;
  }
  bool unmask(const std::vector<std::string>& units) override {
    calls.push_back("unmask " + join(units, " "));
    for (const auto& unit : units) states[unit] = "disabled";
    return true;
  }
  void daemon_reload() override { calls.push_back("daemon-reload"); }
  Failures start(const std::vector<std::string>& units) override {
    calls.push_back("start " + join(units, " "));
    Failures out;
    for (const auto& unit : units) {
      if (unit == fail_start)
        out[unit] = "job failed: unit result 'exit-code', ExecMainStatus=1";
      else
        active.insert(unit);
    }
    return out;
  }
  Failures stop(const std::vector<std::string>& units) override {
    calls.push_back("stop " + join(units, " "));
    for (const auto& unit : units) active.erase(unit);
    return {};
  }
  Failures restart(const std::vector<std::string>& units) override {
    calls.push_back("restart " + join(units, " "));
    for (const auto& unit : units) active.insert(unit);
    return {};
  }
};

// The plugin wired to a RecordingBackend the test keeps a pointer to.
struct FakeHost {
  RecordingBackend* backend = nullptr;
  std::unique_ptr<Plugin> plugin;
  Context ctx{Options{}};

  FakeHost() {
    auto owned = std::make_shared<RecordingBackend>();
    backend = owned.get();
    plugin = make_plugin([owned](Context&) -> std::unique_ptr<Backend> {
      // Each call gets a thin forwarder, so state survives across query/apply like a real host.
      struct Forward : Backend {
        std::shared_ptr<RecordingBackend> b;
        explicit Forward(std::shared_ptr<RecordingBackend> p) : b(std::move(p)) {}
        std::string describe() override { return b->describe(); }
        bool sees_runtime() const override { return b->sees_runtime(); }
        std::map<std::string, std::string> unit_file_states(const std::vector<std::string>& u) override {
          return b->unit_file_states(u);
        }
        std::vector<UnitFile> list_unit_files(const std::string& s) override { return b->list_unit_files(s); }
        std::set<std::string> active_of(const std::vector<std::string>& u) override {
          return b->active_of(u);
        }
        std::set<std::string> active_units() override { return b->active_units(); }
        std::optional<std::string> read_file(const std::string& p) override { return b->read_file(p); }
        std::vector<DirEntry> list_dir(const std::string& p) override { return b->list_dir(p); }
        void write_file(const std::string& p, const std::string& c) override { b->write_file(p, c); }
        void remove_path(const std::string& p) override { b->remove_path(p); }
        bool enable(const std::vector<std::string>& u) override { return b->enable(u); }
        bool disable(const std::vector<std::string>& u) override { return b->disable(u); }
        bool mask(const std::vector<std::string>& u) override { return b->mask(u); }
        bool unmask(const std::vector<std::string>& u) override { return b->unmask(u); }
        void daemon_reload() override { b->daemon_reload(); }
        Failures start(const std::vector<std::string>& u) override { return b->start(u); }
        Failures stop(const std::vector<std::string>& u) override { return b->stop(u); }
        Failures restart(const std::vector<std::string>& u) override { return b->restart(u); }
      };
      return std::make_unique<Forward>(owned);
    });
  }

  std::vector<Action> plan(const JsonValue& desired) {
    JsonDoc current = plugin->query(ctx, &desired);
    auto actions = plugin->diff(desired, current);
    std::stable_sort(actions.begin(), actions.end(),
                     [](const Action& l, const Action& r) { return action_less(l, r, 0, 0); });
    return actions;
  }

  // As the engine does: the whole run is handed over first (begin_apply), then each action in order, then
  // end_apply.
  void apply(const JsonValue& desired) {
    auto actions = plan(desired);
    plugin->begin_apply(ctx, actions);
    for (const auto& a : actions) plugin->apply(ctx, a);
    plugin->end_apply(ctx);
  }

  // The calls that change something (reads left out).
  std::vector<std::string> changes() const {
    std::vector<std::string> out;
    for (const auto& c : backend->calls) {
      if (!starts_with(c, "unit-file-states ") && !starts_with(c, "active-of ")) out.push_back(c);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("unit names normalise to one spelling", "[systemd]") {
  CHECK(normalize_service_name("ssh") == "ssh.service");
  CHECK(normalize_service_name("ssh.service") == "ssh.service");
  CHECK(normalize_service_name("org.cups.cupsd") == "org.cups.cupsd.service");
  CHECK(normalize_service_name("docker.socket") == "docker.socket");
  CHECK(normalize_timer_name("backup") == "backup.timer");
  CHECK(normalize_timer_name("backup.timer") == "backup.timer");

  CHECK(valid_unit_name("ssh.service"));
  CHECK(valid_unit_name("getty@tty1.service"));
  CHECK(valid_unit_name("systemd-fsck@dev-disk-by\\x2duuid.service"));
  CHECK_FALSE(valid_unit_name("ssh"));
  CHECK_FALSE(valid_unit_name(".service"));
  CHECK_FALSE(valid_unit_name("a/b.service"));
  CHECK_FALSE(valid_unit_name("a b.service"));
  CHECK(valid_unit_name("a@b@c.service"));  // systemd allows '@' in the instance
  CHECK_FALSE(valid_unit_name("@a.service"));
  CHECK_FALSE(valid_unit_name("a.service.bogus"));
  CHECK_FALSE(valid_unit_name("../x.service"));
  CHECK_FALSE(valid_unit_name("a\nb.service"));
  CHECK(valid_unit_name(std::string(247, 'a') + ".service"));  // 255 bytes: the longest systemd accepts
  CHECK_FALSE(valid_unit_name(std::string(248, 'a') + ".service"));
  CHECK_FALSE(valid_unit_name(std::string(300, 'a') + ".service"));

  CHECK(valid_dropin_name("10-limits.conf"));
  CHECK_FALSE(valid_dropin_name(".conf"));
  CHECK_FALSE(valid_dropin_name(".hidden.conf"));
  CHECK_FALSE(valid_dropin_name("a.txt"));
  CHECK_FALSE(valid_dropin_name("../x.conf"));
  CHECK_FALSE(valid_dropin_name("a\nb.conf"));
  CHECK_FALSE(valid_dropin_name("a\tb.conf"));
  CHECK(valid_dropin_name(std::string(250, 'a') + ".conf"));
  CHECK_FALSE(valid_dropin_name(std::string(251, 'a') + ".conf"));

  CHECK(is_template("getty@.service"));
  CHECK_FALSE(is_template("getty@tty1.service"));
  CHECK(is_instance("getty@tty1.service"));
  CHECK(template_of("getty@tty1.service") == "getty@.service");
  CHECK(template_of("ssh.service").empty());
  CHECK(with_instance("getty@.service", "tty2") == "getty@tty2.service");
}

TEST_CASE("content compares equal with or without a trailing newline", "[systemd]") {
  CHECK(normalize_content("a") == "a\n");
  CHECK(normalize_content("a\n") == "a\n");
  CHECK(normalize_content("a\n\n\n") == "a\n");
  CHECK(normalize_content("") == "");
  CHECK(normalize_content("\n") == "");
}

TEST_CASE("[Install] is read as systemctl reads it", "[systemd]") {
  auto info = parse_install_section(
      "[Unit]\nDescription=x\nWantedBy=not-here.target\n"
      "[Install]\n"
      "# a comment\n"
      "WantedBy=multi-user.target graphical.target\n"
      "WantedBy = default.target\n"
      "RequiredBy=a.target \\\n  b.target\n"
      "Alias=one.service\n"
      "Alias=\n"
      "Alias=two.service\n"
      "Also=helper.socket\n"
      "DefaultInstance=tty1\n"
      "[Service]\nWantedBy=ignored.target\n");
  CHECK(info.wanted_by ==
        std::vector<std::string>{"multi-user.target", "graphical.target", "default.target"});
  CHECK(info.required_by == std::vector<std::string>{"a.target", "b.target"});
  CHECK(info.alias == std::vector<std::string>{"two.service"});
  CHECK(info.also == std::vector<std::string>{"helper.socket"});
  CHECK(info.default_instance == "tty1");
  CHECK(info.has_rules());

  auto none = parse_install_section("[Service]\nExecStart=/bin/true\n");
  CHECK_FALSE(none.has_rules());
  CHECK(none.also.empty());
  auto only_also = parse_install_section("[Install]\nAlso=x.service\n");
  CHECK_FALSE(only_also.has_rules());
}

TEST_CASE("[Install] specifiers expand for the unit being enabled", "[systemd]") {
  CHECK(expand_specifiers("%n", "foo@bar.service") == std::optional<std::string>("foo@bar.service"));
  CHECK(expand_specifiers("%N", "foo@bar.service") == std::optional<std::string>("foo@bar"));
  CHECK(expand_specifiers("%p-%i.target", "foo@bar.service") == std::optional<std::string>("foo-bar.target"));
  CHECK(expand_specifiers("x-%j", "a-b-c.service") == std::optional<std::string>("x-c"));
  CHECK(expand_specifiers("100%%", "a.service") == std::optional<std::string>("100%"));
  CHECK_FALSE(expand_specifiers("%H", "a.service").has_value());
  CHECK_FALSE(expand_specifiers("%", "a.service").has_value());
}

TEST_CASE("timer files render and parse back exactly", "[systemd]") {
  TimerSpec spec{"Mon *-*-* 03:00", "backup-job.service", "Nightly backup", true};
  std::string text = render_timer("backup.timer", spec);
  CHECK(text ==
        "# Managed by op-dbus: changes made here are overwritten.\n"
        "[Unit]\nDescription=Nightly backup\n\n"
        "[Timer]\nOnCalendar=Mon *-*-* 03:00\nUnit=backup-job.service\nPersistent=true\n\n"
        "[Install]\nWantedBy=timers.target\n");
  auto back = parse_managed_timer("backup.timer", text);
  REQUIRE(back);
  CHECK(back->on_calendar == spec.on_calendar);
  CHECK(back->unit == spec.unit);
  CHECK(back->description == spec.description);
  CHECK(back->persistent);

  // The default unit is left out, so "backup", "backup.service" and nothing render the same.
  CHECK(render_timer("backup.timer", {"daily", "backup", "", false}) ==
        render_timer("backup.timer", {"daily", "", "", false}));
  CHECK(render_timer("backup.timer", {"daily", "backup.service", "", false}) ==
        render_timer("backup.timer", {"daily", "", "", false}));

  // Edited by hand, or not ours: not a managed timer.
  CHECK_FALSE(parse_managed_timer("backup.timer", text + "RandomizedDelaySec=5m\n"));
  CHECK_FALSE(parse_managed_timer("backup.timer", text.substr(text.find('\n') + 1)));
  std::string changed = text;
  changed.replace(changed.find("03:00"), 5, "04:00");
  auto edited = parse_managed_timer("backup.timer", changed);
  REQUIRE(edited);  // still canonical, just a different time: parsed, and the diff sees the change
  CHECK(edited->on_calendar == "Mon *-*-* 04:00");
}

TEST_CASE("diff: a changed custom unit is written, reloaded once, then restarted", "[systemd]") {
  auto desired = doc(R"({"custom_units": {
      "a.service": {"content": "[Service]\nExecStart=/bin/a2\n", "running": true},
      "b.service": {"content": "[Service]\nExecStart=/bin/b2\n", "dropins": {"10-x.conf": "[Service]\nNice=5"}}}})");
  auto current = doc(R"({"custom_units": {
      "a.service": {"content": "[Service]\nExecStart=/bin/a1\n", "enabled": false, "running": true},
      "b.service": {"content": "[Service]\nExecStart=/bin/b2", "enabled": false, "running": true}}})");
  auto actions = sorted_diff(desired, current);
  CHECK(summaries(actions) == std::vector<std::string>{
                                  "write /etc/systemd/system/a.service",
                                  "write /etc/systemd/system/b.service.d/10-x.conf",
                                  "daemon-reload",
                                  "restart a.service",
                                  "restart b.service",
                              });
  CHECK(actions[0].op == Op::Update);
  CHECK(actions[1].op == Op::Create);
  CHECK(actions[2].op == Op::Reload);
  CHECK(actions[2].item.empty());
}

TEST_CASE("diff: restart_on_change false and running false suppress the restart", "[systemd]") {
  auto desired = doc(R"({"services": {
      "a": {"restart_on_change": false, "dropins": {"x.conf": "new"}},
      "b": {"running": false, "dropins": {"x.conf": "new"}}}})");
  auto current = doc(R"({"services": {
      "a.service": {"state": "enabled", "running": true, "dropins": {"x.conf": "old"}},
      "b.service": {"state": "enabled", "running": true}}})");
  CHECK(summaries(sorted_diff(desired, current)) == std::vector<std::string>{
                                                        "write /etc/systemd/system/a.service.d/x.conf",
                                                        "write /etc/systemd/system/b.service.d/x.conf",
                                                        "daemon-reload",
                                                        "stop b.service",
                                                    });
}

TEST_CASE("diff: masked to enabled unmasks first; enabled to masked masks", "[systemd]") {
  auto desired = doc(R"({"services": {"a": {"state": "enabled"}, "b": {"state": "masked"},
                                       "c": {"state": "disabled"}}})");
  auto current = doc(R"({"services": {"a.service": {"state": "masked", "running": false},
                                       "b.service": {"state": "enabled", "running": false},
                                       "c.service": {"state": "masked", "running": false}}})");
  auto actions = sorted_diff(desired, current);
  CHECK(summaries(actions) == std::vector<std::string>{"unmask a.service", "unmask c.service",
                                                       "enable a.service", "mask b.service",
                                                       "disable c.service"});
  CHECK(actions[2].changes.at(0).before == std::optional<std::string>("\"masked\""));
  CHECK(actions[2].changes.at(0).after == std::optional<std::string>("\"enabled\""));
}

TEST_CASE("diff: disabled is satisfied by static, indirect and not-found units", "[systemd]") {
  auto desired = doc(R"({"services": {"a": {"state": "disabled"}, "b": {"state": "disabled"},
                                       "c": {"state": "disabled"}, "d": {"state": "disabled"}}})");
  auto current = doc(R"({"services": {"a.service": {"state": "static"}, "b.service": {"state": "indirect"},
                                       "c.service": {"state": "not-found"}, "d.service": {"state": "disabled"}}})");
  CHECK(sorted_diff(desired, current).empty());
}

TEST_CASE("diff: equivalent forms do not flap", "[systemd]") {
  auto desired = doc(R"({"services": {"ssh": {"state": "enabled", "dropins": {}}},
                         "timers": {"backup": {"on_calendar": "daily", "unit": "backup"}},
                         "custom_units": {"app": {"content": "[Service]\nExecStart=/bin/app"}}})");
  auto current = doc(R"({"services": {"ssh.service": {"state": "enabled", "running": true}},
                         "timers": {"backup.timer": {"on_calendar": "daily", "state": "enabled", "running": true}},
                         "custom_units": {"app.service": {"content": "[Service]\nExecStart=/bin/app\n\n",
                                                           "enabled": false, "running": false}}})");
  CHECK(sorted_diff(desired, current).empty());
}

TEST_CASE("model: items are found by normalised name; equivalent texts and timers parse equal", "[systemd]") {
  auto desired = doc(R"({"mode": "observe",
    "services": {"ssh": {"state": "enabled", "mode": "observe", "dropins": {"b.conf": "x", "a.conf": "y\n\n"}},
                 "ssh.service": {"state": "disabled"}, "cron.service": {"running": false}},
    "timers": {"backup": {"on_calendar": "daily", "unit": "backup.service", "persistent": true}},
    "custom_units": {"app": {"content": "[Service]\nExecStart=/bin/app", "enabled": true}}})");
  auto current = doc(R"({"timers": {"backup.timer": {"on_calendar": "daily", "persistent": true}},
    "custom_units": {"app.service": {"content": "[Service]\nExecStart=/bin/app\n\n\n"}, "gone.service":
    {"state": "absent"}}})");
  Section want = parse_section(desired);
  Section have = parse_section(current);
  CHECK(want.observe);
  CHECK_FALSE(have.observe);

  // Both spellings are kept, in document order (check() reports the second); a lookup finds the first.
  REQUIRE(want.services.list().size() == 3);
  CHECK(want.services.list()[0].key == "ssh");
  CHECK(want.services.list()[1].key == "ssh.service");
  const Service* ssh = want.services.find("ssh.service");
  REQUIRE(ssh);
  CHECK(ssh->key == "ssh");
  CHECK(ssh->observe);
  CHECK(ssh->state == std::optional<std::string>("enabled"));
  CHECK_FALSE(want.services.find("ssh"));  // keys are normalised names only
  CHECK(want.services.find("cron.service")->running == std::optional<bool>(false));
  CHECK_FALSE(want.services.find("cron.service")->state);
  // Drop-ins in document order; their texts compare in the form op-dbus writes.
  REQUIRE(ssh->dropins);
  REQUIRE(ssh->dropins->files.size() == 2);
  CHECK(ssh->dropins->files[0].first == "b.conf");
  CHECK(ssh->dropins->find("a.conf")->raw == "y\n\n");
  CHECK(ssh->dropins->find("a.conf")->normal == "y\n");
  CHECK(*ssh->dropins->find("a.conf") == Text("y"));
  CHECK_FALSE(ssh->dropins->find("c.conf"));

  // A Unit= naming the timer's own service is the same as none.
  const Timer* backup = want.timers.find("backup.timer");
  REQUIRE(backup);
  CHECK(backup->activates == std::optional<std::string>("backup.service"));
  CHECK(backup->spec.unit.empty());
  CHECK(render_timer("backup.timer", backup->spec) ==
        render_timer("backup.timer", have.timers.find("backup.timer")->spec));

  const CustomUnit* app = want.custom_units.find("app.service");
  REQUIRE(app);
  REQUIRE(app->content);
  CHECK(*app->content == *have.custom_units.find("app.service")->content);
  CHECK(app->content->raw == "[Service]\nExecStart=/bin/app");
  CHECK_FALSE(have.custom_units.find("gone.service")->content);
  CHECK(have.custom_units.find("gone.service")->state == std::optional<std::string>("absent"));
}

TEST_CASE("diff: offline (no running reported) never starts, stops or restarts", "[systemd]") {
  auto desired = doc(R"({"custom_units": {"app.service": {"content": "[Service]\nExecStart=/bin/app2\n",
                                                           "running": true, "enabled": true}},
                         "timers": {"t": {"on_calendar": "daily"}}})");
  auto current = doc(R"({"custom_units": {"app.service": {"content": "[Service]\nExecStart=/bin/app\n",
                                                           "enabled": false}},
                         "timers": {"t.timer": {"state": "absent"}}})");
  CHECK(summaries(sorted_diff(desired, current)) == std::vector<std::string>{
                                                        "write /etc/systemd/system/app.service",
                                                        "write /etc/systemd/system/t.timer",
                                                        "daemon-reload",
                                                        "enable app.service",
                                                        "enable t.timer",
                                                    });
}

TEST_CASE("diff: removal runs last: stop, disable, remove, one more reload", "[systemd]") {
  auto desired =
      doc(R"({"custom_units": {"old.service": {"state": "absent"}, "gone.service": {"state": "absent"},
                                           "new.service": {"content": "[Service]\nExecStart=/bin/new\n",
                                                           "running": true}},
                         "timers": {"old": {"state": "absent"}}})");
  auto current = doc(R"({"custom_units": {"old.service": {"content": "x", "enabled": true, "running": true},
                                           "gone.service": {"state": "absent", "running": false},
                                           "new.service": {"state": "absent", "running": false}},
                         "timers": {"old.timer": {"on_calendar": "daily", "state": "enabled", "running": true}}})");
  auto actions = sorted_diff(desired, current);
  CHECK(summaries(actions) == std::vector<std::string>{
                                  "write /etc/systemd/system/new.service",
                                  "daemon-reload",
                                  "start new.service",
                                  "stop old.service",
                                  "stop old.timer",
                                  "disable old.service",
                                  "disable old.timer",
                                  "remove /etc/systemd/system/old.service",
                                  "remove /etc/systemd/system/old.timer",
                                  "daemon-reload",
                              });
  CHECK(actions.back().order > actions[1].order);
  const auto& remove = std::get<RemoveFiles>(operation_of<Ops>(actions[7].operation, actions[7].resource()));
  CHECK(remove.paths ==
        std::vector<std::string>{"/etc/systemd/system/old.service", "/etc/systemd/system/old.service.d"});
  CHECK(actions[7].operation->to_json()["op"] == "remove");
}

TEST_CASE("diff: an observe-only item does not cause a daemon-reload", "[systemd]") {
  auto desired = doc(R"({"custom_units": {"a.service": {"mode": "observe", "content": "new"}}})");
  auto current =
      doc(R"({"custom_units": {"a.service": {"content": "old", "enabled": false, "running": false}}})");
  CHECK(summaries(sorted_diff(desired, current)) ==
        std::vector<std::string>{"write /etc/systemd/system/a.service"});
  // The same change applied for real needs its reload.
  auto applied = doc(R"({"custom_units": {"a.service": {"mode": "apply", "content": "new"}}})");
  CHECK(summaries(sorted_diff(applied, current)) ==
        std::vector<std::string>{"write /etc/systemd/system/a.service", "daemon-reload"});
}

TEST_CASE("diff: a timer file op-dbus did not write is replaced", "[systemd]") {
  auto desired = doc(R"({"timers": {"t.timer": {"on_calendar": "hourly", "running": false}}})");
  auto current = doc(R"({"timers": {"t.timer": {"state": "enabled", "running": false}}})");
  auto actions = sorted_diff(desired, current);
  REQUIRE(actions.size() == 2);
  CHECK(actions[0].summary == "write /etc/systemd/system/t.timer (replacing a file op-dbus did not write)");
  CHECK(actions[0].op == Op::Update);
  CHECK(actions[1].summary == "daemon-reload");
}

TEST_CASE("check: names, duplicates and impossible combinations are reported", "[systemd]") {
  auto plugin = make_systemd_plugin();
  auto section = doc(R"({
    "services": {"ssh": {"state": "enabled"}, "ssh.service": {"state": "enabled"},
                 "bad name": {}, "m": {"state": "masked", "running": true},
                 "d": {"dropins": {"x.txt": ""}}, "masked": {"state": "masked"}},
    "timers": {"t": {"unit": "x.service"}, "u.service": {"on_calendar": "daily"},
               "multi": {"on_calendar": "daily\nhourly"}},
    "custom_units": {"static.service": {"content": "[Service]\nExecStart=/bin/true\n", "enabled": true},
                     "empty.service": {},
                     "t.timer": {"content": "[Timer]\nOnCalendar=daily\n"},
                     "ok.service": {"state": "absent"},
                     "masked.service": {"content": "[Service]\nExecStart=/bin/true\n"}}})");
  Diagnostics out;
  plugin->check(section, "s.json", "/plugins/systemd", out);
  std::vector<std::string> pointers;
  for (const auto& d : out) pointers.push_back(d.pointer);
  std::sort(pointers.begin(), pointers.end());
  CHECK(pointers == std::vector<std::string>{
                        "/plugins/systemd/custom_units/empty.service",
                        "/plugins/systemd/custom_units/static.service/enabled",
                        "/plugins/systemd/custom_units/t.timer",
                        "/plugins/systemd/services/bad name",
                        "/plugins/systemd/services/d/dropins/x.txt",
                        "/plugins/systemd/services/m",
                        "/plugins/systemd/services/masked",
                        "/plugins/systemd/services/ssh.service",
                        "/plugins/systemd/timers/multi/on_calendar",
                        "/plugins/systemd/timers/t",
                        "/plugins/systemd/timers/u.service",
                    });

  Diagnostics none;
  plugin->check(
      doc(R"({"services": {"ssh": {"state": "enabled", "running": true}, "docker.socket": {"state": "enabled"},
                                     "apt-daily.timer": {"state": "disabled"}},
                        "timers": {"backup": {"on_calendar": "daily"}},
                        "custom_units": {"a.service": {"content": "[Service]\nExecStart=/bin/a\n[Install]\nWantedBy=multi-user.target\n",
                                                       "enabled": true}}})"),
      "s.json", "/plugins/systemd", none);
  CHECK(none.empty());
}

TEST_CASE("apply runs a new custom unit and timer in order, then nothing is left", "[systemd]") {
  FakeHost host;
  host.backend->states["ssh.service"] = "disabled";
  auto desired = doc(R"({
    "services": {"ssh": {"state": "enabled", "running": true}},
    "custom_units": {"job.service": {"content": "[Service]\nType=oneshot\nExecStart=/bin/true\n"}},
    "timers": {"job": {"on_calendar": "daily", "description": "Daily job"}}})");
  // The fake's unit file states follow the files, as systemd's would after a reload.
  host.backend->states["job.timer"] = "disabled";
  host.backend->states["job.service"] = "static";
  host.apply(desired);
  // One enable call for both units, and one daemon-reload, held until a start needs it.
  CHECK(host.changes() == std::vector<std::string>{
                              "write /etc/systemd/system/job.service",
                              "write /etc/systemd/system/job.timer",
                              "enable ssh.service job.timer",
                              "daemon-reload",
                              "start ssh.service job.timer",
                          });
  CHECK(host.backend->files.at("/etc/systemd/system/job.timer").find("OnCalendar=daily\n") !=
        std::string::npos);
  CHECK(host.plan(desired).empty());

  // Drift behind op-dbus's back is seen and put right.
  host.backend->calls.clear();
  host.backend->active.erase("ssh.service");
  host.backend->states["job.timer"] = "disabled";
  CHECK(summaries(host.plan(desired)) == std::vector<std::string>{"enable job.timer", "start ssh.service"});
  host.backend->calls.clear();
  host.apply(desired);
  CHECK(host.changes() == std::vector<std::string>{"enable job.timer", "daemon-reload", "start ssh.service"});
  CHECK(host.plan(desired).empty());
}

TEST_CASE("apply: a failing start carries the backend's reason; enabling a static unit is an error",
          "[systemd]") {
  FakeHost host;
  host.backend->fail_start = "bad.service";
  auto desired = doc(R"({"custom_units": {"bad.service": {"content": "[Service]\nExecStart=/bin/false\n",
                                                           "running": true}}})");
  auto actions = host.plan(desired);
  REQUIRE(actions.size() == 3);
  host.plugin->apply(host.ctx, actions[0]);
  host.plugin->apply(host.ctx, actions[1]);
  CHECK_THROWS_WITH(host.plugin->apply(host.ctx, actions[2]), Catch::Contains("ExecMainStatus=1"));

  host.backend->states["static.service"] = "static";
  auto enable = host.plan(doc(R"({"services": {"static": {"state": "enabled"}}})"));
  REQUIRE(enable.size() == 1);
  CHECK_THROWS_WITH(host.plugin->apply(host.ctx, enable[0]), Catch::Contains("no [Install] section"));
}

TEST_CASE("show lists services, custom units and managed timers, and plans to nothing", "[systemd]") {
  FakeHost host;
  auto& b = *host.backend;
  b.states = {{"ssh.service", "enabled"},    {"cron.service", "disabled"}, {"gone.service", "masked"},
              {"getty@.service", "enabled"}, {"dbus.service", "static"},   {"app.service", "enabled"},
              {"backup.timer", "enabled"},   {"other.timer", "enabled"}};
  b.active = {"ssh.service", "app.service", "backup.timer"};
  b.files["/etc/systemd/system/app.service"] =
      "[Service]\nExecStart=/bin/app\n[Install]\nWantedBy=multi-user.target\n";
  b.files["/etc/systemd/system/app.service.d/10-env.conf"] = "[Service]\nEnvironment=A=1\n";
  b.files["/etc/systemd/system/backup.timer"] = render_timer("backup.timer", {"daily", "", "", true});
  b.files["/etc/systemd/system/other.timer"] = "[Timer]\nOnCalendar=weekly\n";
  b.files["/etc/systemd/system/ssh.service.d/override.conf"] = "[Service]\nNice=1\n";
  JsonDoc shown = host.plugin->query(host.ctx, nullptr);
  auto expected = doc(R"({
    "services": {"cron.service": {"state": "disabled", "running": false},
                 "gone.service": {"state": "masked", "running": false},
                 "ssh.service": {"state": "enabled", "running": true,
                                 "dropins": {"override.conf": "[Service]\nNice=1\n"}}},
    "timers": {"backup.timer": {"on_calendar": "daily", "persistent": true, "state": "enabled", "running": true}},
    "custom_units": {
      "app.service": {"content": "[Service]\nExecStart=/bin/app\n[Install]\nWantedBy=multi-user.target\n",
                      "enabled": true, "running": true,
                      "dropins": {"10-env.conf": "[Service]\nEnvironment=A=1\n"}},
      "other.timer": {"content": "[Timer]\nOnCalendar=weekly\n", "enabled": true, "running": false}}})");
  INFO(to_pretty_json(shown));
  CHECK(json_equal(shown, expected));
  CHECK(host.plan(shown).empty());
}

TEST_CASE("apply: enablement changes without a job reload once, at the end of the run", "[systemd]") {
  FakeHost host;
  host.backend->states = {{"a.service", "disabled"},
                          {"b.service", "disabled"},
                          {"c.service", "enabled"},
                          {"d.service", "masked"}};
  auto desired = doc(R"({"services": {"a": {"state": "enabled"}, "b": {"state": "enabled"},
                                       "c": {"state": "disabled"}, "d": {"state": "enabled"}}})");
  host.apply(desired);
  CHECK(host.changes() == std::vector<std::string>{"unmask d.service", "enable a.service b.service d.service",
                                                   "disable c.service", "daemon-reload"});
  CHECK(host.plan(desired).empty());

  // Without the run handed over first, each action stands alone (and reloads after itself).
  host.backend->calls.clear();
  host.backend->states["a.service"] = "disabled";
  for (const auto& a : host.plan(desired)) host.plugin->apply(host.ctx, a);
  CHECK(host.changes() == std::vector<std::string>{"enable a.service", "daemon-reload"});
}

TEST_CASE("apply: in a batch, a unit that cannot be enabled fails on its own action", "[systemd]") {
  FakeHost host;
  host.backend->states = {{"a.service", "disabled"}, {"s.service", "static"}, {"z.service", "disabled"}};
  auto actions = host.plan(doc(R"({"services": {"a": {"state": "enabled"}, "s": {"state": "enabled"},
                                                 "z": {"state": "enabled"}}})"));
  REQUIRE(actions.size() == 3);
  host.plugin->begin_apply(host.ctx, actions);
  host.plugin->apply(host.ctx, actions[0]);  // enables all three in one call; a.service is fine
  CHECK_THROWS_WITH(host.plugin->apply(host.ctx, actions[1]), Catch::Contains("no [Install] section"));
  CHECK(host.changes() == std::vector<std::string>{"enable a.service s.service z.service", "daemon-reload"});
}

TEST_CASE("plan: a no-op plan reads only what the document asks for, in one call each", "[systemd]") {
  FakeHost host;
  host.backend->states = {{"a.service", "enabled"}, {"b.service", "enabled"}, {"c.service", "disabled"}};
  host.backend->active = {"a.service"};
  // No `running` anywhere: no active state is read at all.
  CHECK(host.plan(doc(R"({"services": {"a": {"state": "enabled"}, "b": {"state": "enabled"},
                                       "c": {"state": "disabled"}}})"))
            .empty());
  CHECK(host.backend->calls == std::vector<std::string>{"unit-file-states a.service b.service c.service"});
  // `running` on one: one batched read, for that unit only.
  host.backend->calls.clear();
  CHECK(
      host.plan(
              doc(R"({"services": {"a": {"state": "enabled", "running": true}, "b": {"state": "enabled"}}})"))
          .empty());
  CHECK(host.backend->calls ==
        std::vector<std::string>{"unit-file-states a.service b.service", "active-of a.service"});
}

TEST_CASE("diff: 20,000 items in sync, half named without the suffix, plan to nothing", "[systemd]") {
  // Items are matched through an index by normalised name; how that scales is measured by
  // bench/systemd-scale.sh, never asserted here.
  JsonDoc desired(rapidjson::kObjectType), current(rapidjson::kObjectType);
  auto& da = desired.GetAllocator();
  auto& ca = current.GetAllocator();
  JsonValue want(rapidjson::kObjectType), have(rapidjson::kObjectType);
  for (int i = 0; i < 20000; ++i) {
    std::string name = "u" + std::to_string(i);
    JsonValue w(rapidjson::kObjectType), h(rapidjson::kObjectType);
    w.AddMember("state", "enabled", da);
    h.AddMember("state", "enabled", ca);
    want.AddMember(str_value(i % 2 ? name : name + ".service", da), w, da);
    have.AddMember(str_value(name + ".service", ca), h, ca);
  }
  desired.AddMember("services", want, da);
  current.AddMember("services", have, ca);
  CHECK(diff_section(desired, current).empty());
}

TEST_CASE("check: names that would reach a path or a file line are refused", "[systemd]") {
  auto plugin = make_systemd_plugin();
  JsonDoc section(rapidjson::kObjectType);
  auto& a = section.GetAllocator();
  JsonValue services(rapidjson::kObjectType), customs(rapidjson::kObjectType);
  JsonValue dropins(rapidjson::kObjectType);
  dropins.AddMember("10-a\nExecStart=/bin/evil.conf", "x", a);
  dropins.AddMember("../x.conf", "x", a);
  dropins.AddMember(".hidden.conf", "x", a);
  JsonValue ssh(rapidjson::kObjectType);
  ssh.AddMember("dropins", dropins, a);
  services.AddMember("ssh", ssh, a);
  services.AddMember(str_value(std::string(292, 'a') + ".service", a), JsonValue(rapidjson::kObjectType), a);
  services.AddMember("a\nb", JsonValue(rapidjson::kObjectType), a);
  customs.AddMember("../x.service", JsonValue(rapidjson::kObjectType), a);
  customs.AddMember("a/b.service", JsonValue(rapidjson::kObjectType), a);
  section.AddMember("services", services, a);
  section.AddMember("custom_units", customs, a);
  Diagnostics out;
  plugin->check(section, "s.json", "", out);
  std::vector<std::string> pointers;
  for (const auto& d : out) pointers.push_back(d.pointer);
  std::sort(pointers.begin(), pointers.end());
  CHECK(pointers == std::vector<std::string>{
                        "/custom_units/..~1x.service",
                        "/custom_units/a~1b.service",
                        "/services/a\nb",
                        "/services/" + std::string(292, 'a') + ".service",
                        "/services/ssh/dropins/..~1x.conf",
                        "/services/ssh/dropins/.hidden.conf",
                        "/services/ssh/dropins/10-a\nExecStart=~1bin~1evil.conf",
                    });
}

TEST_CASE("apply: starts of one step go in one call; a failed job fails its own unit's action", "[systemd]") {
  FakeHost host;
  host.backend->states = {{"a.service", "enabled"}, {"b.service", "enabled"}, {"c.service", "enabled"}};
  host.backend->fail_start = "b.service";
  auto actions = host.plan(doc(R"({"services": {"a": {"running": true}, "b": {"running": true},
                                                 "c": {"running": true}}})"));
  REQUIRE(actions.size() == 3);
  host.plugin->begin_apply(host.ctx, actions);
  host.plugin->apply(host.ctx, actions[0]);
  CHECK_THROWS_WITH(host.plugin->apply(host.ctx, actions[1]), Catch::Contains("ExecMainStatus=1"));
  host.plugin->apply(host.ctx, actions[2]);  // already started by the batched call
  CHECK(host.changes() == std::vector<std::string>{"start a.service b.service c.service"});
  CHECK(host.backend->active == std::set<std::string>{"a.service", "c.service"});
}
