// The firewall plugin's pure half: parse + normalise (equivalent forms compare equal), check (hostile values),
// the rule-level diff and its one typed operation, the nft batch, and reading a listing back.
#include <catch2/catch.hpp>

#include "error.h"
#include "firewall/apply.h"
#include "firewall/diff.h"
#include "firewall/model.h"
#include "firewall/ops.h"
#include "firewall/plugin.h"
#include "firewall/query.h"

using namespace opdbus;
using namespace opdbus::firewall;

namespace {

Section parse(const std::string& text, std::vector<Problem>* problems = nullptr) {
  JsonDoc d = parse_json(text);
  std::vector<Problem> local;
  Section s = parse_section(d, problems ? problems : &local);
  if (!problems) INFO(local.size());
  return s;
}

std::vector<std::string> problems_of(const std::string& text) {
  JsonDoc d = parse_json(text);
  std::vector<std::string> out;
  for (const auto& p : section_problems(d, nullptr)) out.push_back(json_pointer(p.tokens) + ": " + p.message);
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

// A fake backend: the "kernel" is the listing of the table the last batch made (through a real listing
// format: the batch's own JSON re-labelled as nft lists it is not needed, the model is compared instead).
class FakeBackend : public Backend {
 public:
  std::optional<std::string> listing;
  std::vector<std::string> batches;
  std::string describe() override { return "fake"; }
  std::optional<std::string> list_table() override { return listing; }
  void run_batch(const std::string& batch) override { batches.push_back(batch); }
  BootFiles boot;
  BootFiles read_boot() override { return boot; }
  void write_boot(const std::string& batch) override { boot = {batch, true, true}; }
  void remove_boot() override { boot = {}; }
};

}  // namespace

TEST_CASE("equivalent forms compare equal") {
  Section a = parse(R"({"rules": [{"port": 22, "proto": "tcp", "action": "accept"},
                                   {"port": "80,443", "proto": "tcp", "action": "ACCEPT",
                                    "source": ["192.168.1.1", "10.0.0.0/8"]}],
                        "default_policy": {"input": "drop"}})");
  Section b = parse(R"({"rules": [{"port": "22", "proto": "TCP", "action": "accept"},
                                   {"port": [443, "80"], "proto": "Tcp", "action": "accept",
                                    "source": ["10.0.0.0/8", "192.168.1.1/32"]}],
                        "default_policy": {"input": "DROP", "output": "accept"}})");
  CHECK(a == b);
  Section c = parse(R"({"rules": [{"port": "1000-1005,1006-1010,1003", "proto": "udp", "action": "drop"}]})");
  Section d = parse(R"({"rules": [{"port": "1000-1010", "proto": "udp", "action": "drop"}]})");
  CHECK(c == d);
  Section e = parse(R"({"rules": [{"destination": "2001:DB8:0::1", "action": "drop"}]})");
  REQUIRE(e.rules.size() == 1);
  CHECK(e.rules[0].destination == std::vector<std::string>{"2001:db8::1"});
}

TEST_CASE("a different rule or order is not equal") {
  CHECK_FALSE(parse(R"({"rules": [{"port": 22, "proto": "tcp", "action": "accept"}]})") ==
              parse(R"({"rules": [{"port": 22, "proto": "udp", "action": "accept"}]})"));
  CHECK_FALSE(
      parse(R"({"rules": [{"proto": "tcp", "action": "accept"}, {"proto": "udp", "action": "drop"}]})") ==
      parse(R"({"rules": [{"proto": "udp", "action": "drop"}, {"proto": "tcp", "action": "accept"}]})"));
}

TEST_CASE("hostile and impossible values are refused by check") {
  CHECK(mentions(problems_of(R"({"rules": [{"action": "accept", "comment": "a\nb"}]})"), "/rules/0/comment"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "accept", "comment": "say \"hi\""}]})"),
                 "double quotes"));
  CHECK(
      mentions(problems_of(R"({"rules": [{"action": "accept", "comment": "op-dbus: fake"}]})"), "op-dbus:"));
  CHECK(mentions(
      problems_of(R"({"rules": [{"action": "accept", "comment": ")" + std::string(129, 'x') + R"("}]})"),
      "128 bytes"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "accept", "iface": "eth0\"; flush ruleset"}]})"),
                 "/rules/0/iface"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "accept", "iface": "averyveryverylongname"}]})"),
                 "1-15 bytes"));
  CHECK(mentions(problems_of(R"({"rules": [{"port": 22, "action": "accept"}]})"), "needs \"proto\""));
  CHECK(mentions(problems_of(R"({"rules": [{"port": 0, "proto": "tcp", "action": "accept"}]})"),
                 "/rules/0/port"));
  CHECK(mentions(problems_of(R"({"rules": [{"port": "2000-1000", "proto": "tcp", "action": "accept"}]})"),
                 "/port"));
  CHECK(
      mentions(problems_of(R"({"rules": [{"port": 70000, "proto": "tcp", "action": "accept"}]})"), "/port"));
  CHECK(mentions(problems_of(R"({"rules": [{"source": "10.0.0.1/8", "action": "drop"}]})"), "host bits"));
  CHECK(mentions(problems_of(R"({"rules": [{"source": "10.0.0.0/33", "action": "drop"}]})"), "at most 32"));
  CHECK(mentions(problems_of(R"({"rules": [{"source": ["10.0.0.1", "::1"], "action": "drop"}]})"), "mixed"));
  CHECK(
      mentions(problems_of(R"({"rules": [{"source": "10.0.0.1", "destination": "::1", "action": "drop"}]})"),
               "different IP families"));
  CHECK(mentions(problems_of(R"({"rules": [{"proto": "icmp", "source": "::1", "action": "drop"}]})"),
                 "never matches"));
  CHECK(mentions(problems_of(R"({"rules": [{"chain": "output", "iface": "eth0", "action": "drop"}]})"),
                 "chain output"));
  CHECK(mentions(problems_of(R"({"rules": [{"proto": "tcp"}]})"), "needs an \"action\""));
  CHECK(mentions(problems_of(R"({"rules": [{"nft": "[]", "action": "accept"}]})"), "not supported yet"));
  CHECK(mentions(problems_of(R"({"persist": "yes"})"), "/persist: expected true or false"));
  CHECK(
      mentions(problems_of(R"({"rules": [{"action": "accept", "mode": "observe"}]})"), "not supported yet"));
  CHECK(problems_of(
            R"({"rules": [{"port": "22, 80", "proto": "tcp", "action": "accept", "comment": "ok: fine"}],
                        "default_policy": {"input": "drop"}, "builtin_rules": false})")
            .empty());
}

