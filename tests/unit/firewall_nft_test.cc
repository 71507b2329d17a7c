// src/sys/nftables and the firewall's live apply against the real kernel, in a network namespace of this
// process's own (unshare(CLONE_NEWNET): the host's ruleset is never touched). Needs root; skipped otherwise.
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "context.h"
#include "error.h"
#include "firewall/apply.h"
#include "firewall/diff.h"
#include "firewall/model.h"
#include "firewall/plugin.h"
#include "firewall/query.h"
#include "sys/nftables.h"
#include "tap_skip.h"

using namespace opdbus;

namespace {

// Moves the whole test process into a fresh network namespace, once; the runtime directory (where the live
// backend keeps its last listing) is a temporary one of this process's own.
bool private_netns() {
  static int done = -1;
  if (done < 0) {
    done = geteuid() == 0 && unshare(CLONE_NEWNET) == 0 ? 1 : 0;
    if (done == 1) {
      // Removed when the test process ends.
      struct RunDir {
        std::filesystem::path path =
            std::filesystem::temp_directory_path() / ("firewall-nft-test-" + std::to_string(getpid()));
        ~RunDir() {
          std::error_code ec;
          std::filesystem::remove_all(path, ec);
        }
      };
      static RunDir dir;
      std::filesystem::remove_all(dir.path);
      std::filesystem::create_directories(dir.path);
      setenv("OPDBUS_RUN_DIR", dir.path.c_str(), 1);
    }
  }
  return done == 1;
}

std::filesystem::path listing_cache() {
  return std::filesystem::path(getenv("OPDBUS_RUN_DIR")) / "op-dbus" / "firewall-listing.json";
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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
  sys::nft_run_checked(firewall::render_batch(good), "apply");
  std::string before = ruleset();
  // The same transaction shape, with a rule into a chain that does not exist: the kernel refuses the batch.
  std::string bad = firewall::render_batch(firewall::Section{});
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
  std::string doc = R"({"persist": false, "default_policy": {"input": "drop"}, "rules": [
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
  // The next plan is empty: nothing to run.
  CHECK(firewall::diff_section(desired, firewall::query_section(*backend)).empty());
}

TEST_CASE("every rule feature, NAT and named sets: applied by the kernel, read back equal") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  Options options;
  Context ctx(options);
  auto backend = firewall::make_live_backend(ctx);
  std::string doc = R"({"persist": false, "default_policy": {"input": "drop", "forward": "drop"},
    "sets": {"blocked": {"type": "ipv4_addr", "elements": ["10.0.0.0/8", "192.168.1.5"]},
             "blocked6": {"type": "ipv6_addr", "elements": ["2001:db8::/32"]},
             "web": {"type": "inet_service", "elements": [80, "8000-8100"]}},
    "nat": {"masquerade": [{"source": "10.10.0.0/24", "out_interface": "eth0"}, {}],
            "forwards": [{"proto": "tcp", "port": 8080, "to": "10.10.0.5:80", "in_interface": "eth0"},
                         {"proto": "udp", "port": 5353, "to": "10.10.0.6"}]},
    "rules": [{"iif": "eth0", "source": "@blocked", "log": "blocked: ", "counter": true, "action": "drop"},
              {"source": "@blocked6", "action": "drop"},
              {"proto": "tcp", "port": "@web", "limit": {"rate": 5, "per": "minute", "burst": 10},
               "action": "accept"},
              {"proto": "icmp", "icmp_type": ["echo-request", "echo-reply"], "limit": "10/second",
               "action": "accept"},
              {"proto": "icmpv6", "icmp_type": "nd-neighbor-solicit", "action": "accept"},
              {"chain": "forward", "iif": "br0", "oif": "eth0", "action": "accept"},
              {"chain": "output", "oif": "eth1", "log": true, "action": "reject"},
              {"chain": "output", "limit": {"rate": 1, "per": "week", "burst": 30500}, "action": "accept",
               "comment": "the largest burst check() lets through for 1/week: the kernel takes it"}]})";
  JsonDoc desired = parse_json(doc);
  auto actions = firewall::diff_section(desired, firewall::query_section(*backend));
  REQUIRE_FALSE(actions.empty());
  firewall::apply_action(*backend, actions[0]);
  JsonDoc after = firewall::query_section(*backend);
  INFO(to_json(after));
  CHECK(firewall::diff_section(desired, after).empty());
  // A checkpoint taken now restores exactly this table after another apply.
  auto listing = backend->list_table();
  std::string before = ruleset();
  JsonDoc other = parse_json(R"({"persist": false, "rules": [{"proto": "udp", "action": "drop"}]})");
  auto change = firewall::diff_section(other, after);
  REQUIRE_FALSE(change.empty());
  firewall::apply_action(*backend, change[0]);
  CHECK(ruleset() != before);
  backend->run_batch(firewall::render_restore(listing));
  CHECK(firewall::diff_section(desired, firewall::query_section(*backend)).empty());
  // A rule the kernel refuses (a set op-dbus did not define, put in by hand) changes nothing.
  std::string now = ruleset();
  std::string bad = firewall::render_batch(firewall::parse_section(desired, nullptr));
  bad.insert(
      bad.size() - 2,
      R"(,{"add":{"rule":{"family":"inet","table":"op_dbus","chain":"input","expr":[)"
      R"({"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@nosuch"}},)"
      R"({"drop":null}]}}})");
  CHECK_THROWS_AS(backend->run_batch(bad), Error);
  CHECK(ruleset() == now);
}

