// The lxc plugin's pure half and its wiring: parse + normalise (equivalent forms compare equal), check
// (hostile names, paths, raw keys), the diff (create, start, stop, live limits, restart semantics, destroy,
// clone ordering, plan errors), query's refusals, and apply against a recording fake backend until a second
// plan is empty.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "context.h"
#include "error.h"
#include "lxc/apply.h"
#include "lxc/diff.h"
#include "lxc/model.h"
#include "lxc/ops.h"
#include "lxc/plugin.h"
#include "lxc/query.h"
#include "sys/lxc.h"
#include "tap_skip.h"
#include "temp_dir.h"

using namespace opdbus;
using namespace opdbus::lxc;

namespace {

std::vector<std::string> problems_of(const std::string& text) {
  JsonDoc d = parse_json(text);
  std::vector<std::string> out;
  for (const auto& p : section_problems(d)) {
    out.push_back(json_pointer(p.tokens) + ": " + p.message +
                  (p.expected.empty() ? "" : " expected " + p.expected));
  }
  return out;
}

bool mentions(const std::vector<std::string>& problems, const std::string& text) {
  for (const auto& p : problems) {
    if (p.find(text) != std::string::npos) return true;
  }
  return false;
}

std::vector<Action> plan(const std::string& desired, const std::string& current) {
  JsonDoc d = parse_json(desired);
  JsonDoc c = parse_json(current);
  return diff_section(d, c);
}

std::vector<std::string> summaries(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) out.push_back(a.summary);
  return out;
}

// A host of containers in memory; every call is recorded.
class FakeBackend : public Backend {
 public:
  std::map<std::string, Container> containers;
  std::vector<std::string> calls;
  std::string backend_kind = "liblxc";
  unsigned cpus = 4;

  std::string describe() override { return "fake"; }
  std::string kind() const override { return backend_kind; }
  std::string default_lxcpath() override { return "/var/lib/lxc"; }
  unsigned host_cpus() override { return cpus; }
  std::set<std::string> missing_dirs;
  bool host_directory(const std::string& path) override { return !missing_dirs.count(path); }
  std::map<std::string, Container> list(const std::string& lxcpath, const std::set<std::string>& names,
                                        const std::set<std::string>& raw_keys) override {
    calls.push_back("list " + lxcpath);
    std::map<std::string, Container> out;
    for (auto [name, c] : containers) {
      if (!names.empty() && !names.count(name)) continue;
      std::map<std::string, std::string> raw;
      for (const auto& k : raw_keys)
        if (c.raw.count(k)) raw[k] = c.raw[k];
      c.raw = raw;
      out[name] = c;
    }
    return out;
  }
  void create(const std::string& lxcpath, const std::string& name, const Container& spec) override {
    calls.push_back("create " + lxcpath + " " + name + (spec.clone_from ? " clone " + *spec.clone_from : ""));
    Container c;
    c.state = State::Stopped;
    c.autostart = false;
    c.idmap = spec.idmap;
    containers[name] = c;
    write(name, spec);
  }
  void configure(const std::string&, const std::string& name, const Container& spec, bool live) override {
    calls.push_back("configure " + name + (live ? " live" : ""));
    write(name, spec);
  }
  void start(const std::string&, const std::string& name, const std::string& wait_ip) override {
    calls.push_back("start " + name + (wait_ip.empty() ? "" : " " + wait_ip));
    containers.at(name).state = State::Started;
  }
  void stop(const std::string&, const std::string& name) override {
    calls.push_back("stop " + name);
    containers.at(name).state = State::Stopped;
  }
  void destroy(const std::string&, const std::string& name) override {
    calls.push_back("destroy " + name);
    containers.erase(name);
  }

 private:
  void write(const std::string& name, const Container& spec) {
    Container& c = containers.at(name);
    if (spec.memory) c.memory = spec.memory;
    if (spec.cpus) c.cpus = spec.cpus;
    if (spec.autostart) c.autostart = spec.autostart;
    if (spec.network) c.network = spec.network;
    if (spec.mounts) c.mounts = spec.mounts;
    for (const auto& [k, v] : spec.raw) c.raw[k] = v;
  }
};