TEST_CASE("diff refuses what check refuses, naming the item") {
  try {
    plan(R"({"rules": [{"port": 22, "action": "accept"}]})", "{}");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK(std::string(e.what()).find("rules/0/port") != std::string::npos);
  }
}

TEST_CASE("a missing table is one create carrying the whole table") {
  auto actions = plan(R"({"rules": [{"port": 22, "proto": "tcp", "action": "accept"}]})", "{}");
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].op == Op::Create);
  CHECK(actions[0].summary == "create table inet op_dbus with 1 rule(s)");
  const auto& op = std::get<ReplaceTable>(operation_of<Ops>(actions[0].operation, "firewall"));
  CHECK(op.desired.rules.size() == 1);
  CHECK(op.desired.policy.at("input") == "accept");
}

TEST_CASE("the diff is rule-level: added, removed, changed, policy") {
  std::string current = R"({"builtin_rules": true, "default_policy": {"input": "accept", "forward": "accept",
      "output": "accept"}, "rules": [
        {"proto": "tcp", "port": 22, "action": "accept", "comment": "ssh"},
        {"proto": "tcp", "port": 80, "action": "accept"},
        {"proto": "udp", "port": 53, "action": "accept"}]})";
  auto same = plan(R"({"rules": [{"port": "22", "proto": "TCP", "action": "accept", "comment": "ssh"},
                                  {"port": 80, "proto": "tcp", "action": "accept"},
                                  {"port": 53, "proto": "udp", "action": "accept"}]})",
                   current);
  CHECK(same.empty());

  auto actions = plan(R"({"default_policy": {"input": "drop"}, "rules": [
        {"proto": "icmp", "action": "accept"},
        {"port": 22, "proto": "tcp", "action": "accept", "comment": "ssh"},
        {"port": 53, "proto": "udp", "action": "drop"}]})",
                      current);
  std::vector<std::string> summaries;
  for (const auto& a : actions) summaries.push_back(a.summary);
  INFO(summaries.size());
  REQUIRE(actions.size() == 4);
  CHECK(summaries[0] == "set input policy accept -> drop");
  CHECK(summaries[1] == R"(add rule 0: {"proto":"icmp","action":"accept"})");
  CHECK(summaries[2] == R"(change rule 2: {"proto":"udp","port":53,"action":"drop"})");
  CHECK(summaries[3] == R"(remove rule 1 (current): {"proto":"tcp","port":80,"action":"accept"})");
  // The change names the field that differs.
  REQUIRE(actions[2].changes.size() == 1);
  CHECK(actions[2].changes[0].path == "action");
  CHECK(*actions[2].changes[0].before == "\"accept\"");
  CHECK(*actions[2].changes[0].after == "\"drop\"");
  // Every action carries the same one-transaction operation.
  for (const auto& a : actions) CHECK(a.operation == actions[0].operation);
}

TEST_CASE("the builtin rules and a rule op-dbus cannot read are drift") {
  auto actions =
      plan(R"({"rules": []})", R"({"builtin_rules": false, "rules": [{"nft": "[{\"counter\":null}]"}]})");
  REQUIRE(actions.size() == 2);
  CHECK(actions[0].summary.find("restore the builtin rules") == 0);
  CHECK(actions[1].op == Op::Delete);
}

