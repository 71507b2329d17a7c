// The network plugin's pure half: diff ordering, the host -> section conversion (and that `show` plans to
// nothing), semantic checks, and the renderings for boot (/etc/network/interfaces, resolv.conf, the unit).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "engine.h"
#include "error.h"
#include "network/apply.h"
#include "network/diff.h"
#include "network/model.h"
#include "network/ops.h"
#include "network/persist.h"
#include "network/query.h"
#include "network/resolv_conf.h"
#include "sys/fs.h"

using namespace opdbus;
using namespace opdbus::network;

namespace {

std::vector<Action> plan(const std::string& desired, const std::string& current) {
  JsonDoc d = parse_json(desired);
  JsonDoc c = parse_json(current);
  auto actions = diff_section(d, c);
  finish_actions("network", d, actions);
  return actions;
}

// Position of the first action whose summary contains `text`; fails the test when there is none.
size_t position(const std::vector<Action>& actions, const std::string& text) {
  for (size_t i = 0; i < actions.size(); ++i) {
    if (actions[i].summary.find(text) != std::string::npos) return i;
  }
  FAIL("no action with summary containing '" << text << "'");
  return 0;
}

std::string summaries(const std::vector<Action>& actions) {
  std::string out;
  for (const auto& a : actions) out += a.resource() + ": " + a.summary + "\n";
  return out;
}

sys::LinkInfo link(int index, const std::string& name, const std::string& kind, bool up = true) {
  sys::LinkInfo l;
  l.index = index;
  l.name = name;
  l.kind = kind;
  l.arptype = name == "lo" ? 772 : 1;
  l.up = up;
  l.mtu = name == "lo" ? 65536 : 1500;
  l.mac = name == "lo" ? "00:00:00:00:00:00" : "52:54:00:00:00:0" + std::to_string(index);
  return l;
}

sys::AddressInfo addr(int index, const std::string& cidr, unsigned flags = 0x80 /* IFA_F_PERMANENT */,
                      unsigned scope = 0) {
  sys::AddressInfo a;
  a.index = index;
  a.family = cidr.find(':') != std::string::npos ? 10 : 2;
  a.address = cidr;
  a.flags = flags;
  a.scope = scope;
  return a;
}

sys::RouteInfo route(const std::string& dst, const std::string& gw, int oif, uint8_t proto = 4,
                     uint32_t metric = 0) {
  sys::RouteInfo r;
  r.family = dst.find(':') != std::string::npos ? 10 : 2;
  r.destination = dst;
  r.gateway = gw;
  r.oif = oif;
  r.metric = metric;
  r.protocol = proto;
  return r;
}

// A host with a bridge over two veths, noise the section must not show, a default route and a static route.
HostState sample_host() {
  HostState st;
  st.links = {link(1, "lo", ""),     link(2, "eth0", ""),   link(3, "br0", "bridge"),
              link(4, "va", "veth"), link(5, "vb", "veth"), link(6, "eth0.10", "vlan", false)};
  st.links[2].stp_state = 0;
  st.links[2].vlan_filtering = 0;
  st.links[2].alias = "lab bridge";
  st.links[3].master = 3;
  st.links[4].master = 3;
  st.links[3].link = 5;
  st.links[4].link = 4;
  st.links[5].link = 2;
  st.links[5].vlan_id = 10;
  st.addresses = {addr(1, "127.0.0.1/8", 0x80, 254),
                  addr(2, "192.0.2.10/24", 0 /* learnt by DHCP */),
                  addr(3, "10.0.0.1/24"),
                  addr(3, "2001:db8::1/64"),
                  addr(3, "fe80::1/64", 0x80, 253),
                  addr(3, "10.0.0.9/24", 0x80 | 0x08 /* DAD failed */)};
  st.routes = {route("0.0.0.0/0", "10.0.0.254", 3), route("10.0.0.0/24", "", 3, 2 /* kernel */),
               route("10.9.0.0/16", "10.0.0.2", 3), route("::/0", "2001:db8::fe", 3, 9 /* RA */, 1024),
               route("10.8.0.0/16", "10.0.0.3", 3, 4, 100)};
  st.dns["br0"] = {"192.0.2.53"};
  st.dhcp = {"eth0"};
  return st;
}

std::string source_root() {
  const char* root = std::getenv("OPDBUS_SOURCE_ROOT");
  return root ? root : ".";
}

}  // namespace