struct Host {
  FakeBackend* fake = nullptr;
  std::unique_ptr<Plugin> plugin;
  Context ctx{Options{}};
  Host() {
    auto owned = std::make_shared<FakeBackend>();
    fake = owned.get();
    plugin = make_plugin([owned](Context&) {
      // Every call gets a view of the same fake host.
      struct View : Backend {
        std::shared_ptr<FakeBackend> b;
        std::string describe() override { return b->describe(); }
        std::string kind() const override { return b->kind(); }
        std::string default_lxcpath() override { return b->default_lxcpath(); }
        unsigned host_cpus() override { return b->host_cpus(); }
        bool host_directory(const std::string& p) override { return b->host_directory(p); }
        std::map<std::string, Container> list(const std::string& p, const std::set<std::string>& n,
                                              const std::set<std::string>& r) override {
          return b->list(p, n, r);
        }
        void create(const std::string& p, const std::string& n, const Container& s) override {
          b->create(p, n, s);
        }
        void configure(const std::string& p, const std::string& n, const Container& s, bool l) override {
          b->configure(p, n, s, l);
        }
        void start(const std::string& p, const std::string& n, const std::string& w) override {
          b->start(p, n, w);
        }
        void stop(const std::string& p, const std::string& n) override { b->stop(p, n); }
        void destroy(const std::string& p, const std::string& n) override { b->destroy(p, n); }
      };
      auto v = std::make_unique<View>();
      v->b = owned;
      return v;
    });
  }
  std::vector<Action> plan(const std::string& desired) {
    JsonDoc d = parse_json(desired);
    JsonDoc current = plugin->query(ctx, &d);
    return plugin->diff(d, current);
  }
  // Applies every action that is not observe-only; returns the plan it applied.
  std::vector<Action> apply(const std::string& desired) {
    auto actions = plan(desired);
    std::stable_sort(actions.begin(), actions.end(),
                     [](const Action& a, const Action& b) { return action_less(a, b, 0, 0); });
    for (const auto& a : actions) {
      if (!a.observe) plugin->apply(ctx, a);
    }
    return actions;
  }
};

const char* kRoadmap = R"({"containers": {"web-server": {"template": "debian-12", "config": {"memory": "2G",
  "cpus": 2, "network": {"bridge": "vmbr0", "ip": "192.168.1.101/24", "gateway": "192.168.1.1"}},
  "autostart": true, "state": "started"}}})";

}  // namespace

TEST_CASE("sizes: equivalent forms are one size, and print in their shortest exact form") {
  auto size = [](const std::string& json) { return parse_size(parse_json(json)); };
  CHECK(size("\"2G\"") == 2ull << 30);
  CHECK(size("\"2048M\"") == 2ull << 30);
  CHECK(size("\"2GiB\"") == 2ull << 30);
  CHECK(size("\"2gb\"") == 2ull << 30);
  CHECK(size("2048") == 2ull << 30);
  CHECK(size("\"2048\"") == 2ull << 30);
  CHECK(size("\"1.5G\"") == 1536ull << 20);
  CHECK(size("\"4096B\"") == 4096u);
  CHECK_FALSE(size("\"2X\""));
  CHECK_FALSE(size("0"));
  CHECK_FALSE(size("\"-1G\""));
  CHECK_FALSE(size("\"1..5G\""));
  CHECK(size_text(2ull << 30) == "2G");
  CHECK(size_text(1536ull << 20) == "1536M");
  CHECK(size_text(1000) == "1000B");
}

TEST_CASE("the roadmap's container validates and parses") {
  CHECK(problems_of(kRoadmap).empty());
  JsonDoc d = parse_json(kRoadmap);
  Section s = parse_section(d, nullptr);
  const Container& c = s.containers.at("web-server");
  CHECK(c.memory == 2ull << 30);
  CHECK(c.cpus == 2);
  CHECK(c.network->bridge == "vmbr0");
  CHECK(c.network->ip == "192.168.1.101/24");
  CHECK(c.autostart == true);
  CHECK(c.state == State::Started);
}