TEST_CASE("the batch is one transaction: add, flush, chains, rules") {
  Section s = parse(R"({"default_policy": {"input": "drop"}, "rules": [
      {"port": [22, "1000-2000"], "proto": "tcp", "action": "accept", "comment": "it's"},
      {"source": ["10.0.0.0/8", "192.168.1.1"], "action": "drop", "iface": "eth0"},
      {"proto": "icmpv6", "action": "accept"}]})");
  std::string batch = render_batch(s);
  JsonDoc d = parse_json(batch);
  const auto& cmds = d["nftables"];
  REQUIRE(cmds.IsArray());
  CHECK(to_json(cmds[0]) == R"({"add":{"table":{"family":"inet","name":"op_dbus"}}})");
  CHECK(to_json(cmds[1]) == R"({"delete":{"table":{"family":"inet","name":"op_dbus"}}})");
  CHECK(to_json(cmds[2]) == R"({"add":{"table":{"family":"inet","name":"op_dbus"}}})");
  CHECK(get_string(cmds[3]["add"]["chain"], "policy") == "drop");
  CHECK(batch.find("\"nat\"") == std::string::npos);  // no NAT declared: no nat chains
  CHECK(batch.find(R"({"set":[22,{"range":[1000,2000]}]})") != std::string::npos);
  CHECK(batch.find(R"({"set":[{"prefix":{"addr":"10.0.0.0","len":8}},"192.168.1.1"]})") != std::string::npos);
  CHECK(batch.find(R"("right":"ipv6-icmp")") != std::string::npos);
  CHECK(batch.find(R"("comment":"it's")") != std::string::npos);
  // Every command works on table inet op_dbus and nothing else.
  for (const auto& c : cmds.GetArray()) {
    const auto& obj = c.MemberBegin()->value.MemberBegin()->value;
    CHECK(get_string(obj, "family") == "inet");
    std::string table = member(obj, "table") ? get_string(obj, "table") : get_string(obj, "name");
    CHECK(table == "op_dbus");
  }
}

TEST_CASE("a listing reads back into the section; no table is {}") {
  FakeBackend fake;
  CHECK(to_json(query_section(fake)) == "{}");
  fake.listing = R"({"nftables": [{"metainfo": {}}, {"table": {"family": "inet", "name": "op_dbus"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "input", "type": "filter", "hook": "input",
               "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "forward", "type": "filter", "hook": "forward",
               "prio": 0, "policy": "accept"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "output", "type": "filter", "hook": "output",
               "prio": 0, "policy": "accept"}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "handle": 5, "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                 "right": {"set": ["192.168.1.1", {"prefix": {"addr": "10.0.0.0", "len": 8}}]}}},
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                 "right": {"set": [443, 80]}}},
      {"accept": null}], "comment": "web"}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "handle": 6, "expr": [
      {"notrack": null}, {"accept": null}]}}]})";
  JsonDoc got = query_section(fake);
  CHECK(to_json(got) ==
        R"({"builtin_rules":false,"persist":false,"default_policy":{"forward":"accept","input":"drop",)"
        R"("output":"accept"},)"
        R"("rules":[{"source":["10.0.0.0/8","192.168.1.1"],"proto":"tcp","port":"80,443","action":"accept",)"
        R"("comment":"web"},{"nft":"[{\"notrack\":null},{\"accept\":null}]"}]})");
  // The section reported plans the same document to nothing except the unreadable rule and the builtins.
  auto actions =
      plan(R"({"builtin_rules": false, "persist": false, "default_policy": {"input": "drop"}, "rules": [
      {"source": ["192.168.1.1", "10.0.0.0/8"], "port": "443,80", "proto": "tcp", "action": "accept",
       "comment": "web"}]})",
           to_json(got));
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].op == Op::Delete);
}

TEST_CASE("an empty section owns no table") {
  CHECK(plan("{}", "{}").empty());
  CHECK(plan(R"({"mode": "observe"})", "{}").empty());
  auto actions = plan("{}", R"({"builtin_rules": true, "rules": []})");
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].op == Op::Delete);
  CHECK(std::holds_alternative<DeleteTable>(operation_of<Ops>(actions[0].operation, "firewall")));
  CHECK(render_delete() == R"({"nftables":[{"add":{"table":{"family":"inet","name":"op_dbus"}}},)"
                           R"({"delete":{"table":{"family":"inet","name":"op_dbus"}}}]})");
}

TEST_CASE("mode observe marks every action observe-only") {
  auto actions = plan(R"({"mode": "observe", "rules": [{"proto": "udp", "action": "drop"}]})",
                      R"({"builtin_rules": true, "rules": [{"proto": "tcp", "action": "drop"}]})");
  REQUIRE_FALSE(actions.empty());
  for (const auto& a : actions) CHECK(a.observe);
}

TEST_CASE("apply runs the batch once and only when the table differs") {
  FakeBackend fake;
  auto actions = plan(R"({"rules": [{"proto": "tcp", "port": 22, "action": "accept"}]})", "{}");
  REQUIRE(actions.size() == 1);
  apply_action(fake, actions[0]);
  REQUIRE(fake.batches.size() == 1);
  CHECK(fake.batches[0].find(R"({"delete":{"table":{"family":"inet","name":"op_dbus"}}})") !=
        std::string::npos);
  // A plan whose only difference is the boot files does not touch the running table.
  fake.batches.clear();
  fake.listing = listing_from_batch(render_batch(parse(R"({"persist": false, "rules": []})")));
  auto boot_only = plan(R"({"rules": []})", to_json(query_section(fake)));
  REQUIRE(boot_only.size() == 1);
  CHECK(boot_only[0].pointer() == "/persist");
  apply_action(fake, boot_only[0]);
  CHECK(fake.batches.empty());
  CHECK(fake.boot.installed());
  // Every action of a plan carries the one operation, which the plugin runs once.
  class Shared : public Backend {
   public:
    explicit Shared(FakeBackend& f) : f_(f) {}
    std::string describe() override { return "shared"; }
    std::optional<std::string> list_table() override { return f_.list_table(); }
    void run_batch(const std::string& b) override { f_.run_batch(b); }
    BootFiles read_boot() override { return f_.read_boot(); }
    void write_boot(const std::string& b) override { f_.write_boot(b); }
    void remove_boot() override { f_.remove_boot(); }

   private:
    FakeBackend& f_;
  };
  auto plugin = make_plugin([&](Context&) { return std::make_unique<Shared>(fake); });
  Options options;
  Context ctx(options);
  auto many = plan(R"({"default_policy": {"input": "drop"}, "rules": [{"proto": "udp", "action": "drop"},
                                                                        {"proto": "tcp", "action": "drop"}]})",
                   to_json(query_section(fake)));
  REQUIRE(many.size() == 3);
  fake.batches.clear();
  plugin->begin_apply(ctx, many);
  for (const auto& a : many) plugin->apply(ctx, a);
  plugin->end_apply(ctx);
  CHECK(fake.batches.size() == 1);
  // No table: deleting it runs nothing.
  fake.listing.reset();
  auto del = plan("{}", R"({"rules": []})");
  REQUIRE(del.size() == 1);
  fake.batches.clear();
  apply_action(fake, del[0]);
  CHECK(fake.batches.empty());
}