TEST_CASE("a bond is created before its slaves are enslaved, a VLAN after its parent", "[network][diff]") {
  auto actions = plan(R"({
      "bonds": {"bond0": {"slaves": ["eth0", "eth1"], "mode": "802.3ad"}},
      "interfaces": {"bond0.100": {"type": "vlan"}, "vmbr100": {"type": "bridge", "bridge_ports": ["bond0.100"]}}})",
                      R"({"interfaces": {"eth0": {"type": "ethernet", "state": "up"},
                                         "eth1": {"type": "ethernet", "state": "up"}}})");
  INFO(summaries(actions));
  CHECK(position(actions, "create bond bond0") < position(actions, "create vlan bond0.100"));
  CHECK(position(actions, "create vlan bond0.100") < position(actions, "create bridge vmbr100"));
  CHECK(position(actions, "create bond bond0") < position(actions, "bond bond0 slaves: add eth0, eth1"));
  CHECK(position(actions, "bond bond0 slaves") < position(actions, "bridge vmbr100 ports: add bond0.100"));
  CHECK(position(actions, "bring bond0 up") < position(actions, "bring bond0.100 up"));
  CHECK(position(actions, "bring bond0.100 up") < position(actions, "bring vmbr100 up"));
}

TEST_CASE("links are deleted in the reverse order of their creation", "[network][diff]") {
  auto actions = plan(R"({"interfaces": {"vmbr100": {"state": "absent"}, "bond0.100": {"state": "absent"}},
                          "bonds": {"bond0": {"state": "absent"}}})",
                      R"({"interfaces": {
                            "eth0": {"type": "ethernet", "state": "up"},
                            "bond0": {"type": "bond", "state": "up"},
                            "bond0.100": {"type": "vlan", "state": "up", "id": 100, "parent": "bond0"},
                            "vmbr100": {"type": "bridge", "state": "up", "bridge_ports": ["bond0.100"]}},
                          "bonds": {"bond0": {"slaves": ["eth0"]}}})");
  INFO(summaries(actions));
  REQUIRE(actions.size() == 3);
  CHECK(actions[0].summary == "delete bridge vmbr100");
  CHECK(actions[1].summary == "delete vlan bond0.100");
  CHECK(actions[2].summary == "delete bond bond0");
  for (const auto& a : actions) CHECK(a.op == Op::Delete);
}

TEST_CASE("a link whose kind changes is replaced, and that is destructive", "[network][diff]") {
  auto actions = plan(R"({"interfaces": {"x0": {"type": "bridge"}}})",
                      R"({"interfaces": {"x0": {"type": "dummy", "state": "up"}}})");
  INFO(summaries(actions));
  REQUIRE(actions.size() >= 2);
  CHECK(actions[0].op == Op::Delete);
  CHECK(actions[0].destructive);
  CHECK(actions[1].op == Op::Create);
  CHECK_FALSE(actions[1].destructive);
}

TEST_CASE("only one end of a new veth pair creates it", "[network][diff]") {
  auto actions =
      plan(R"({"interfaces": {"v1": {"type": "veth", "peer": "v0"}, "v0": {"type": "veth", "peer": "v1"}}})",
           R"({"interfaces": {}})");
  INFO(summaries(actions));
  size_t creates = 0;
  for (const auto& a : actions) creates += a.op == Op::Create;
  CHECK(creates == 1);
  CHECK(position(actions, "create veth v0 (peer v1)") < actions.size());
}