TEST_CASE("hostile names and values are refused by check") {
  auto bad = [](const std::string& containers) {
    return problems_of(std::string(R"({"containers": )") + containers + "}");
  };
  CHECK(mentions(bad(R"({"a/b": {}})"), "/containers/a~1b"));
  CHECK(mentions(bad(R"({"a\nb": {}})"), "container name"));
  CHECK(mentions(bad(R"({"-rf": {}})"), "container name"));
  CHECK(mentions(bad(R"({"..": {}})"), "container name"));
  CHECK(mentions(bad("{\"" + std::string(200, 'x') + "\": {}}"), "container name"));
  CHECK(mentions(bad(R"({"c": {"config": {"network": {"bridge": "br0\nx"}}}})"), "interface name"));
  CHECK(mentions(bad(R"({"c": {"config": {"network": {"bridge": "a-very-long-bridge0"}}}})"),
                 "interface name"));
  CHECK(mentions(bad(R"({"c": {"config": {"network": {"bridge": "br0", "ip": "10.0.0.300/24"}}}})"), "/ip"));
  CHECK(mentions(bad(R"({"c": {"config": {"network": {"bridge": "br0", "ip": "10.0.0.3/33"}}}})"), "/ip"));
  CHECK(mentions(
      bad(R"({"c": {"config": {"network": {"bridge": "br0", "gateway": "fe80::1", "ip": "10.0.0.3/24"}}}})"),
      "different families"));
  CHECK(mentions(bad(R"({"c": {"config": {"network": {"ip": "10.0.0.3/24"}}}})"), "needs a bridge"));
  CHECK(mentions(bad(R"({"c": {"config": {"raw": {"lxc.apparmor.profile": "unconfined\nlxc.cap.drop ="}}}})"),
                 "without a newline"));
  CHECK(mentions(bad(R"({"c": {"config": {"raw": {"lxc.net.0.link": "br1"}}}})"), "config.network"));
  CHECK(mentions(bad(R"({"c": {"config": {"raw": {"lxc.include": "/etc/shadow"}}}})"),
                 "not an allowed raw key"));
  CHECK(mentions(bad(R"({"c": {"config": {"raw": {"lxc.hook.pre-start": "/bin/sh"}}}})"), "expected an lxc"));
  CHECK(mentions(bad(R"({"c": {"config": {"raw": {"lxc.cgroup.devices.allow": "a"}}}})"), "device access"));
  CHECK(problems_of(R"({"containers": {"c": {"config": {"raw": {"lxc.apparmor.profile": "unconfined",
      "lxc.cgroup.pids.max": "100", "lxc.sysctl.net.ipv4.ip_forward": "1"}}}}})")
            .empty());
  CHECK(mentions(bad(R"({"c": {"config": {"mounts": [{"source": "srv", "target": "/srv"}]}}})"),
                 "absolute host path"));
  CHECK(mentions(bad(R"({"c": {"config": {"mounts": [{"source": "/srv/../etc", "target": "/srv"}]}}})"),
                 "source"));
  CHECK(mentions(bad(R"({"c": {"config": {"mounts": [{"source": "/", "target": "/srv"}]}}})"), "source"));
  CHECK(mentions(bad(R"({"c": {"config": {"mounts": [{"source": "/proc/1", "target": "/srv"}]}}})"),
                 "under /proc"));
  CHECK(mentions(bad(R"({"c": {"config": {"mounts": [{"source": "/srv/a b", "target": "/srv"}]}}})"),
                 "source"));
  CHECK(
      mentions(bad(R"({"c": {"config": {"mounts": [{"source": "/srv/a", "target": "/x\ny"}]}}})"), "target"));
  CHECK(mentions(bad(R"({"c": {"config": {"mounts": [{"source": "/srv/a", "target": "/x"},
      {"source": "/srv/b", "target": "/x"}]}}})"),
                 "two mounts"));
  CHECK(mentions(bad(R"({"c": {"template": "ubuntu-22"}})"), "/template"));
  CHECK(mentions(bad(R"({"c": {"template": "debian-12", "clone_from": "g"}})"), "not both"));
  CHECK(mentions(bad(R"({"c": {"clone_from": "c"}})"), "itself"));
  CHECK(mentions(bad(R"({"c": {"clone_from": "-g"}})"), "clone_from"));
  CHECK(
      mentions(bad(R"({"c": {"config": {"idmap": [{"type": "x", "container": 0, "host": 1, "count": 1}]}}})"),
               "type"));
  CHECK(mentions(
      bad(R"({"c": {"config": {"idmap": [{"type": "u", "container": 0, "host": 1000, "count": 65536}]}}})"),
      "overlap"));
  CHECK(
      problems_of(R"({"containers": {"c": {"config": {"idmap": [{"type": "u", "container": 0, "host": 100000,
      "count": 65536}, {"type": "g", "container": 0, "host": 100000, "count": 65536}]}}}})")
          .empty());
  CHECK(mentions(problems_of(R"({"lxcpath": "/var/lib/../etc", "containers": {}})"), "/lxcpath"));
}