TEST_CASE("rule features: equivalent forms compare equal") {
  Section a = parse(R"({"sets": {"blocked": {"type": "ipv4_addr", "elements": ["10.0.0.0/8", "192.168.1.5"]},
                                  "web": {"type": "inet_service", "elements": [443, "80", "8000-8100"]}},
    "rules": [{"proto": "ICMP", "icmp_type": ["echo-request", "Echo-Reply"], "limit": "10/second",
               "action": "accept"},
              {"iif": "eth0", "source": "@blocked", "log": "blocked: ", "counter": true, "action": "drop"},
              {"chain": "output", "oif": "eth1", "proto": "tcp", "port": "@web", "action": "accept",
               "limit": {"rate": 5, "per": "Minute", "burst": 20}}]})");
  Section b = parse(R"({"sets": {"web": {"type": "inet_service", "elements": ["8000-8100", 80, "443"]},
                                  "blocked": {"type": "ipv4_addr", "elements": ["192.168.1.5/32", "10.0.0.0/8"]}},
    "rules": [{"proto": "icmp", "icmp_type": ["echo-reply", "echo-request"],
               "limit": {"rate": 10, "per": "second", "burst": 5}, "action": "accept"},
              {"iface": "eth0", "source": ["@blocked"], "log": {"prefix": "blocked: "}, "counter": true,
               "action": "drop"},
              {"chain": "output", "oif": "eth1", "proto": "TCP", "port": "@web", "action": "accept",
               "limit": {"per": "minute", "rate": 5, "burst": 20}}]})");
  CHECK(a == b);
  Section c = parse(R"({"rules": [{"action": "accept", "log": false, "counter": false}]})");
  Section d = parse(R"({"rules": [{"action": "accept"}]})");
  CHECK(c == d);
  CHECK_FALSE(parse(R"({"rules": [{"action": "accept", "log": true}]})") == d);
  CHECK_FALSE(parse(R"({"rules": [{"action": "accept", "limit": "10/minute"}]})") ==
              parse(R"({"rules": [{"action": "accept", "limit": "10/second"}]})"));
  Section n1 = parse(R"({"nat": {"masquerade": [{"source": "10.10.0.0/24", "out_interface": "eth0"}],
                                 "forwards": [{"proto": "TCP", "port": "8080", "to": "10.10.0.5:80"}]}})");
  Section n2 = parse(R"({"nat": {"forwards": [{"proto": "tcp", "port": 8080, "to": "10.10.0.5:80"}],
                                 "masquerade": [{"out_interface": "eth0", "source": "10.10.0.0/24"}]}})");
  CHECK(n1 == n2);
  CHECK(n1.nat);
  CHECK(n1.dnat_accept);
  Section n3 = parse(R"({"nat": {"forwards": [{"proto": "udp", "port": 53, "to": "10.10.0.5"}]}})");
  REQUIRE(n3.forwards.size() == 1);
  CHECK(n3.forwards[0].to_port == 53);
}