TEST_CASE("nft_table_state: the same while the table is, different after any change to it") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  auto absent = sys::nft_table_state("inet", "digest_t");
  CHECK_FALSE(absent.present);
  CHECK(absent.consistent);
  CHECK(absent.canonical.empty());
  const std::string table =
      "table inet digest_t {\n"
      "  set s { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.0.2.1 } }\n"
      "  chain input { type filter hook input priority 0; policy drop;\n"
      "    tcp dport 22 accept\n"
      "    ip saddr @s tcp dport { 80, 443 } accept comment \"web\"\n"
      "    ip saddr { 198.51.100.0/24, 203.0.113.7 } drop\n"
      "  }\n"
      "}\n";
  sys::nft_run_checked(table, "add table");
  auto first = sys::nft_table_state("inet", "digest_t");
  REQUIRE(first.present);
  CHECK(first.consistent);
  CHECK_FALSE(first.canonical.empty());
  auto again = sys::nft_table_state("inet", "digest_t");
  CHECK(again.canonical == first.canonical);
  CHECK(again.generation == first.generation);

  // Another table changing moves the generation, not this table's state.
  sys::nft_run_checked("add table ip digest_other", "other table");
  auto other = sys::nft_table_state("inet", "digest_t");
  CHECK(other.canonical == first.canonical);
  CHECK(other.generation != first.generation);

  // Every kind of change to this table shows.
  sys::nft_run_checked("add element inet digest_t s { 172.16.0.1 }", "add element");
  auto element = sys::nft_table_state("inet", "digest_t");
  CHECK(element.canonical != first.canonical);
  sys::nft_run_checked("delete element inet digest_t s { 172.16.0.1 }", "delete element");
  CHECK(sys::nft_table_state("inet", "digest_t").canonical == first.canonical);
  sys::nft_run_checked("add rule inet digest_t input udp dport 53 accept", "add rule");
  auto rule = sys::nft_table_state("inet", "digest_t");
  CHECK(rule.canonical != first.canonical);
  sys::nft_run_checked("chain inet digest_t input { policy accept; }", "policy");
  auto policy = sys::nft_table_state("inet", "digest_t");
  CHECK(policy.canonical != rule.canonical);
  sys::nft_run_checked("add counter inet digest_t c", "add object");
  auto object = sys::nft_table_state("inet", "digest_t");
  CHECK(object.canonical != policy.canonical);

  // The rule with the anonymous set replaced by one of the same shape with other elements: a change (the
  // elements of constant anonymous sets are not read again; the new set and rule have new handles).
  std::string chain = sys::nft_run_checked("list chain inet digest_t input", "list chain");
  auto at = chain.find("198.51.100.0");
  REQUIRE(at != std::string::npos);
  auto h = chain.find("\"handle\":", chain.rfind("\"rule\"", at));
  REQUIRE(h != std::string::npos);
  std::string handle = std::to_string(std::stoul(chain.substr(h + 9)));
  auto before_swap = sys::nft_table_state("inet", "digest_t");
  sys::nft_run_checked("delete rule inet digest_t input handle " + handle +
                           "; add rule inet digest_t input ip saddr { 198.51.100.0/24, 203.0.113.8 } drop",
                       "swap rule");
  auto swapped = sys::nft_table_state("inet", "digest_t");
  CHECK(swapped.canonical != before_swap.canonical);

  // The same table made again is a new table (where handles are kept, it reads differently; where they are
  // not, the same): either way it lists the same as the first.
  sys::nft_run_checked("delete table inet digest_t", "delete");
  sys::nft_run_checked(table, "add again");
  auto remade = sys::nft_table_state("inet", "digest_t");
  CHECK(remade.present);
  CHECK(remade.canonical.starts_with("netns "));  // this kernel tells the namespace cookie
  CHECK(remade.canonical != first.canonical);
  sys::nft_run_checked("delete table inet digest_t; delete table ip digest_other", "clean up");
  CHECK_FALSE(sys::nft_table_state("inet", "digest_t").present);
}