TEST_CASE("a missing container is created, configured and started, waiting for its address") {
  auto actions = plan(kRoadmap, R"({"lxcpath": "/var/lib/lxc", "containers": {}})");
  REQUIRE(actions.size() == 2);
  CHECK(actions[0].op == Op::Create);
  CHECK(actions[0].summary == "create container web-server from template debian-12");
  CHECK(actions[1].op == Op::Start);
  CHECK(actions[1].summary == "start container web-server and wait for 192.168.1.101/24 inside");
  CHECK(actions[0].order < actions[1].order);
  auto& create = std::get<CreateContainer>(operation_of<Ops>(actions[0].operation, "x"));
  CHECK(create.target.lxcpath == "/var/lib/lxc");
  CHECK(create.spec.memory == 2ull << 30);
}

TEST_CASE("in sync: equivalent forms and creation-only fields make no action") {
  const char* current =
      R"({"lxcpath": "/var/lib/lxc", "containers": {"web-server": {"config": {"memory": "2G",
    "cpus": 2, "network": {"bridge": "vmbr0", "ip": "192.168.1.101/24", "gateway": "192.168.1.1"}},
    "autostart": true, "state": "started"}}})";
  CHECK(plan(kRoadmap, current).empty());
  // 2048 MiB is 2G; a template, storage and clone source only matter when a container is made.
  CHECK(plan(R"({"containers": {"web-server": {"template": "debian-13", "storage": "btrfs",
    "config": {"memory": 2048, "network": {"bridge": "vmbr0", "ip": "192.168.1.101/24"}}}}})",
             current)
            .empty());
}

TEST_CASE("memory and cpus change live on a running container; autostart in the config") {
  const char* current = R"({"containers": {"c": {"config": {"memory": "512M", "cpus": 1}, "autostart": false,
    "state": "started"}}})";
  auto actions =
      plan(R"({"containers": {"c": {"config": {"memory": "1G", "cpus": 2}, "autostart": true}}})", current);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].summary == "set memory 512M -> 1G, cpus 1 -> 2, autostart on of container c (live)");
  CHECK_FALSE(actions[0].needs_reboot);
  CHECK(std::get<SetLimits>(operation_of<Ops>(actions[0].operation, "x")).live);
}