TEST_CASE("rule features: hostile and impossible values are refused") {
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "log": "a\nb"}]})"), "/rules/0/log"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "log": "say \"x\""}]})"), "double quotes"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "log": ")" + std::string(128, 'x') + R"("}]})"),
                 "1-127 bytes"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "log": "caf\u00e9"}]})"), "printable ASCII"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "log": 5}]})"), "/rules/0/log"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "oif": "eth0"}]})"), "chain input"));
  CHECK(mentions(problems_of(R"({"rules": [{"chain": "output", "action": "drop", "oif": "a b"}]})"), "/oif"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "iface": "a", "iif": "b"}]})"), "give one"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "icmp_type": "echo-request"}]})"),
                 "needs \"proto\" icmp"));
  CHECK(mentions(
      problems_of(R"({"rules": [{"proto": "icmp", "action": "drop", "icmp_type": "nd-router-advert"}]})"),
      "/rules/0/icmp_type"));
  CHECK(problems_of(R"({"rules": [{"proto": "icmpv6", "action": "drop", "icmp_type": "nd-router-advert"}]})")
            .empty());
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "limit": "0/second"}]})"), "/rules/0/limit"));
  CHECK(
      mentions(problems_of(R"({"rules": [{"action": "drop", "limit": "10/fortnight"}]})"), "/rules/0/limit"));
  CHECK(mentions(
      problems_of(R"({"rules": [{"action": "drop", "limit": {"rate": 1, "per": "second", "x": 1}}]})"),
      "/rules/0/limit"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "counter": "yes"}]})"), "/rules/0/counter"));
  // What the kernel would refuse with EOVERFLOW (nft_limit_init) is refused here.
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop",
                                            "limit": {"rate": 1, "per": "week", "burst": 4294967295}}]})"),
                 "fit in 64 bits"));
  CHECK(problems_of(R"({"rules": [{"action": "drop", "limit": {"rate": 1, "per": "week", "burst": 30500}}]})")
            .empty());
  CHECK(mentions(
      problems_of(R"({"rules": [{"action": "drop", "limit": {"rate": 1, "per": "week", "burst": 30501}}]})"),
      "fit in 64 bits"));
  // named sets
  CHECK(
      mentions(problems_of(R"({"rules": [{"action": "drop", "source": "@nosuch"}]})"), "no set \"nosuch\""));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "drop", "source": "@bad name"}]})"), "a set name"));
  CHECK(mentions(problems_of(R"({"sets": {"p": {"type": "inet_service", "elements": [22]}},
                                 "rules": [{"action": "drop", "source": "@p"}]})"),
                 "holds ports"));
  CHECK(mentions(problems_of(R"({"sets": {"a": {"type": "ipv4_addr", "elements": ["10.0.0.1"]}},
                                 "rules": [{"action": "drop", "proto": "tcp", "port": "@a"}]})"),
                 "holds addresses"));
  CHECK(mentions(problems_of(R"({"sets": {"a": {"type": "ipv6_addr", "elements": ["::1"]}},
                                 "rules": [{"action": "drop", "source": "@a", "destination": "10.0.0.1"}]})"),
                 "different IP families"));
  CHECK(mentions(problems_of(R"({"sets": {"a": {"type": "ipv4_addr", "elements": ["::1"]}}})"),
                 "/sets/a/elements"));
  CHECK(mentions(
      problems_of(R"({"sets": {"a": {"type": "ipv4_addr", "elements": ["10.0.0.0/8", "10.1.0.0/16"]}}})"),
      "do not overlap"));
  CHECK(mentions(problems_of(R"({"sets": {"a": {"type": "ether_addr", "elements": []}}})"), "/sets/a/type"));
  CHECK(mentions(problems_of(R"({"sets": {"9x": {"type": "ipv4_addr"}}})"), "/sets/9x"));
  CHECK(mentions(problems_of(R"({"sets": {"x": {"type": "inet_service", "elements": [0]}}})"),
                 "/sets/x/elements"));
  // NAT
  CHECK(mentions(problems_of(R"({"nat": {"masquerade": [{"source": "10.10.0.1/24"}]}})"),
                 "/nat/masquerade/0/source"));
  CHECK(mentions(problems_of(R"({"nat": {"masquerade": [{"out_interface": "eth0; drop"}]}})"),
                 "/nat/masquerade/0/out_interface"));
  CHECK(mentions(problems_of(R"({"nat": {"forwards": [{"proto": "icmp", "port": 1, "to": "10.0.0.1"}]}})"),
                 "/nat/forwards/0/proto"));
  CHECK(
      mentions(problems_of(R"({"nat": {"forwards": [{"proto": "tcp", "port": 8080, "to": "10.0.0.1:0"}]}})"),
               "/nat/forwards/0/to"));
  CHECK(mentions(problems_of(R"({"nat": {"forwards": [{"proto": "tcp", "port": 8080, "to": "fd00::1"}]}})"),
                 "/nat/forwards/0/to"));
  CHECK(mentions(problems_of(R"({"nat": {"forwards": [{"proto": "tcp", "to": "10.0.0.1"}]}})"),
                 "/nat/forwards/0/port"));
  CHECK(mentions(problems_of(R"({"nat": {"snat": []}})"), "/nat/snat"));
}

TEST_CASE("rule features render to nft's JSON and read back equal") {
  std::string doc = R"({"persist": false, "default_policy": {"input": "drop", "forward": "drop"},
    "sets": {"blocked": {"type": "ipv4_addr", "elements": ["10.0.0.0/8", "192.168.1.5"]},
             "web": {"type": "inet_service", "elements": [80, "8000-8100"]}},
    "nat": {"masquerade": [{"source": "10.10.0.0/24", "out_interface": "eth0"}],
            "forwards": [{"proto": "tcp", "port": 8080, "to": "10.10.0.5:80", "in_interface": "eth0"}]},
    "rules": [{"iif": "eth0", "source": "@blocked", "log": "blocked: ", "counter": true, "action": "drop"},
              {"proto": "tcp", "port": "@web", "limit": {"rate": 5, "per": "minute", "burst": 10},
               "action": "accept"},
              {"proto": "icmp", "icmp_type": ["echo-request", "echo-reply"], "action": "accept"},
              {"chain": "output", "oif": "eth1", "log": true, "action": "reject"}]})";
  Section s = parse(doc);
  std::string batch = render_batch(s);
  CHECK(batch.find(R"("right":"@blocked")") != std::string::npos);
  CHECK(batch.find(R"({"limit":{"rate":5,"burst":10,"per":"minute"}})") != std::string::npos);
  CHECK(batch.find(R"({"log":{"prefix":"blocked: "}})") != std::string::npos);
  CHECK(batch.find(R"({"dnat":{"family":"ip","addr":"10.10.0.5","port":80}})") != std::string::npos);
  CHECK(batch.find(R"({"masquerade":null})") != std::string::npos);
  CHECK(batch.find(R"("type":"nat","hook":"prerouting","prio":-100)") != std::string::npos);
  // A listing as nft prints it for that batch (handles, counters, sets sorted by value).
  FakeBackend fake;
  fake.listing =
      R"({"nftables": [{"metainfo": {}}, {"table": {"family": "inet", "name": "op_dbus", "handle": 1}},
    {"set": {"family": "inet", "name": "blocked", "table": "op_dbus", "type": "ipv4_addr", "handle": 5,
             "flags": ["interval"], "elem": [{"prefix": {"addr": "10.0.0.0", "len": 8}}, "192.168.1.5"]}},
    {"set": {"family": "inet", "name": "web", "table": "op_dbus", "type": "inet_service", "handle": 6,
             "flags": ["interval"], "elem": [80, {"range": [8000, 8100]}]}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "forward", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "output", "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "prerouting", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "postrouting", "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "comment": "op-dbus: established/related", "expr": []}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "comment": "op-dbus: loopback", "expr": []}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "comment": "op-dbus: invalid", "expr": []}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "handle": 7, "expr": [
      {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}},
      {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@blocked"}},
      {"counter": {"packets": 3, "bytes": 180}}, {"log": {"prefix": "blocked: "}}, {"drop": null}]}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "handle": 8, "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": "@web"}},
      {"limit": {"rate": 5, "burst": 10, "per": "minute"}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "handle": 9, "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}},
                 "right": {"set": ["echo-reply", "echo-request"]}}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "forward", "comment": "op-dbus: established/related", "expr": []}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "forward", "comment": "op-dbus: invalid", "expr": []}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "forward", "comment": "op-dbus: port forwards", "expr": []}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "output", "handle": 10, "expr": [
      {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth1"}}, {"log": null}, {"reject": null}]}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "prerouting", "handle": 11, "expr": [
      {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}},
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
      {"dnat": {"family": "ip", "addr": "10.10.0.5", "port": 80}}]}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "postrouting", "handle": 12, "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                 "right": {"prefix": {"addr": "10.10.0.0", "len": 24}}}},
      {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}}, {"masquerade": null}]}}]})";
  JsonDoc got = query_section(fake);
  INFO(to_json(got));
  CHECK(plan(doc, to_json(got)).empty());
  std::vector<Problem> problems;
  Section back = parse(to_json(got), &problems);
  CHECK(problems.empty());
  CHECK(back == s);
  // A set changed by hand and a masquerade removed are drift, named.
  auto actions = plan(R"({"persist": false, "default_policy": {"input": "drop", "forward": "drop"},
    "sets": {"blocked": {"type": "ipv4_addr", "elements": ["10.0.0.0/8"]},
             "web": {"type": "inet_service", "elements": [80, "8000-8100"]}},
    "nat": {"forwards": [{"proto": "tcp", "port": 8080, "to": "10.10.0.5:80", "in_interface": "eth0"}]},
    "rules": [{"iif": "eth0", "source": "@blocked", "log": "blocked: ", "counter": true, "action": "drop"},
              {"proto": "tcp", "port": "@web", "limit": {"rate": 5, "per": "minute", "burst": 10},
               "action": "accept"},
              {"proto": "icmp", "icmp_type": ["echo-request", "echo-reply"], "action": "accept"},
              {"chain": "output", "oif": "eth1", "log": true, "action": "reject"}]})",
                      to_json(got));
  std::vector<std::string> summaries;
  for (const auto& a : actions) summaries.push_back(a.summary);
  REQUIRE(summaries.size() == 2);
  CHECK(summaries[0] == "change set blocked");
  CHECK(summaries[1] == "set NAT: 0 masquerade, 1 port forward(s)");
}

