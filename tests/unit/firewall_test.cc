// The firewall plugin's pure half: parse + normalise (equivalent forms compare equal), check (hostile values),
// the rule-level diff and its one typed operation, the nft batch, and reading a listing back.
#include <catch2/catch.hpp>

#include "error.h"
#include "firewall/apply.h"
#include "firewall/diff.h"
#include "firewall/model.h"
#include "firewall/ops.h"
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
  CHECK(mentions(problems_of(R"({"nat": {}})"), "not supported yet: NAT"));
  CHECK(mentions(problems_of(R"({"persist": true})"), "not supported yet"));
  CHECK(mentions(problems_of(R"({"rules": [{"action": "accept", "log": true}]})"), "not supported yet"));
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
  std::string batch = render_batch(s, {"stale"});
  JsonDoc d = parse_json(batch);
  const auto& cmds = d["nftables"];
  REQUIRE(cmds.IsArray());
  CHECK(to_json(cmds[0]) == R"({"add":{"table":{"family":"inet","name":"op_dbus"}}})");
  CHECK(to_json(cmds[1]) == R"({"flush":{"table":{"family":"inet","name":"op_dbus"}}})");
  CHECK(to_json(cmds[2]) == R"({"delete":{"chain":{"family":"inet","table":"op_dbus","name":"stale"}}})");
  CHECK(get_string(cmds[3]["add"]["chain"], "policy") == "drop");
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
      {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}}]})";
  JsonDoc got = query_section(fake);
  CHECK(to_json(got) ==
        R"({"builtin_rules":false,"default_policy":{"forward":"accept","input":"drop","output":"accept"},)"
        R"("rules":[{"source":["10.0.0.0/8","192.168.1.1"],"proto":"tcp","port":"80,443","action":"accept",)"
        R"("comment":"web"},{"nft":"[{\"counter\":{\"packets\":0,\"bytes\":0}},{\"accept\":null}]"}]})");
  // The section reported plans the same document to nothing except the unreadable rule and the builtins.
  auto actions = plan(R"({"builtin_rules": false, "default_policy": {"input": "drop"}, "rules": [
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
  CHECK(fake.batches[0].find(R"({"flush":{"table":{"family":"inet","name":"op_dbus"}}})") !=
        std::string::npos);
  // No table: deleting it runs nothing.
  auto del = plan("{}", R"({"rules": []})");
  REQUIRE(del.size() == 1);
  fake.batches.clear();
  apply_action(fake, del[0]);
  CHECK(fake.batches.empty());
}