TEST_CASE("a network change on a running container needs a restart, done only when allowed") {
  const char* current =
      R"({"containers": {"c": {"config": {"network": {"bridge": "br0"}}, "state": "started"}}})";
  auto never = plan(R"({"containers": {"c": {"config": {"network": {"bridge": "br1"}}}}})", current);
  REQUIRE(never.size() == 1);
  CHECK(never[0].needs_reboot);
  CHECK(never[0].observe);  // reported, never applied
  CHECK(never[0].summary.find("pending") != std::string::npos);
  auto allowed = plan(
      R"({"containers": {"c": {"config": {"network": {"bridge": "br1"}}, "restart": "allowed"}}})", current);
  REQUIRE(allowed.size() == 1);
  CHECK(allowed[0].needs_reboot);
  CHECK_FALSE(allowed[0].observe);
  CHECK(std::get<Reconfigure>(operation_of<Ops>(allowed[0].operation, "x")).restart);
  // A stopped container is only reconfigured, then started.
  auto stopped =
      plan(R"({"containers": {"c": {"config": {"network": {"bridge": "br1"}}}}})",
           R"({"containers": {"c": {"config": {"network": {"bridge": "br0"}}, "state": "stopped"}}})");
  REQUIRE(stopped.size() == 2);
  CHECK_FALSE(stopped[0].needs_reboot);
  CHECK(stopped[1].op == Op::Start);
}

TEST_CASE("stop, start, and destroy flagged destructive") {
  CHECK(summaries(plan(R"({"containers": {"c": {"state": "stopped"}}})",
                       R"({"containers": {"c": {"state": "started"}}})")) ==
        std::vector<std::string>{"stop container c (clean shutdown, then forced)"});
  CHECK(summaries(plan(R"({"containers": {"c": {}}})", R"({"containers": {"c": {"state": "stopped"}}})")) ==
        std::vector<std::string>{"start container c"});
  auto d =
      plan(R"({"containers": {"c": {"state": "absent"}}})", R"({"containers": {"c": {"state": "started"}}})");
  REQUIRE(d.size() == 1);
  CHECK(d[0].destructive);
  CHECK(d[0].op == Op::Delete);
  CHECK(plan(R"({"containers": {"c": {"state": "absent"}}})", R"({"containers": {}})").empty());
}

TEST_CASE("plan errors: nothing to create from, a clone of nothing, an idmap change") {
  CHECK_THROWS_WITH(plan(R"({"containers": {"c": {}}})", R"({"containers": {}})"),
                    Catch::Contains("lxc/containers/c") && Catch::Contains("template"));
  CHECK_THROWS_WITH(plan(R"({"containers": {"c": {"clone_from": "gold"}}})", R"({"containers": {}})"),
                    Catch::Contains("gold"));
  CHECK_THROWS_WITH(plan(R"({"containers": {"c": {"clone_from": "gold"}, "gold": {"state": "absent"}}})",
                         R"({"containers": {"gold": {"state": "stopped"}}})"),
                    Catch::Contains("destroys"));
  CHECK_THROWS_WITH(
      plan(
          R"({"containers": {"c": {"config": {"idmap": [{"type": "u", "container": 0, "host": 100000, "count": 65536}]}}}})",
          R"({"containers": {"c": {"state": "stopped"}}})"),
      Catch::Contains("id map"));
  CHECK_THROWS_AS(plan(R"({"containers": {"a/b": {}}})", R"({"containers": {}})"), Error);
}

TEST_CASE("a clone of a golden container made in the same plan runs after it") {
  auto actions = plan(R"({"containers": {"a-clone": {"clone_from": "gold", "state": "stopped"},
    "gold": {"template": "debian-12", "state": "stopped"}}})",
                      R"({"containers": {}})");
  REQUIRE(actions.size() == 2);
  std::stable_sort(actions.begin(), actions.end(),
                   [](const Action& a, const Action& b) { return action_less(a, b, 0, 0); });
  CHECK(actions[0].item[1] == "gold");
  CHECK(actions[1].item[1] == "a-clone");
}