TEST_CASE("a checkpoint restores the listing as it was, or deletes a table that was not there") {
  CHECK(render_restore(std::nullopt) == render_delete());
  std::string listing = R"({"nftables": [{"metainfo": {"version": "1"}},
    {"table": {"family": "inet", "name": "op_dbus", "handle": 3}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "input", "handle": 1, "type": "filter",
               "hook": "input", "prio": 0, "policy": "drop"}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "handle": 4,
              "expr": [{"accept": null}]}}]})";
  std::string batch = render_restore(listing);
  CHECK(batch.find("handle") == std::string::npos);
  CHECK(batch.find("metainfo") == std::string::npos);
  JsonDoc d = parse_json(batch);
  const auto& cmds = d["nftables"];
  REQUIRE(cmds.Size() == 5);
  CHECK(to_json(cmds[1]) == R"({"delete":{"table":{"family":"inet","name":"op_dbus"}}})");
  CHECK(get_string(cmds[3]["add"]["chain"], "policy") == "drop");
}

TEST_CASE("lockout: the SSH connection's packets evaluated as nft would") {
  auto tuple = parse_ssh_connection("10.0.0.9 50022 10.0.0.1 22");
  REQUIRE(tuple);
  CHECK(tuple->client == "10.0.0.9");
  CHECK(tuple->server_port == 22);
  CHECK(parse_ssh_connection("::ffff:10.0.0.9 5 ::ffff:10.0.0.1 22")->client == "10.0.0.9");
  CHECK_FALSE(parse_ssh_connection("10.0.0.9 50022 10.0.0.1"));
  CHECK_FALSE(parse_ssh_connection("10.0.0.9 x 10.0.0.1 22"));
  CHECK_FALSE(parse_ssh_connection("10.0.0.9 1 ::1 22"));
  auto reason = [&](const std::string& doc) { return lockout_reason(parse(doc), *tuple); };
  // The builtin established/related rule accepts the running connection whatever comes after it.
  CHECK_FALSE(
      reason(R"({"default_policy": {"input": "drop"}, "rules": [{"proto": "tcp", "action": "drop"}]})"));
  // Without it the rules decide, in order.
  CHECK(reason(R"({"builtin_rules": false, "default_policy": {"input": "drop"}, "rules": []})"));
  CHECK_FALSE(reason(R"({"builtin_rules": false, "default_policy": {"input": "drop"},
                         "rules": [{"proto": "tcp", "port": 22, "action": "accept"}]})"));
  CHECK(reason(R"({"builtin_rules": false, "rules": [{"source": "10.0.0.0/24", "action": "drop"},
                                                     {"proto": "tcp", "port": 22, "action": "accept"}]})"));
  CHECK_FALSE(reason(R"({"builtin_rules": false, "rules": [{"source": "10.1.0.0/24", "action": "drop"}]})"));
  CHECK(reason(R"({"builtin_rules": false, "sets": {"bad": {"type": "ipv4_addr", "elements": ["10.0.0.9"]}},
                   "rules": [{"source": "@bad", "action": "reject"}]})"));
  CHECK_FALSE(reason(R"({"builtin_rules": false, "rules": [{"proto": "udp", "action": "drop"}]})"));
  // An interface the tuple does not tell: a drop may match, an accept may not.
  CHECK(reason(R"({"builtin_rules": false, "rules": [{"iface": "eth0", "action": "drop"}]})"));
  CHECK(reason(R"({"builtin_rules": false, "default_policy": {"input": "drop"},
                   "rules": [{"iface": "eth0", "action": "accept"}]})"));
  // The replies go through output, which has no builtin rule.
  CHECK(reason(R"({"default_policy": {"output": "drop"}, "rules": []})"));
  CHECK_FALSE(reason(R"({"default_policy": {"output": "drop"},
                         "rules": [{"chain": "output", "destination": "10.0.0.9", "action": "accept"}]})"));
  // diff marks every action destructive and says why.
  auto actions = plan(R"({"builtin_rules": false, "default_policy": {"input": "drop"}, "rules": []})",
                      R"({"ssh_connection": "10.0.0.9 50022 10.0.0.1 22"})");
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].destructive);
  CHECK(actions[0].summary.find("LOCKOUT") != std::string::npos);
  auto fine = plan(R"({"default_policy": {"input": "drop"}, "rules": []})",
                   R"({"ssh_connection": "10.0.0.9 50022 10.0.0.1 22"})");
  REQUIRE(fine.size() == 1);
  CHECK_FALSE(fine[0].destructive);
}

