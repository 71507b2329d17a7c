// The network section's validation: names that reach the kernel, /etc/network/interfaces or argv, and
// documents that can never converge. Each case goes through both the schema and check(), the way
// `op-dbus validate` does, and asserts where the problem is and what was expected.
#include <catch2/catch.hpp>

#include "diagnostic.h"
#include "network/model.h"
#include "schema.h"
#include "state.h"
#include "text.h"

using namespace opdbus;
using namespace opdbus::network;

namespace {

// check()'s diagnostics for a network section, one per line.
std::string check(const std::string& section) {
  JsonDoc d = parse_json(section);
  Diagnostics out;
  check_section(d, "s.json", "/plugins/network", out);
  std::string all;
  for (const auto& x : out) all += x.format() + "\n";
  return all;
}

}  // namespace

TEST_CASE("interface names are checked wherever they appear", "[network][check]") {
  CHECK(valid_ifname("eth0"));
  CHECK(valid_ifname("vmbr0.100"));
  CHECK(valid_ifname("a23456789012345"));
  CHECK_FALSE(valid_ifname(""));
  CHECK_FALSE(valid_ifname("a234567890123456"));  // 16 bytes
  CHECK_FALSE(valid_ifname("eth0:1"));
  CHECK_FALSE(valid_ifname("a/b"));
  CHECK_FALSE(valid_ifname("."));
  CHECK_FALSE(valid_ifname(".."));
  CHECK_FALSE(valid_ifname("eth0\nauto"));
  CHECK_FALSE(valid_ifname("a b"));
  CHECK_FALSE(valid_ifname("\xc3\xa9th0"));  // not ASCII

  // The key that would have written "auto eth0" into /etc/network/interfaces.
  CHECK_THAT(check(R"({"interfaces": {"x\niface eth0 inet dhcp": {"type": "bridge"}}})"),
             Catch::Contains("/plugins/network/interfaces/x\\niface eth0 inet dhcp") &&
                 Catch::Contains("1 to 15 bytes"));
  CHECK_THAT(check(R"({"bonds": {"bond0:1": {}}})"), Catch::Contains("/plugins/network/bonds/bond0:1"));
  CHECK_THAT(check(R"({"interfaces": {"br0": {"type": "bridge", "bridge_ports": ["ok", ".."]}}})"),
             Catch::Contains("/plugins/network/interfaces/br0/bridge_ports/1"));
  CHECK_THAT(check(R"({"bonds": {"bond0": {"slaves": ["a234567890123456"]}}})"),
             Catch::Contains("/plugins/network/bonds/bond0/slaves/0"));
  CHECK_THAT(check(R"({"interfaces": {"v": {"type": "vlan", "id": 5, "parent": "e/0"}}})"),
             Catch::Contains("/plugins/network/interfaces/v/parent"));
  CHECK_THAT(check(R"({"interfaces": {"v": {"type": "veth", "peer": "p q"}}})"),
             Catch::Contains("/plugins/network/interfaces/v/peer"));
  CHECK_THAT(check(R"({"routes": [{"destination": "default", "device": "eth0:1"}]})"),
             Catch::Contains("/plugins/network/routes/0/device"));
  CHECK_THAT(check(R"({"interfaces": {"br0": {"type": "bridge", "comment": "a\nauto eth9"}}})"),
             Catch::Contains("/plugins/network/interfaces/br0/comment"));
}