TEST_CASE("the live backend reuses a listing only while the kernel's table is unchanged") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  Options options;
  Context ctx(options);
  auto backend = firewall::make_live_backend(ctx);
  JsonDoc desired = parse_json(R"({"persist": false, "rules": [
      {"port": 22, "proto": "tcp", "action": "accept"},
      {"port": 80, "proto": "tcp", "action": "accept"},
      {"source": ["10.0.0.0/8", "192.168.1.1"], "action": "drop"}]})");
  auto actions = firewall::diff_section(desired, firewall::query_section(*backend));
  REQUIRE_FALSE(actions.empty());
  firewall::apply_action(*backend, actions[0]);
  std::filesystem::remove(listing_cache());
  auto listed = backend->list_table();  // listed by libnftables, and kept
  REQUIRE(listed);
  REQUIRE(std::filesystem::exists(listing_cache()));
  std::string kept = slurp(listing_cache());
  CHECK(kept.substr(kept.find('\n') + 1) == *listed);
  CHECK(backend->list_table() == listed);

  // Proof that the kept listing is what is read while the table is unchanged: one planted under the same
  // digest comes back.
  std::string key = kept.substr(0, kept.find('\n'));
  std::string planted = *listed;
  planted.insert(planted.rfind(']'), R"(,{"table":{"family":"inet","name":"planted"}})");
  {
    std::ofstream out(listing_cache(), std::ios::trunc);
    out << key << "\n" << planted;
  }
  CHECK(backend->list_table() == planted);

  // A rule deleted behind op-dbus's back: the kernel's table dumps differently, the table is listed again
  // and the plan sees the drift.
  JsonDoc current = firewall::query_section(*backend);
  CHECK(firewall::diff_section(desired, current).empty());
  std::string chain = sys::nft_run_checked("list chain inet op_dbus input", "list chain");
  auto at = chain.find("\"dport\"");
  REQUIRE(at != std::string::npos);
  auto h = chain.find("\"handle\":", chain.rfind("\"rule\"", at));
  REQUIRE(h != std::string::npos);
  std::string handle = std::to_string(std::stoul(chain.substr(h + 9)));
  sys::nft_run_checked("delete rule inet op_dbus input handle " + handle, "delete rule");
  auto relisted = backend->list_table();
  REQUIRE(relisted);
  CHECK(*relisted != planted);
  CHECK(relisted->find("planted") == std::string::npos);
  auto drift = firewall::diff_section(desired, firewall::query_section(*backend));
  CHECK_FALSE(drift.empty());
  // A cache that cannot be read is only a miss.
  std::filesystem::remove(listing_cache());
  std::filesystem::create_directory(listing_cache());
  CHECK(backend->list_table() == relisted);
  std::filesystem::remove(listing_cache());
}