TEST_CASE("query refuses what this backend can never do, before anything is applied") {
  Host h;
  CHECK_THROWS_WITH(h.plan(R"({"containers": {"c": {"template": "local:vztmpl/debian-12.tar.zst"}}})"),
                    Catch::Contains("Proxmox"));
  CHECK_THROWS_WITH(h.plan(R"({"containers": {"c": {"template": "debian-12", "storage": "local-lvm"}}})"),
                    Catch::Contains("local-lvm"));
  CHECK_THROWS_WITH(h.plan(R"({"containers": {"c": {"template": "debian-12", "config": {"rootfs": "8G"}}}})"),
                    Catch::Contains("rootfs"));
  CHECK_THROWS_WITH(h.plan(R"({"containers": {"c": {"template": "debian-12", "config": {"cpus": 64}}}})"),
                    Catch::Contains("4 CPU"));
  h.fake->missing_dirs.insert("/srv/none");
  CHECK_THROWS_WITH(
      h.plan(R"({"containers": {"c": {"template": "debian-12", "config": {"mounts": [{"source": "/srv/none",
    "target": "/srv"}]}}}})"),
      Catch::Contains("\"/srv/none\" is not a directory"));
  h.fake->backend_kind = "pct";
  CHECK_NOTHROW(h.plan(R"({"containers": {"c": {"template": "debian-12", "storage": "local-lvm",
    "config": {"rootfs": "8G"}}}})"));
  CHECK_THROWS_WITH(
      h.plan(R"({"containers": {"c": {"template": "debian-12", "config": {"raw": {"lxc.tty.max": "2"}}}}})"),
      Catch::Contains("raw"));
  CHECK(h.fake->calls.empty() == false);
  for (const auto& c : h.fake->calls) CHECK(c.rfind("list", 0) == 0);  // nothing but listings
}

TEST_CASE("apply converges: create, drift, live change, restart, destroy; each second plan is empty") {
  Host h;
  const std::string doc =
      R"({"lxcpath": "/var/lib/op-dbus-tests/lxc-unit", "containers": {"web": {"template": "debian-12",
    "config": {"memory": "512M", "cpus": 1, "network": {"bridge": "lxcbr-t0", "ip": "10.0.3.5/24"},
    "mounts": [{"source": "/srv/data", "target": "/srv/data", "read_only": true}],
    "raw": {"lxc.tty.max": "2"}}, "autostart": true}}})";
  h.apply(doc);
  CHECK(h.fake->calls == std::vector<std::string>{"list /var/lib/op-dbus-tests/lxc-unit",
                                                  "create /var/lib/op-dbus-tests/lxc-unit web",
                                                  "start web 10.0.3.5/24"});
  CHECK(h.plan(doc).empty());
  // Drift: stopped behind op-dbus's back.
  h.fake->containers["web"].state = State::Stopped;
  auto drift = h.plan(doc);
  REQUIRE(drift.size() == 1);
  CHECK(drift[0].op == Op::Start);
  h.apply(doc);
  CHECK(h.plan(doc).empty());
  // Live memory change.
  std::string bigger = doc;
  bigger.replace(bigger.find("512M"), 4, "1G");
  h.fake->calls.clear();
  h.apply(bigger);
  CHECK(h.fake->calls.back() == "configure web live");
  CHECK(h.plan(bigger).empty());
  // A bridge change: pending without "restart": "allowed", applied with it.
  std::string moved = bigger;
  moved.replace(moved.find("lxcbr-t0"), 8, "lxcbr-t1");
  h.fake->calls.clear();
  h.apply(moved);
  CHECK(h.fake->calls == std::vector<std::string>{"list /var/lib/op-dbus-tests/lxc-unit"});
  std::string allowed = moved;
  allowed.replace(allowed.find("\"autostart\""), 0, "\"restart\": \"allowed\", ");
  h.fake->calls.clear();
  h.apply(allowed);
  CHECK(h.fake->calls == std::vector<std::string>{"list /var/lib/op-dbus-tests/lxc-unit", "configure web",
                                                  "stop web", "start web 10.0.3.5/24"});
  CHECK(h.plan(allowed).empty());
  // Destroy.
  h.apply(R"({"lxcpath": "/var/lib/op-dbus-tests/lxc-unit", "containers": {"web": {"state": "absent"}}})");
  CHECK(h.fake->containers.empty());
}