TEST_CASE("every action carries its typed operation", "[network][diff][ops]") {
  auto actions = plan(R"({"persist": false, "interfaces": {
      "br0": {"type": "bridge", "bridge_ports": ["eth0"], "address": "10.0.0.1/24",
              "bridge_options": {"stp": true}},
      "eth0.7": {"type": "vlan"}},
      "routes": [{"destination": "10.9.0.0/16", "gateway": "10.0.0.2"}]})",
                      R"({"interfaces": {"eth0": {"type": "ethernet", "state": "up"}}, "routes": []})");
  REQUIRE_FALSE(actions.empty());
  for (const auto& a : actions) {
    INFO(a.summary);
    REQUIRE(a.operation);
  }
  const Ops& create = operation_of<Ops>(actions[position(actions, "create bridge br0")].operation, "br0");
  REQUIRE(std::holds_alternative<CreateLink>(create));
  CHECK(std::get<CreateLink>(create).stp);
  CHECK(actions[position(actions, "create bridge br0")].operation->to_json()["op"] == "create");
  const Ops& vlan = operation_of<Ops>(actions[position(actions, "create vlan eth0.7")].operation, "eth0.7");
  REQUIRE(std::holds_alternative<CreateLink>(vlan));
  CHECK(std::get<CreateLink>(vlan).parent == "eth0");
  CHECK(std::get<CreateLink>(vlan).vlan_id == 7);
  const Ops& members = operation_of<Ops>(actions[position(actions, "ports: add eth0")].operation, "br0");
  REQUIRE(std::holds_alternative<SetMembers>(members));
  CHECK(std::get<SetMembers>(members).add == std::vector<std::string>{"eth0"});
  const Ops& route = operation_of<Ops>(actions[position(actions, "add route 10.9.0.0/16")].operation, "r");
  REQUIRE(std::holds_alternative<SetRoutes>(route));
  REQUIRE(std::get<SetRoutes>(route).add);
  CHECK(std::get<SetRoutes>(route).add->gateway == std::optional<std::string>("10.0.0.2"));
}

TEST_CASE("what can never be reached is a plan error, not an action that fails at apply", "[network][diff]") {
  const char* host = R"({"interfaces": {"eth0": {"type": "ethernet", "state": "up"}}, "routes": []})";
  auto refused = [&](const std::string& desired, const std::string& text) {
    INFO(desired);
    try {
      plan(desired, host);
      FAIL("planned");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::InvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains(text));
    }
  };
  refused(R"({"interfaces": {"ens18": {"type": "ethernet"}}})",
          "network/interfaces/ens18: interface ens18 is missing");
  refused(R"({"interfaces": {"ens19": {"address": "10.0.0.1/24"}}})", "no \"type\" to create it as");
  refused(R"({"interfaces": {"v5": {"type": "vlan", "id": 5, "parent": "eth9"}}})",
          "network/interfaces/v5: create vlan v5 (id 5 on eth9): its parent eth9 neither exists");
  refused(R"({"interfaces": {"ve0": {"type": "veth"}}})", "needs a \"peer\"");
  refused(R"({"interfaces": {"br0": {"type": "bridge", "bridge_ports": ["eth9"]}}})",
          "network/interfaces/br0: bridge br0 ports: add eth9: eth9 neither exists");
  refused(R"({"bonds": {"bond0": {"slaves": ["eth0", "eth8"]}}})", "eth8 neither exists");
  refused(R"({"routes": [{"destination": "10.9.0.0/16", "device": "eth9"}]})",
          "network/routes/0: add route 10.9.0.0/16 dev eth9: its device eth9 neither exists");

  // What the document makes first is fine: a VLAN on a new bridge, a port that is a new veth.
  CHECK_NOTHROW(plan(R"({"interfaces": {"br1": {"type": "bridge", "bridge_ports": ["ve0"]},
                                        "ve0": {"type": "veth", "peer": "ve1"},
                                        "br1.5": {"type": "vlan"}}})",
                     host));

  // Observed, it is drift to report; and so it is against a saved document that lists no links at all.
  auto observed = plan(R"({"interfaces": {"ens18": {"type": "ethernet", "mode": "observe"}}})", host);
  REQUIRE_FALSE(observed.empty());
  CHECK(observed[0].summary == "interface ens18 is missing");
  CHECK_FALSE(observed[0].operation);
  for (const auto& a : observed) CHECK(a.observe);
  auto unknown = plan(R"({"interfaces": {"ens18": {"type": "ethernet"}}})", "{}");
  REQUIRE_FALSE(unknown.empty());
  CHECK(unknown[0].summary == "interface ens18 is missing");
  CHECK_FALSE(unknown[0].operation);
}

