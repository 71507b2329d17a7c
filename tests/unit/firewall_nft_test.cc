// src/sys/nftables and the firewall's live apply against the real kernel, in a network namespace of this
// process's own (unshare(CLONE_NEWNET): the host's ruleset is never touched). Needs root; skipped otherwise.
#include <sched.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "context.h"
#include "error.h"
#include "firewall/apply.h"
#include "firewall/diff.h"
#include "firewall/model.h"
#include "firewall/query.h"
#include "sys/nftables.h"
#include "tap_skip.h"

using namespace opdbus;

namespace {

// Moves the whole test process into a fresh network namespace, once.
bool private_netns() {
  static int done = -1;
  if (done < 0) done = geteuid() == 0 && unshare(CLONE_NEWNET) == 0 ? 1 : 0;
  return done == 1;
}

std::string ruleset() {
  return sys::nft_run_checked("list ruleset", "list ruleset");
}

}  // namespace

TEST_CASE("nft_run runs a JSON batch and lists JSON") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  sys::nft_run_checked(R"({"nftables":[{"add":{"table":{"family":"ip","name":"t"}}}]})", "add table");
  std::string out =
      sys::nft_run_checked(R"({"nftables":[{"list":{"table":{"family":"ip","name":"t"}}}]})", "list");
  JsonDoc d = parse_json(out);
  CHECK(member(d, "nftables") != nullptr);
  CHECK(
      (out.find("\"name\": \"t\"") != std::string::npos || out.find("\"name\":\"t\"") != std::string::npos));
  sys::nft_run_checked(R"({"nftables":[{"delete":{"table":{"family":"ip","name":"t"}}}]})", "delete table");
}

TEST_CASE("a refused batch changes nothing and carries nft's own message") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  firewall::Section good;
  firewall::Rule ssh;
  ssh.action = "accept";
  ssh.proto = "tcp";
  ssh.ports = {{22, 22}};
  good.rules.push_back(ssh);
  sys::nft_run_checked(firewall::render_batch(good, {}), "apply");
  std::string before = ruleset();
  // The same transaction shape, with a rule into a chain that does not exist: the kernel refuses the batch.
  std::string bad = firewall::render_batch(firewall::Section{}, {});
  bad.insert(
      bad.size() - 2,
      R"(,{"add":{"rule":{"family":"inet","table":"op_dbus","chain":"nosuch","expr":[{"drop":null}]}}})");
  auto r = sys::nft_run(bad);
  CHECK(r.rc != 0);
  CHECK(r.error.find("No such file or directory") != std::string::npos);
  CHECK(ruleset() == before);
  try {
    sys::nft_run_checked(bad, "replacing");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::BackendError);
    CHECK(std::string(e.what()).find("No such file or directory") != std::string::npos);
  }
  CHECK(ruleset() == before);
}

TEST_CASE("the live backend applies, reads back equal, and a second apply is a no-op") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  Options options;
  Context ctx(options);
  auto backend = firewall::make_live_backend(ctx);
  std::string doc = R"({"default_policy": {"input": "drop"}, "rules": [
      {"port": [22, "1000-2000", 80], "proto": "tcp", "action": "accept", "comment": "it's ok"},
      {"source": ["10.0.0.0/8", "192.168.1.1"], "destination": "10.1.2.3", "action": "drop", "iface": "eth0"},
      {"source": "2001:db8::/32", "proto": "icmpv6", "action": "accept"},
      {"chain": "forward", "proto": "udp", "port": 53, "action": "reject"},
      {"chain": "output", "destination": "192.0.2.0/24", "action": "drop"}]})";
  JsonDoc desired = parse_json(doc);
  JsonDoc current = firewall::query_section(*backend);
  auto actions = firewall::diff_section(desired, current);  // the table of the case before is there
  REQUIRE(actions.size() > 1);
  firewall::apply_action(*backend, actions[0]);
  JsonDoc after = firewall::query_section(*backend);
  INFO(to_json(after));
  CHECK(firewall::diff_section(desired, after).empty());
  std::string before = ruleset();
  firewall::apply_action(*backend, actions[0]);  // already as desired: nothing is run
  CHECK(ruleset() == before);
}