namespace {

// The decoder's input, readably (for a failing check's message).
std::string describe(const sys::NftTableContents& t) {
  auto hex = [](const std::string& b) {
    std::string out;
    char buf[4];
    for (unsigned char c : b) {
      std::snprintf(buf, sizeof buf, "%02x", c);
      out += buf;
    }
    return out;
  };
  std::string out = t.unread ? "table unread\n" : "";
  for (const auto& c : t.chains) {
    out += "chain " + c.name + " " + c.type + " " + c.hook + " " + std::to_string(c.priority) + " " +
           c.policy + (c.unread ? " UNREAD" : "") + "\n";
  }
  for (const auto& s : t.sets) {
    out += "set " + s.name + " flags " + std::to_string(s.flags) + " type " + std::to_string(s.key_type) +
           " len " + std::to_string(s.key_len) + (s.unread ? " UNREAD" : "") + ":";
    for (const auto& e : s.elements)
      out += " " + hex(e.key) + (e.interval_end ? "e" : "") + (e.unread ? "!" : "");
    out += "\n";
  }
  for (const auto& r : t.rules) {
    out += "rule " + r.chain + (r.unread ? " UNREAD" : "") + " [" + r.comment + "]:";
    for (const auto& e : r.exprs) {
      out += " {" + e.name + " " + e.key + " off" + std::to_string(e.offset) + " len" +
             std::to_string(e.len) + " s" + std::to_string(e.sreg) + " d" + std::to_string(e.dreg) + " " +
             e.op + " " + hex(e.data) + " " + hex(e.data2) + " f" + std::to_string(e.flags) + " t" +
             std::to_string(e.type) + " c" + std::to_string(e.code) + (e.unread ? " UNREAD" : "") + "}";
    }
    out += "\n";
  }
  return out;
}

// Both readings of table inet op_dbus as it is now: decoded from the kernel's dump, and parsed from
// libnftables' listing (no cache). nullopt for the first when the decoder does not read the table.
struct BothReadings {
  std::string input;  // describe(contents)
  std::optional<firewall::CurrentTable> decoded;
  firewall::CurrentTable listed;
};
BothReadings read_both() {
  sys::NftTableContents contents;
  auto state = sys::nft_table_state("inet", "op_dbus", &contents);
  REQUIRE(state.consistent);
  BothReadings out;
  out.input = std::string(state.present ? "present\n" : "absent\n") + describe(contents);
  if (state.present) out.decoded = firewall::decode_table(contents);
  auto r = sys::nft_run(R"({"nftables":[{"list":{"table":{"family":"inet","name":"op_dbus"}}}]})");
  std::optional<std::string> listing;
  if (r.rc == 0) listing = r.output;
  out.listed = firewall::parse_table(listing);
  REQUIRE(out.listed.present == state.present);
  return out;
}

std::string section_text(const firewall::Section& s) {
  return to_json(firewall::section_to_json(s));
}

// Applies `doc` (a firewall section) with render_batch, as apply does.
firewall::Section apply_doc(const std::string& doc) {
  std::vector<firewall::Problem> problems;
  JsonDoc d = parse_json(doc);
  auto s = firewall::parse_section(d, &problems);
  INFO(doc);
  INFO((problems.empty() ? "" : problems.front().message));
  REQUIRE(problems.empty());
  sys::nft_run_checked(firewall::render_batch(s), "apply");
  return s;
}

}  // namespace