TEST_CASE("keys the document does not name are not compared", "[network][diff]") {
  auto actions = plan(R"({"interfaces": {"eth0": {"type": "ethernet"}}})",
                      R"({"interfaces": {"eth0": {"type": "ethernet", "state": "up", "mtu": 9000,
                                                  "addresses": ["10.0.0.1/8"], "dns": ["192.0.2.1"]}},
                          "routes": [{"destination": "default", "gateway": "10.0.0.254", "device": "eth0"}]})");
  CHECK(actions.empty());
}

TEST_CASE("the host's state becomes the section without kernel noise", "[network][query]") {
  JsonDoc s = section_from_host(sample_host(), true);
  INFO(to_pretty_json(s));
  const JsonValue& ifs = s["interfaces"];
  CHECK_FALSE(ifs.HasMember("lo"));
  CHECK(get_string(ifs["br0"], "type") == "bridge");
  CHECK(get_strings(ifs["br0"], "bridge_ports") == std::vector<std::string>{"va", "vb"});
  CHECK(get_strings(ifs["br0"], "addresses") == std::vector<std::string>{"10.0.0.1/24", "2001:db8::1/64"});
  CHECK(get_string(ifs["br0"], "gateway") == "10.0.0.254");
  CHECK(get_string(ifs["br0"], "comment") == "lab bridge");
  CHECK_FALSE(ifs["br0"].HasMember("mac"));  // derived from its ports
  CHECK(get_strings(ifs["br0"], "dns") == std::vector<std::string>{"192.0.2.53"});
  CHECK(get_bool(ifs["eth0"], "dhcp"));
  CHECK_FALSE(ifs["eth0"].HasMember("address"));
  CHECK(get_string(ifs["va"], "peer") == "vb");
  CHECK(get_string(ifs["eth0.10"], "parent") == "eth0");
  CHECK(get_int(ifs["eth0.10"], "id") == 10);
  CHECK(get_string(ifs["eth0.10"], "state") == "down");
  const JsonValue& routes = s["routes"];
  REQUIRE(routes.Size() == 2);  // kernel prefix route, RA default and the gateway route are not listed
  CHECK(get_string(routes[0], "destination") == "10.8.0.0/16");
  CHECK(get_int(routes[0], "metric") == 100);
  CHECK(get_string(routes[1], "destination") == "10.9.0.0/16");
  CHECK_FALSE(routes[1].HasMember("metric"));
}

TEST_CASE("a link's gateway is its first main-table default route at the kernel's metric, IPv4 first",
          "[network][query]") {
  HostState st;
  st.links = {link(2, "eth1", ""), link(3, "eth2", ""), link(4, "eth3", "")};
  st.dhcp = {"eth3"};
  sys::RouteInfo other_table = route("0.0.0.0/0", "10.0.0.252", 2);
  other_table.table = 100;
  st.routes = {route("::/0", "2001:db8::1", 2, 4, 1024),     // eth1 has an IPv4 one: listed
               route("0.0.0.0/0", "10.0.0.254", 2),          // eth1's gateway
               route("0.0.0.0/0", "10.0.0.253", 2),          // a second one: listed
               other_table,                                  // not the main table: listed
               route("0.0.0.0/0", "10.0.1.254", 3, 4, 100),  // not the default metric: listed
               route("::/0", "2001:db8:1::fe", 3, 4, 1024),  // eth2's gateway
               route("0.0.0.0/0", "10.0.2.254", 4),          // the DHCP client's: neither
               route("0.0.0.0/0", "10.0.3.254", 9)};         // no such link: listed, with no device
  JsonDoc s = section_from_host(st, true);
  INFO(to_pretty_json(s));
  const JsonValue& ifs = s["interfaces"];
  CHECK(get_string(ifs["eth1"], "gateway") == "10.0.0.254");
  CHECK(get_string(ifs["eth2"], "gateway") == "2001:db8:1::fe");
  CHECK_FALSE(ifs["eth3"].HasMember("gateway"));
  // Sorted by table, family, destination, metric, gateway; IPv6's default keeps its "::/0".
  CHECK(to_json(s["routes"]) ==
        R"([{"destination":"default","gateway":"10.0.0.252","device":"eth1","table":100},)"
        R"({"destination":"default","gateway":"10.0.0.253","device":"eth1"},)"
        R"({"destination":"default","gateway":"10.0.3.254"},)"
        R"({"destination":"default","gateway":"10.0.1.254","device":"eth2","metric":100},)"
        R"({"destination":"::/0","gateway":"2001:db8::1","device":"eth1"}])");
}