TEST_CASE("persist: apply writes the boot files, query reports them, an empty section removes them") {
  FakeBackend fake;
  std::string doc = R"({"default_policy": {"input": "drop"},
    "sets": {"a": {"type": "ipv6_addr", "elements": ["2001:db8::/32"]}},
    "nat": {"forwards": [{"proto": "udp", "port": 53, "to": "10.0.0.2"}]},
    "rules": [{"port": 22, "proto": "tcp", "action": "accept", "limit": "3/minute", "log": "ssh: "},
              {"source": "@a", "action": "drop", "counter": true}]})";
  auto actions = plan(doc, "{}");
  REQUIRE(actions.size() == 1);
  apply_action(fake, actions[0]);
  REQUIRE(fake.batches.size() == 1);
  REQUIRE(fake.boot.batch);
  CHECK(*fake.boot.batch == fake.batches[0]);
  // The boot file read back as a listing (what --root does) is the same table, persisted.
  fake.listing = listing_from_batch(*fake.boot.batch);
  REQUIRE(fake.listing);
  JsonDoc got = query_section(fake);
  INFO(to_json(got));
  CHECK(get_bool(got, "persist", false));
  CHECK(plan(doc, to_json(got)).empty());
  // A boot file that differs from the table is drift of "persist".
  fake.boot.batch = render_batch(parse(R"({"rules": []})"));
  auto drift = plan(doc, to_json(query_section(fake)));
  REQUIRE(drift.size() == 1);
  CHECK(drift[0].pointer() == "/persist");
  CHECK(drift[0].summary.find("/etc/op-dbus/firewall.json") != std::string::npos);
  // "persist": false removes the boot files.
  fake.boot = {fake.batches[0], true, true};
  std::string nopersist = R"({"persist": false, "default_policy": {"input": "drop"},
    "sets": {"a": {"type": "ipv6_addr", "elements": ["2001:db8::/32"]}},
    "nat": {"forwards": [{"proto": "udp", "port": 53, "to": "10.0.0.2"}]},
    "rules": [{"port": 22, "proto": "tcp", "action": "accept", "limit": "3/minute", "log": "ssh: "},
              {"source": "@a", "action": "drop", "counter": true}]})";
  auto off = plan(nopersist, to_json(query_section(fake)));
  REQUIRE(off.size() == 1);
  fake.batches.clear();
  apply_action(fake, off[0]);
  CHECK(fake.batches.empty());  // the table is as wanted: only the boot files go
  CHECK_FALSE(fake.boot.any());
  // Boot files without a table: an empty section removes them.
  fake.listing.reset();
  fake.boot = {std::string("{}"), true, true};
  auto del = plan("{}", to_json(query_section(fake)));
  REQUIRE(del.size() == 1);
  apply_action(fake, del[0]);
  CHECK_FALSE(fake.boot.any());
  CHECK(listing_from_batch(render_delete()) == std::nullopt);
  CHECK(unit_text().find("ExecStart=/usr/sbin/nft -j -f /etc/op-dbus/firewall.json\n") != std::string::npos);
  CHECK(unit_text().find("Before=network-pre.target") != std::string::npos);
  CHECK(unit_text().find("After=nftables.service") != std::string::npos);
}

TEST_CASE("overlapping set elements: found in large sets, named as before, and none in disjoint ones") {
  auto set_of = [](const std::vector<std::string>& elements) {
    std::string list;
    for (const auto& e : elements) list += (list.empty() ? "\"" : ",\"") + e + "\"";
    return R"({"sets": {"a": {"type": "ipv4_addr", "elements": [)" + list + "]}}}";
  };
  // 1,024 disjoint addresses and networks: no problem.
  std::vector<std::string> disjoint;
  for (int i = 0; i < 1024; ++i) {
    disjoint.push_back("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
                       (i % 2 ? ".0/24" : ".1"));
  }
  CHECK(problems_of(set_of(disjoint)).empty());
  // One network holding another, wherever they fall: the first in sorted order that holds one, and the
  // first it holds.
  for (const auto& [outer, inner] : std::vector<std::pair<std::string, std::string>>{
           {"10.7.0.0/16", "10.7.9.0/24"}, {"10.0.0.0/8", "10.200.3.1"}, {"11.0.0.0/8", "11.255.255.255"}}) {
    auto with = disjoint;
    with.push_back(outer);
    with.push_back(inner);
    auto problems = problems_of(set_of(with));
    REQUIRE(problems.size() == 1);
    CHECK(mentions(problems, "elements that do not overlap; \"" + outer + "\" contains \""));
  }
  auto v6 = problems_of(
      R"({"sets": {"b": {"type": "ipv6_addr", "elements": ["2001:db8::/32", "fd00::1", "2001:db8:1::/48"]}}})");
  REQUIRE(v6.size() == 1);
  CHECK(mentions(v6, "\"2001:db8::/32\" contains \"2001:db8:1::/48\""));
  CHECK(
      problems_of(R"({"sets": {"b": {"type": "ipv6_addr", "elements": ["2001:db8::/32", "2001:db9::/32"]}}})")
          .empty());
}