TEST_CASE("the dump decoder reads every rule kind op-dbus writes as the listing does, or declines") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  struct Case {
    const char* doc;
    bool decoded;  // the decoder reads it (false: it declines, and the listing is read instead)
  };
  const Case cases[] = {
      {R"({"rules": []})", true},
      {R"({"builtin_rules": false, "default_policy": {"input": "drop", "output": "drop"}})", true},
      {R"({"rules": [{"port": 22, "proto": "tcp", "action": "accept"}]})", true},
      {R"({"rules": [{"port": [22, "1000-2000", 80, 81], "proto": "tcp", "action": "accept"}]})", true},
      {R"({"rules": [{"port": "1000-2000", "proto": "udp", "action": "drop"}]})", true},
      {R"({"rules": [{"port": [53, 5353], "proto": "sctp", "action": "reject"}]})", true},
      {R"({"rules": [{"source": "10.0.0.0/8", "action": "reject"}, {"destination": "fd00::1", "action": "reject"},
                     {"source": ["10.1.0.0/16", "10.3.0.0/16"], "proto": "udp", "port": 53, "action": "reject"},
                     {"iif": "eth0", "proto": "tcp", "action": "reject"}]})",
       true},
      {R"({"rules": [{"proto": "tcp", "action": "accept"}, {"proto": "udp", "action": "drop"},
                     {"proto": "sctp", "action": "drop"}, {"proto": "icmp", "action": "accept"},
                     {"proto": "icmpv6", "action": "accept"}]})",
       true},
      {R"({"rules": [{"source": "10.0.0.0/8", "action": "drop"}, {"source": "192.168.1.7", "action": "drop"},
                     {"source": "172.16.0.0/12", "action": "drop"}, {"source": "10.1.2.0/23", "action": "drop"},
                     {"destination": "198.51.100.0/25", "action": "drop"},
                     {"source": "2001:db8::/32", "destination": "2001:db8::1", "action": "drop"},
                     {"source": "fc00::/7", "action": "drop"}, {"destination": "::1", "action": "drop"}]})",
       true},
      {R"({"rules": [{"source": ["10.0.0.0/8", "192.168.1.1", "172.16.0.0/12"],
                      "destination": ["198.51.100.0/24", "203.0.113.9"], "action": "drop"},
                     {"source": ["2001:db8::/32", "fd00::1"], "action": "drop"},
                     {"source": ["10.0.0.0/16", "10.1.0.0/16"], "action": "drop"},
                     {"source": ["10.1.0.0/16", "10.2.0.0/16", "10.2.3.4", "10.3.0.0/17"], "action": "drop"},
                     {"destination": ["2001:db8::/33", "2001:db8:8000::/33", "2001:db9::1"], "action": "drop"},
                     {"source": ["192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/24", "192.168.3.0/25"],
                      "action": "accept"},
                     {"source": ["10.0.0.1", "10.0.0.2"], "port": [1, 65535], "proto": "tcp", "action": "accept"},
                     {"source": "10.0.0.0/8", "destination": "10.1.0.0/16", "port": 22, "proto": "tcp",
                      "action": "accept"}]})",
       true},
      {R"({"sets": {"a": {"type": "ipv4_addr", "elements": ["10.0.0.0/8", "192.168.1.5", "0.0.0.0/5"]},
                    "b": {"type": "ipv6_addr", "elements": ["2001:db8::/32", "fd00::1"]},
                    "c": {"type": "inet_service", "elements": [80, "8000-8100", 443, 65535]},
                    "empty": {"type": "ipv4_addr", "elements": []}},
           "rules": [{"source": "@a", "action": "drop"}, {"destination": "@b", "action": "drop"},
                     {"source": "@a", "proto": "udp", "port": "@c", "action": "accept"},
                     {"proto": "tcp", "port": "@c", "action": "accept"}]})",
       true},
      {R"({"rules": [{"iif": "eth0", "action": "accept"}, {"chain": "output", "oif": "wg0", "action": "drop"},
                     {"chain": "forward", "iif": "br0", "oif": "eth1", "action": "accept"},
                     {"iif": "a-very-long-nam", "action": "drop"}]})",
       true},
      {R"({"rules": [{"proto": "tcp", "port": 22, "counter": true, "log": true, "action": "accept"},
                     {"log": "blocked: ", "action": "drop", "comment": "it's a comment: ok"},
                     {"limit": "10/second", "action": "accept"},
                     {"limit": {"rate": 5, "per": "minute", "burst": 10}, "proto": "udp", "action": "accept"},
                     {"limit": {"rate": 1, "per": "week", "burst": 30500}, "action": "accept"},
                     {"limit": {"rate": 3, "per": "hour"}, "counter": true, "action": "drop",
                      "chain": "output"},
                     {"limit": {"rate": 3, "per": "day", "burst": 1}, "action": "drop"}]})",
       true},
      // ICMP types and NAT: not decoded; the listing is read.
      {R"({"rules": [{"proto": "icmp", "icmp_type": ["echo-request", "echo-reply"], "action": "accept"}]})",
       false},
      {R"({"rules": [{"proto": "icmpv6", "icmp_type": "nd-neighbor-solicit", "action": "accept"}]})", false},
      {R"({"nat": {"masquerade": [{"source": "10.10.0.0/24", "out_interface": "eth0"}]}})", false},
      {R"({"nat": {"forwards": [{"proto": "tcp", "port": 8080, "to": "10.10.0.5:80"}]}})", false},
  };
  for (const auto& c : cases) {
    INFO(c.doc);
    firewall::Section want = apply_doc(c.doc);
    auto both = read_both();
    INFO(both.input);
    CHECK(both.decoded.has_value() == c.decoded);
    if (both.decoded) {
      CHECK(section_text(both.decoded->section) == section_text(both.listed.section));
      CHECK(both.decoded->section == both.listed.section);
      CHECK(both.decoded->other_chains == both.listed.other_chains);
      CHECK(both.decoded->section == want);  // and it is what was applied
    }
  }
}