TEST_CASE("a clone of a container the document does not name is planned from the listing") {
  Host h;
  h.apply(R"({"containers": {"gold": {"template": "debian-12", "state": "stopped"}}})");
  const char* doc = R"({"containers": {"copy": {"clone_from": "gold", "state": "stopped"}}})";
  auto actions = h.plan(doc);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].summary == "create container copy from a clone of gold");
  h.apply(doc);
  CHECK(h.fake->calls.back() == "create /var/lib/lxc copy clone gold");
  CHECK(h.plan(doc).empty());
}

TEST_CASE("show lists every container and plans to empty") {
  Host h;
  h.apply(
      R"({"containers": {"a": {"template": "debian-12", "config": {"memory": 256}}, "b": {"template": "debian-12", "state": "stopped"}}})");
  JsonDoc shown = h.plugin->query(h.ctx, nullptr);
  std::string text = to_json(shown);
  CHECK(text.find("\"a\"") != std::string::npos);
  CHECK(text.find("\"b\"") != std::string::npos);
  CHECK(text.find("256M") != std::string::npos);
  CHECK(problems_of(text).empty());
  CHECK(h.plan(text).empty());
}

TEST_CASE("--root is refused, said by the probe") {
  Options o;
  o.root = "/tmp";
  Context ctx(o);
  auto plugin = make_plugin([](Context&) -> std::unique_ptr<Backend> { return nullptr; });
  auto p = plugin->probe(ctx);
  CHECK_FALSE(p.available);
  CHECK(p.detail.find("--root") != std::string::npos);
}

TEST_CASE("shift_ownership moves a tree into the host ids without following symlinks out of it") {
  if (::geteuid() != 0) SKIP("needs root (chown)");
  TempDir t("lxc-shift");
  namespace fs = std::filesystem;
  fs::create_directories(t.path / "tree/etc");
  fs::create_directories(t.path / "outside");
  std::ofstream(t.path / "tree/etc/passwd") << "root:x:0:0::/root:/bin/sh\n";
  std::ofstream(t.path / "tree/su") << "#!/bin/sh\n";
  std::ofstream(t.path / "outside/secret") << "host\n";
  REQUIRE(::chown((t.path / "tree/etc/passwd").c_str(), 0, 42) == 0);
  REQUIRE(::chown((t.path / "tree/su").c_str(), 0, 0) == 0);
  REQUIRE(::chmod((t.path / "tree/su").c_str(), 04755) == 0);  // after chown, which clears it
  fs::create_symlink(t.path / "outside/secret", t.path / "tree/abs-link");
  fs::create_symlink("../outside", t.path / "tree/rel-dir-link");
  fs::create_symlink("/", t.path / "tree/root-link");

  std::vector<sys::lxc::IdRange> maps = {{true, 0, 100000, 65536}, {false, 0, 100000, 65536}};
  size_t n = sys::lxc::shift_ownership((t.path / "tree").string(), maps);
  CHECK(n == 7);  // tree, etc, passwd, su and the three links themselves
  struct stat st;
  REQUIRE(::stat((t.path / "tree/etc/passwd").c_str(), &st) == 0);
  CHECK(st.st_uid == 100000);
  CHECK(st.st_gid == 100042);
  REQUIRE(::stat((t.path / "tree/su").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 04755);  // setuid kept
  REQUIRE(::lstat((t.path / "tree/abs-link").c_str(), &st) == 0);
  CHECK(st.st_uid == 100000);  // the link itself
  // Nothing a link points to changed.
  REQUIRE(::stat((t.path / "outside/secret").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
  REQUIRE(::stat((t.path / "outside").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
  REQUIRE(::stat("/", &st) == 0);
  CHECK(st.st_uid == 0);
  // A second run changes nothing: every id is now outside the container range.
  CHECK(sys::lxc::shift_ownership((t.path / "tree").string(), maps) == 0);
}