TEST_CASE("the same section parsed again gives the same answer; a different one is parsed anew") {
  const std::string good = R"({"rules": [{"port": 22, "proto": "tcp", "action": "accept"}]})";
  const std::string bad_double = R"({"rules": [{"port": 22.0, "proto": "tcp", "action": "accept"}]})";
  const std::string reordered = R"({"rules": [{"action": "accept", "proto": "tcp", "port": 22}]})";
  CHECK(problems_of(good).empty());
  CHECK(problems_of(good).empty());
  CHECK_FALSE(problems_of(bad_double).empty());  // 22.0 is not 22 here, whatever rapidjson's == says
  CHECK(problems_of(good).empty());
  CHECK(problems_of(reordered).empty());
  CHECK_FALSE(problems_of(R"({"rules": [{"port": 22, "proto": "tcq", "action": "accept"}]})").empty());
  JsonDoc a = parse_json(good);
  JsonDoc b = parse_json(R"({"rules": [{"port": 23, "proto": "tcp", "action": "accept"}]})");
  Section sa, sb;
  CHECK(section_problems(a, &sa).empty());
  CHECK(section_problems(b, &sb).empty());
  CHECK(section_problems(a, &sb).empty());
  CHECK(sb == sa);
  REQUIRE(sa.rules.size() == 1);
  CHECK(sa.rules[0].ports == std::vector<PortRange>{{22, 22}});
}

TEST_CASE("a rule's address list is the fewest networks covering it, as nft merges it") {
  using V = std::vector<std::string>;
  CHECK(address_cover({"10.0.0.0/16", "10.1.0.0/16"}) == V{"10.0.0.0/15"});
  CHECK(address_cover({"10.1.0.0/16", "10.2.0.0/16"}) == V{"10.1.0.0/16", "10.2.0.0/16"});
  CHECK(address_cover({"10.0.0.0/8", "10.1.2.3", "10.200.0.0/16"}) == V{"10.0.0.0/8"});
  CHECK(address_cover({"192.168.1.1", "192.168.1.0"}) == V{"192.168.1.0/31"});
  CHECK(address_cover({"192.168.1.1", "192.168.1.2"}) == V{"192.168.1.1", "192.168.1.2"});
  CHECK(address_cover({"0.0.0.0/1", "128.0.0.0/1"}) == V{"0.0.0.0/0"});
  CHECK(address_cover({"255.255.255.255", "255.255.255.254"}) == V{"255.255.255.254/31"});
  CHECK(address_cover({"2001:db8::/33", "2001:db8:8000::/33", "fd00::1"}) == V{"2001:db8::/32", "fd00::1"});
  CHECK(address_cover({"::/1", "8000::/1"}) == V{"::/0"});
  CHECK(address_cover({"10.0.0.1"}) == V{"10.0.0.1"});
  CHECK(range_networks("10.0.0.0", "10.0.0.5") == V{"10.0.0.0/30", "10.0.0.4/31"});
  CHECK(range_networks("10.1.0.0", "10.2.255.255") == V{"10.1.0.0/16", "10.2.0.0/16"});
  CHECK(range_networks("0.0.0.0", "255.255.255.255") == V{"0.0.0.0/0"});
  CHECK(range_networks("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == V{"::/0"});
  CHECK(range_networks("10.0.0.5", "10.0.0.1").empty());
  CHECK(range_networks("10.0.0.1", "::1").empty());
  // Equivalent lists compare equal; the plan shows the covering networks.
  CHECK(parse(R"({"rules": [{"source": ["10.0.0.0/16", "10.1.0.0/16"], "action": "drop"}]})") ==
        parse(R"({"rules": [{"source": "10.0.0.0/15", "action": "drop"}]})"));
  CHECK(parse(R"({"rules": [{"source": ["10.0.0.0/8", "10.1.0.0/16"], "action": "drop"}]})") ==
        parse(R"({"rules": [{"source": "10.0.0.0/8", "action": "drop"}]})"));
  // As nft lists a merged run that is not one network: a range, read as those networks.
  CurrentTable t = parse_table(std::string(R"({"nftables": [
    {"table": {"family": "inet", "name": "op_dbus"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "input", "type": "filter", "hook": "input",
               "prio": 0, "policy": "accept"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "forward", "type": "filter", "hook": "forward",
               "prio": 0, "policy": "accept"}},
    {"chain": {"family": "inet", "table": "op_dbus", "name": "output", "type": "filter", "hook": "output",
               "prio": 0, "policy": "accept"}},
    {"rule": {"family": "inet", "table": "op_dbus", "chain": "input", "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                 "right": {"set": [{"range": ["10.1.0.0", "10.2.255.255"]}, "10.9.0.1"]}}},
      {"drop": null}]}}]})"));
  REQUIRE(t.section.rules.size() == 1);
  CHECK(t.section.rules[0].nft.empty());
  CHECK(t.section.rules[0].source == V{"10.1.0.0/16", "10.2.0.0/16", "10.9.0.1"});
}