TEST_CASE("the dump decoder declines a table changed by hand; drift still shows through either path") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  const char* doc = R"({"sets": {"a": {"type": "ipv4_addr", "elements": ["10.0.0.0/8"]}},
      "rules": [{"port": 22, "proto": "tcp", "action": "accept"}, {"source": "@a", "action": "drop"},
                {"source": ["10.0.0.0/8", "192.168.1.1"], "action": "drop"}]})";
  // Each change: made with nft's own syntax after applying `doc`; whether the decoder still reads the table
  // (then it must agree with the listing, and see the change).
  struct Change {
    const char* nft;
    bool decoded;
  };
  const Change changes[] = {
      {"add rule inet op_dbus input udp dport 53 accept", true},
      {"insert rule inet op_dbus input tcp dport 23 drop", false},  // before the builtin rules
      {"add element inet op_dbus a { 192.0.2.1 }", true},
      {"add rule inet op_dbus input ip saddr 10.0.0.0-10.0.0.5 drop", false},  // a range, not a network
      {"add rule inet op_dbus input ip saddr { 10.0.0.0-10.0.0.5, 10.9.0.0/16 } drop", true},
      {"add element inet op_dbus a { 192.0.2.0-192.0.2.6 }", false},  // a range in a named set
      {"add rule inet op_dbus input tcp dport != 22 drop", false},
      {"add rule inet op_dbus input ct state new accept", false},
      {"add rule inet op_dbus input ip saddr { 10.0.0.0-10.0.0.5 } drop", false},  // nft makes it a range
      {"add rule inet op_dbus input iifname \"eth*\" drop", false},
      {"add rule inet op_dbus input log level debug drop", false},
      {"add rule inet op_dbus input reject with tcp reset", false},
      {"add rule inet op_dbus input ip saddr 10.0.0.1 reject with icmp type host-unreachable", false},
      {"add chain inet op_dbus other; add rule inet op_dbus input jump other", false},
      {"add chain inet op_dbus other", false},
      {"add set inet op_dbus h { type ipv4_addr; }", false},
      {"add set inet op_dbus t { type ipv4_addr; flags interval, timeout; }", false},
      {"add element inet op_dbus a { 192.0.2.9 comment \"hand\" }", false},
      {"add element inet op_dbus a { 255.255.255.255 comment \"hand\" }", false},
      {"add counter inet op_dbus c", false},  // (the listing's reading does not show objects)
      {"chain inet op_dbus input { policy drop; }", true},
      {"delete chain inet op_dbus output", false},
      {"add rule inet op_dbus input meta nfproto ipv4 accept", false},
      {"add rule inet op_dbus input meta l4proto 47 accept", false},
      {"add rule inet op_dbus input tcp sport 22 accept", false},
      {"add rule inet op_dbus input accept comment \"op-dbus: port forwards\"", false},
  };
  for (const auto& c : changes) {
    INFO(c.nft);
    firewall::Section want = apply_doc(doc);
    sys::nft_run_checked(c.nft, "change");
    auto both = read_both();
    INFO(both.input);
    CHECK(both.decoded.has_value() == c.decoded);
    if (both.decoded) {
      CHECK(section_text(both.decoded->section) == section_text(both.listed.section));
      CHECK(both.decoded->section == both.listed.section);
      CHECK_FALSE(both.decoded->section == want);
    }
    if (std::string_view(c.nft).find("counter") == std::string_view::npos) {
      CHECK_FALSE(both.listed.section == want);
    }
  }
  // The builtin rules changed in place (same comments, other expressions): declined.
  apply_doc(doc);
  std::string chain = sys::nft_run_checked("list chain inet op_dbus input", "list chain");
  auto at = chain.find("op-dbus: loopback");
  REQUIRE(at != std::string::npos);
  auto h = chain.find("\"handle\":", chain.rfind("\"rule\"", at));
  std::string handle = std::to_string(std::stoul(chain.substr(h + 9)));
  sys::nft_run_checked("replace rule inet op_dbus input handle " + handle +
                           " iifname \"eth0\" accept comment \"op-dbus: loopback\"",
                       "replace builtin");
  CHECK_FALSE(read_both().decoded.has_value());
}