TEST_CASE("show output plans to nothing against the host it came from", "[network][query]") {
  HostState st = sample_host();
  JsonDoc shown = section_from_host(st, true);
  JsonDoc current = section_from_host(st, false);
  auto actions = diff_section(shown, current);
  INFO(summaries(actions));
  CHECK(actions.empty());
}

TEST_CASE("an offline tree reads back as the document asks", "[network][query]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(source_root()) / "tests" / "fixtures" / "network";
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    auto text = sys::read_file(e.path() / "desired.json");
    if (!text) continue;
    ++n;
    JsonDoc desired = parse_json(*text);
    JsonDoc current = section_as_applied(desired);
    auto actions = diff_section(desired, current);
    INFO(e.path().filename().string() << "\n" << summaries(actions));
    CHECK(actions.empty());
  }
  CHECK(n > 0);
}

TEST_CASE("semantic checks name the problem and where it is", "[network][check]") {
  auto check = [](const std::string& text) {
    JsonDoc d = parse_json(text);
    Diagnostics out;
    check_section(d, "s.json", "/plugins/network", out);
    std::string all;
    for (const auto& x : out) all += x.format() + "\n";
    return all;
  };
  CHECK(
      check(R"({"interfaces": {"eth0.10": {"type": "vlan"}, "vlan20": {"type": "vlan", "parent": "eth0"}}})")
          .empty());
  CHECK_THAT(check(R"({"interfaces": {"v": {"type": "vlan"}}})"),
             Catch::Contains("/plugins/network/interfaces/v") && Catch::Contains("VLAN id"));
  CHECK_THAT(check(R"({"interfaces": {"e": {"dhcp": true, "address": "10.0.0.1/24"}}})"),
             Catch::Contains("exclude each other"));
  CHECK_THAT(check(R"({"interfaces": {"a": {"type": "bridge", "bridge_ports": ["p"]},
                                       "b": {"type": "bridge", "bridge_ports": ["p"]}}})"),
             Catch::Contains("one master"));
  CHECK_THAT(check(R"({"interfaces": {"a": {"type": "bridge", "bridge_ports": ["b"]},
                                       "b": {"type": "bridge", "bridge_ports": ["a"]}}})"),
             Catch::Contains("loop"));
  CHECK_THAT(check(R"({"interfaces": {"d": {"type": "dummy", "bridge_ports": ["x"]}}})"),
             Catch::Contains("/plugins/network/interfaces/d/bridge_ports"));
  CHECK_THAT(check(R"({"routes": [{"destination": "10.1.2.3/16", "gateway": "10.0.0.1"}]})"),
             Catch::Contains("/plugins/network/routes/0/destination") && Catch::Contains("10.1.0.0/16"));
  CHECK_THAT(check(R"({"routes": [{"destination": "10.1.0.0/16", "gateway": "10.0.0.1", "table": "dmz"}]})"),
             Catch::Contains("/plugins/network/routes/0/table"));
  CHECK_THAT(check(R"({"routes": [{"destination": "10.1.0.0/16"}]})"), Catch::Contains("neither"));
  CHECK_THAT(
      check(R"({"bonds": {"bond0": {"slaves": ["eth0"]}}, "interfaces": {"bond0": {"type": "bridge"}}})"),
      Catch::Contains("/plugins/network/interfaces/bond0/type"));
}