TEST_CASE("documents that can never converge are refused", "[network][check]") {
  CHECK_THAT(
      check(R"({"interfaces": {"a": {"type": "bridge", "address": "10.0.0.1/24"},
                                       "b": {"type": "bridge", "addresses": ["10.0.0.1/16"]}}})"),
      Catch::Contains("/plugins/network/interfaces/b") && Catch::Contains("10.0.0.1 is declared on both"));
  CHECK_THAT(check(R"({"interfaces": {"a": {"type": "bridge", "address": "0.0.0.0/0"}}})"),
             Catch::Contains("/plugins/network/interfaces/a") && Catch::Contains("0.0.0.0/0"));
  CHECK_THAT(check(R"({"interfaces": {"a": {"type": "bridge", "address": "::/0"}}})"),
             Catch::Contains("cannot be a default route"));
  CHECK_THAT(
      check(R"({"interfaces": {"br0": {"type": "bridge"}}, "bonds": {"bond0": {"slaves": ["br0"]}}})"),
      Catch::Contains("/plugins/network/bonds/bond0/slaves") && Catch::Contains("cannot be a bond's slave"));
  CHECK_THAT(check(R"({"routes": [{"destination": "10.1.0.0/16", "gateway": "10.0.0.1"},
                                  {"destination": "10.1.0.0/16", "state": "absent"}]})"),
             Catch::Contains("/plugins/network/routes/1") && Catch::Contains("routes/0 declares it present"));
  CHECK_THAT(check(R"({"interfaces": {"v0": {"type": "veth", "peer": "v1"},
                                       "v1": {"type": "veth", "peer": "v2"}}})"),
             Catch::Contains("/plugins/network/interfaces/v0/peer") && Catch::Contains("v1 names v2"));
  CHECK_THAT(check(R"({"interfaces": {"v0": {"type": "veth", "peer": "v1"}, "v1": {"type": "bridge"}}})"),
             Catch::Contains("not a veth"));
  CHECK_THAT(check(R"({"interfaces": {"v0": {"type": "veth", "peer": "v1"}, "v1": {"state": "absent"}}})"),
             Catch::Contains("other end of veth v0"));

  // What is consistent passes.
  CHECK(check(R"({"interfaces": {"v0": {"type": "veth", "peer": "v1"}, "v1": {"type": "veth", "peer": "v0"},
                                  "a": {"type": "bridge", "address": "10.0.0.1/24"},
                                  "b": {"type": "bridge", "address": "10.0.1.1/24"}},
                  "routes": [{"destination": "10.1.0.0/16", "gateway": "10.0.0.1"},
                             {"destination": "10.2.0.0/16", "state": "absent"},
                             {"destination": "10.1.0.0/16", "gateway": "10.0.0.9", "state": "absent"}]})")
            .empty());
}

TEST_CASE("the schema refuses names and values that would reach a file line or the kernel",
          "[network][schema]") {
  auto schema = [](const std::string& section) {
    JsonDoc d = parse_json(section);
    Diagnostics out;
    validate_schema("network", d, "/plugins/network", "s.json", out);
    std::string all;
    for (const auto& x : out) all += x.format() + "\n";
    return all;
  };
  CHECK(
      schema(R"({"interfaces": {"vmbr0": {"type": "bridge", "bridge_ports": ["eno1", "a.b", "-x", ".a"]}}})")
          .empty());
  for (const char* bad : {"eth0:1", "..", ".", "a b", "a/b", "a234567890123456", "", "\u00e9th0", "x\ty"}) {
    INFO(bad);
    std::string port = json_quoted(bad);
    CHECK_THAT(schema(R"({"interfaces": {"vmbr0": {"type": "bridge", "bridge_ports": [)" + port + "]}}}"),
               Catch::Contains("/plugins/network/interfaces/vmbr0/bridge_ports/0") &&
                   Catch::Contains("1 to 15 bytes"));
  }
  CHECK_THAT(schema(R"({"interfaces": {"br0": {"comment": "a\nb"}}})"),
             Catch::Contains("/plugins/network/interfaces/br0/comment"));
  CHECK_THAT(schema(R"({"interfaces": {"br0": {"dns": ["192.0.2.1\nnameserver 1.1.1.1"]}}})"),
             Catch::Contains("/plugins/network/interfaces/br0/dns/0"));
  CHECK_THAT(schema(R"({"routes": [{"destination": "default", "gateway": "10.0.0.1", "table": "main x"}]})"),
             Catch::Contains("/plugins/network/routes/0/table"));
  CHECK(
      schema(R"({"routes": [{"destination": "default", "gateway": "10.0.0.1", "table": "main"}]})").empty());
  CHECK_THAT(schema(R"({"bonds": {"bond0": {"mode": "802.3ad\n"}}})"),
             Catch::Contains("/plugins/network/bonds/bond0/mode"));
}