TEST_CASE("the live backend decodes the table when it can and lists it when it cannot") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  Options options;
  Context ctx(options);
  auto backend = firewall::make_live_backend(ctx);
  apply_doc(R"({"rules": [{"port": 22, "proto": "tcp", "action": "accept"}]})");
  std::filesystem::remove(listing_cache());
  firewall::TableRead read;
  JsonDoc got = firewall::query_section(*backend, &read);
  CHECK_FALSE(read.listed);
  CHECK(read.present);
  CHECK_FALSE(std::filesystem::exists(listing_cache()));  // libnftables was not asked
  CHECK(to_json(got).find("\"port\":22") != std::string::npos);
  apply_doc(R"({"rules": [{"proto": "icmp", "icmp_type": "echo-request", "action": "accept"}]})");
  got = firewall::query_section(*backend, &read);
  CHECK(read.listed);
  REQUIRE(read.listing);
  CHECK(std::filesystem::exists(listing_cache()));
  CHECK(to_json(got).find("echo-request") != std::string::npos);
  sys::nft_run_checked(firewall::render_delete(), "delete");
  got = firewall::query_section(*backend, &read);
  CHECK_FALSE(read.listed);
  CHECK_FALSE(read.present);
  CHECK(to_json(got) == "{}");
}

TEST_CASE("a checkpoint of a decoded table restores it exactly (listed when it has counters)") {
  if (!private_netns()) SKIP("needs root (a private network namespace)");
  Options options;
  Context ctx(options);
  auto plugin = firewall::make_plugin([](Context& c) { return firewall::make_live_backend(c); });
  for (
      const char* before : {
          R"({"persist": false, "sets": {"a": {"type": "ipv4_addr", "elements": ["10.0.0.0/8", "192.0.2.1"]}},
               "default_policy": {"input": "drop"},
               "rules": [{"port": [22, "80-90"], "proto": "tcp", "action": "accept", "comment": "ssh"},
                         {"source": "@a", "log": "a: ", "limit": "5/minute", "action": "drop"},
                         {"source": ["198.51.100.0/24", "203.0.113.7"], "iif": "eth0", "action": "reject"}]})",
          R"({"persist": false, "rules": [{"port": 22, "proto": "tcp", "counter": true, "action": "accept"}]})"}) {
    INFO(before);
    firewall::Section was = apply_doc(before);
    was.persist = true;  // not part of the table
    // The first is made again from the decoded section; the second has a counter, so it is listed (a
    // counter's value is in the listing only) and restored from the listing.
    auto first = read_both();
    INFO(first.input);
    REQUIRE(first.decoded);
    JsonDoc other = parse_json(R"({"persist": false, "rules": [{"proto": "udp", "action": "drop"}]})");
    plugin->query(ctx, &other);
    JsonDoc current = plugin->query(ctx, &other);
    auto actions = plugin->diff(other, current);
    REQUIRE_FALSE(actions.empty());
    auto checkpoint = plugin->checkpoint(ctx, actions);
    REQUIRE(checkpoint);
    plugin->begin_apply(ctx, actions);
    for (const auto& a : actions) plugin->apply(ctx, a);
    CHECK_FALSE(read_both().listed.section == was);
    checkpoint->rollback(ctx);
    auto back = read_both();
    REQUIRE(back.decoded);
    CHECK(back.decoded->section == was);
    CHECK(back.listed.section == was);
    CHECK(section_text(back.decoded->section) == section_text(first.decoded->section));
  }
}