TEST_CASE("/etc/network/interfaces keeps other stanzas and replaces ours", "[network][persist]") {
  std::string existing =
      "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto eno1 vmbr0\n"
      "iface eno1 inet manual\n\niface vmbr0 inet static\n\taddress 10.1.1.1/24\n\tbridge-ports eno1\n\n"
      "auto old0\niface old0 inet manual\n";
  Section s = parse_section(parse_json(R"({
      "interfaces": {"vmbr0": {"type": "bridge", "bridge_ports": ["eno1"], "address": "192.168.1.100/24",
                               "gateway": "192.168.1.1", "dns": ["192.0.2.53"], "comment": "uplink"},
                     "bond0": {"type": "bond", "addresses": ["2001:db8::2/64"], "mtu": 9000},
                     "vlan20": {"type": "vlan", "parent": "bond0"}},
      "bonds": {"bond0": {"slaves": ["eno2", "eno3"], "mode": "802.3ad"}},
      "routes": [{"destination": "10.9.0.0/16", "gateway": "192.168.1.2", "device": "vmbr0"}]})"));
  std::string text = render_interfaces(s, existing, {"old0"});
  INFO(text);
  CHECK_THAT(text,
             Catch::StartsWith("source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
                               "auto eno1\niface eno1 inet manual\n"));
  CHECK_THAT(text, !Catch::Contains("10.1.1.1/24"));
  CHECK_THAT(text, !Catch::Contains("old0"));
  CHECK_THAT(text,
             Catch::Contains("# uplink\nauto vmbr0\niface vmbr0 inet static\n\taddress 192.168.1.100/24\n"
                             "\tgateway 192.168.1.1\n\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n"
                             "\tdns-nameservers 192.0.2.53\n"
                             "\tpost-up ip route replace 10.9.0.0/16 via 192.168.1.2 dev vmbr0\n"));
  CHECK_THAT(text, Catch::Contains("iface bond0 inet manual\n\tmtu 9000\n\tbond-slaves eno2 eno3\n"
                                   "\tbond-mode 802.3ad\n\tbond-miimon 100\niface bond0 inet6 static\n"
                                   "\taddress 2001:db8::2/64\n"));
  CHECK_THAT(text, Catch::Contains("iface vlan20 inet manual\n\tvlan-raw-device bond0\n\tvlan-id 20\n"));
  // Rendering again over its own output changes nothing.
  CHECK(render_interfaces(s, text, {"old0"}) == text);
}

TEST_CASE("the persisted document merges by name and drops what is absent", "[network][persist]") {
  JsonDoc previous = parse_json(R"({"interfaces": {"a": {"type": "dummy"}, "b": {"type": "dummy"}},
                                    "routes": [{"destination": "10.1.0.0/16", "gateway": "10.0.0.1"},
                                               {"destination": "10.2.0.0/16", "gateway": "10.0.0.1"}]})");
  JsonDoc desired = parse_json(R"({"interfaces": {"b": {"state": "absent"}, "c": {"type": "bridge"}},
                                   "routes": [{"destination": "10.1.0.0/16", "gateway": "10.0.0.9"},
                                              {"destination": "10.2.0.0/16", "state": "absent"}],
                                   "persist": true})");
  JsonDoc merged = merge_persisted(&previous, desired);
  CHECK(
      to_json(merged) ==
      R"({"interfaces":{"a":{"type":"dummy"},"c":{"type":"bridge"}},"routes":[{"destination":"10.1.0.0/16","gateway":"10.0.0.9"}]})");
  // Merging the same document again is a fixed point: the second apply writes nothing.
  Persisted p;
  p.document = render_document(merged);
  for (const auto& name : kUnitNames) p.units[name] = {unit_text(name), std::nullopt, unit_path(name)};
  JsonDoc again = parse_json(R"({"interfaces": {"c": {"type": "bridge"}}})");
  CHECK(plan_persist(again, p).empty());
  auto section = persisted_section(*p.document);
  REQUIRE(section);
  CHECK_FALSE(section->HasMember("persist"));
}

TEST_CASE("the boot units the plugin writes are the ones the project ships", "[network][persist]") {
  for (const auto& name : kUnitNames) {
    auto shipped = sys::read_file(std::filesystem::path(source_root()) / "data" / name);
    REQUIRE(shipped);
    CHECK(*shipped == unit_text(name));
  }
}

TEST_CASE("resolv.conf keeps which interface asked for which servers", "[network][dns]") {
  std::string before = "# old\nnameserver 9.9.9.9\nsearch example.org\noptions edns0\n";
  std::string one = render_resolv_conf(before, "vmbr0", {"192.0.2.53", "192.0.2.54"});
  std::string two = render_resolv_conf(one, "eth1", {"2001:db8::53", "192.0.2.53"});
  INFO(two);
  auto servers = resolv_conf_servers(two);
  CHECK(servers["vmbr0"] == std::vector<std::string>{"192.0.2.53", "192.0.2.54"});
  CHECK(servers["eth1"] == std::vector<std::string>{"2001:db8::53", "192.0.2.53"});
  CHECK_THAT(two, Catch::Contains("nameserver 2001:db8::53\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"));
  CHECK_THAT(two, !Catch::Contains("9.9.9.9"));
  CHECK_THAT(two, Catch::Contains("search example.org\noptions edns0\n"));
  CHECK(render_resolv_conf(two, "eth1", {"2001:db8::53", "192.0.2.53"}) == two);
  std::string cleared = render_resolv_conf(two, "eth1", {});
  CHECK(resolv_conf_servers(cleared).count("eth1") == 0);
}

TEST_CASE("addresses, destinations and tables compare in canonical form", "[network][model]") {
  CHECK(canonical_cidr("2001:DB8:0::1/64") == "2001:db8::1/64");
  CHECK(canonical_cidr("10.0.0.1/33") == std::nullopt);
  CHECK(canonical_cidr("10.0.0.1") == std::nullopt);
  CHECK(network_of("10.1.2.3/16") == "10.1.0.0/16");
  CHECK(network_of("2001:db8::1/32") == "2001:db8::/32");
  CHECK(canonical_destination("default", 6) == "::/0");
  CHECK(table_id(parse_json(R"("main")")) == 254);
  CHECK(table_id(parse_json("100")) == 100);
  CHECK(table_id(parse_json(R"("dmz")")) == std::nullopt);
}

TEST_CASE("before ovs-vswitchd runs, Open vSwitch bridges wait and the rest is applied", "[network][query]") {
  JsonDoc desired = parse_json(R"({
      "interfaces": {"ovsbr0": {"type": "ovs-bridge", "bridge_ports": ["eth1"], "address": "10.30.0.1/24"},
                     "br0": {"type": "bridge", "address": "10.0.0.1/24"}},
      "routes": [{"destination": "10.31.0.0/16", "gateway": "10.30.0.254", "device": "ovsbr0"},
                 {"destination": "10.1.0.0/16", "gateway": "10.0.0.254"}]})");
  HostState st;
  st.links = {link(1, "lo", ""), link(2, "eth1", "")};
  JsonDoc current = section_from_host(st, false);
  defer_links(current, desired, {"ovsbr0"});
  auto actions = diff_section(desired, current);
  INFO(summaries(actions));
  for (const auto& a : actions) {
    CHECK(a.summary.find("ovsbr0") == std::string::npos);
    CHECK(a.resource() != "/routes/0");
  }
  CHECK(position(actions, "create bridge br0") < actions.size());
  CHECK(position(actions, "add route 10.1.0.0/16") < actions.size());
}
