// The network plugin through its contract (query, diff, apply, checkpoint) against a fake host that behaves
// like a small kernel and records what it was asked to do. The real kernel is tests/integration/network/.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>

#include "context.h"
#include "engine.h"
#include "error.h"
#include "network/backend.h"
#include "network/plugin.h"

using namespace opdbus;
using namespace opdbus::network;

namespace {

// The host's state plus a log of the calls that changed it.
struct FakeHost {
  HostState st;
  std::map<std::string, std::string> files;
  std::map<std::string, std::string> symlinks;
  std::vector<std::string> calls;
  int next_index = 100;
  std::string fail_route;  // a destination whose route the "kernel" refuses

  sys::LinkInfo* link(int index) {
    for (auto& l : st.links) {
      if (l.index == index) return &l;
    }
    throw Error(ErrorKind::BackendError, "no link #" + std::to_string(index));
  }
};

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(FakeHost& h) : h_(h) {}

  std::string describe() override { return "fake"; }
  bool live() const override { return true; }
  std::optional<std::string> ovs_unavailable() override { return std::string("no OVS in the fake"); }
  const HostState& host(bool) override { return h_.st; }

  void create_link(const sys::LinkSpec& spec) override {
    h_.calls.push_back("create " + spec.kind + " " + spec.name);
    auto add = [&](const std::string& name) {
      sys::LinkInfo l;
      l.index = h_.next_index++;
      l.name = name;
      l.kind = spec.kind;
      l.arptype = 1;
      l.mtu = spec.mtu.value_or(1500);
      l.mac = "02:00:00:00:00:" + std::to_string(l.index % 90 + 10);
      if (spec.kind == "bridge") l.stp_state = spec.stp_state.value_or(0), l.vlan_filtering = 0;
      if (spec.kind == "bond") l.bond_mode = spec.bond_mode.value_or(0);
      if (spec.kind == "vlan") l.vlan_id = spec.vlan_id, l.link = spec.parent;
      h_.st.links.push_back(l);
      return l.index;
    };
    int a = add(spec.name);
    if (spec.kind == "veth") {
      int b = add(spec.peer);
      h_.link(a)->link = b;
      h_.link(b)->link = a;
    }
  }
  void change_link(int index, const sys::LinkChange& c) override {
    sys::LinkInfo* l = h_.link(index);
    if (c.mtu) h_.calls.push_back("mtu " + l->name), l->mtu = *c.mtu;
    if (c.mac) l->mac = *c.mac;
    if (c.alias) l->alias = *c.alias;
    if (c.master) h_.calls.push_back("master " + l->name), l->master = *c.master;
    if (c.bond_mode) l->bond_mode = *c.bond_mode;
    if (c.stp_state) l->stp_state = *c.stp_state;
    if (c.up) l->up = *c.up;
  }
  void delete_link(int index) override {
    sys::LinkInfo* l = h_.link(index);
    h_.calls.push_back("delete " + l->name);
    int peer = l->kind == "veth" ? l->link : 0;
    auto gone = [&](const sys::LinkInfo& x) {
      return x.index == index || x.index == peer || (x.kind == "vlan" && x.link == index);
    };
    std::vector<int> removed;
    for (const auto& x : h_.st.links) {
      if (gone(x)) removed.push_back(x.index);
    }
    for (auto& x : h_.st.links) {
      if (std::find(removed.begin(), removed.end(), x.master) != removed.end()) x.master = 0;
    }
    h_.st.links.erase(std::remove_if(h_.st.links.begin(), h_.st.links.end(), gone), h_.st.links.end());
    auto on_removed = [&](int i) { return std::find(removed.begin(), removed.end(), i) != removed.end(); };
    h_.st.addresses.erase(std::remove_if(h_.st.addresses.begin(), h_.st.addresses.end(),
                                         [&](const auto& a) { return on_removed(a.index); }),
                          h_.st.addresses.end());
    h_.st.routes.erase(std::remove_if(h_.st.routes.begin(), h_.st.routes.end(),
                                      [&](const auto& r) { return on_removed(r.oif); }),
                       h_.st.routes.end());
  }
  void add_address(int index, const std::string& cidr) override {
    h_.calls.push_back("add address " + cidr);
    sys::AddressInfo a;
    a.index = index;
    a.family = cidr.find(':') == std::string::npos ? 2 : 10;
    a.address = cidr;
    a.flags = 0x80;
    h_.st.addresses.push_back(a);
  }
  void delete_address(int index, const std::string& cidr) override {
    h_.calls.push_back("delete address " + cidr);
    h_.st.addresses.erase(
        std::remove_if(h_.st.addresses.begin(), h_.st.addresses.end(),
                       [&](const auto& a) { return a.index == index && a.address == cidr; }),
        h_.st.addresses.end());
  }
  void add_route(const sys::RouteInfo& r, bool) override {
    if (r.destination == h_.fail_route) throw Error(ErrorKind::BackendError, "Network is unreachable");
    h_.calls.push_back("add route " + r.destination);
    h_.st.routes.push_back(r);
  }
  void delete_route(const sys::RouteInfo& r) override {
    h_.calls.push_back("delete route " + r.destination);
    h_.st.routes.erase(std::remove_if(h_.st.routes.begin(), h_.st.routes.end(),
                                      [&](const auto& x) {
                                        return x.destination == r.destination && x.gateway == r.gateway &&
                                               x.metric == r.metric;
                                      }),
                       h_.st.routes.end());
  }
  void ovs_add_bridge(const std::string&) override { throw Error(ErrorKind::Unavailable, "no OVS"); }
  void ovs_delete_bridge(const std::string&) override { throw Error(ErrorKind::Unavailable, "no OVS"); }
  void ovs_set_ports(const std::string&, const std::vector<std::string>&,
                     const std::vector<std::string>&) override {
    throw Error(ErrorKind::Unavailable, "no OVS");
  }
  std::string dns_mode() override { return "resolved"; }
  void set_dns(const std::string& link, int, const std::vector<std::string>& servers) override {
    if (servers.empty())
      h_.st.dns.erase(link);
    else
      h_.st.dns[link] = servers;
  }
  void set_dhcp(const std::string& link, bool on) override {
    if (on)
      h_.st.dhcp.insert(link);
    else
      h_.st.dhcp.erase(link);
  }
  std::optional<std::string> read_file(const std::string& path) override {
    auto it = h_.files.find(path);
    return it == h_.files.end() ? std::nullopt : std::optional(it->second);
  }
  void write_file(const std::string& path, const std::string& content) override { h_.files[path] = content; }
  void remove_file(const std::string& path) override {
    h_.files.erase(path);
    h_.symlinks.erase(path);
  }
  bool exists(const std::string& path) override { return h_.files.count(path) || h_.symlinks.count(path); }
  std::optional<std::string> read_link(const std::string& path) override {
    auto it = h_.symlinks.find(path);
    return it == h_.symlinks.end() ? std::nullopt : std::optional(it->second);
  }
  void make_link(const std::string& path, const std::string& target) override { h_.symlinks[path] = target; }

 private:
  FakeHost& h_;
};

FakeHost two_nics() {
  FakeHost h;
  for (int i : {1, 2, 3}) {
    sys::LinkInfo l;
    l.index = i;
    l.name = i == 1 ? "lo" : "eth" + std::to_string(i - 2);
    l.arptype = i == 1 ? 772 : 1;
    l.up = true;
    l.mtu = 1500;
    h.st.links.push_back(l);
  }
  sys::AddressInfo a;
  a.index = 2;
  a.family = 2;
  a.address = "192.0.2.10/24";
  a.flags = 0x80;
  h.st.addresses.push_back(a);
  sys::RouteInfo r;
  r.family = 2;
  r.destination = "0.0.0.0/0";
  r.gateway = "192.0.2.1";
  r.oif = 2;
  r.protocol = 4;
  h.st.routes.push_back(r);
  return h;
}

struct Run {
  FakeHost host = two_nics();
  Context ctx{Options{}};
  std::unique_ptr<Plugin> plugin = make_plugin(
      [this](Context&) -> std::unique_ptr<Backend> { return std::make_unique<FakeBackend>(host); });

  std::vector<Action> plan(const JsonValue& desired) {
    JsonDoc current = plugin->query(ctx, &desired);
    auto actions = plugin->diff(desired, current);
    finish_actions("network", desired, actions);
    return actions;
  }
};

std::string show(Run& r) {
  return to_json(r.plugin->query(r.ctx, nullptr));
}

const char* kDocument = R"({
  "persist": false,
  "interfaces": {
    "br0": {"type": "bridge", "bridge_ports": ["eth1"], "address": "10.0.0.1/24", "mtu": 9000, "comment": "lab"},
    "eth0": {"addresses": ["192.0.2.11/24"], "gateway": "192.0.2.254", "dns": ["192.0.2.53"]}
  },
  "routes": [{"destination": "10.9.0.0/16", "gateway": "10.0.0.2"}]})";

}  // namespace

TEST_CASE("apply through the plugin converges and the next plan is empty", "[network][plugin]") {
  Run r;
  JsonDoc desired = parse_json(kDocument);
  auto actions = r.plan(desired);
  REQUIRE_FALSE(actions.empty());
  for (const auto& a : actions) r.plugin->apply(r.ctx, a);
  auto again = r.plan(desired);
  std::string left;
  for (const auto& a : again) left += describe_drift(a) + "\n";
  INFO(left);
  CHECK(again.empty());
  // The bridge was made before its port was enslaved, and the address replaced by adding first.
  auto pos = [&](const std::string& call) {
    return std::find(r.host.calls.begin(), r.host.calls.end(), call) - r.host.calls.begin();
  };
  CHECK(pos("create bridge br0") < pos("master eth1"));
  CHECK(pos("add address 192.0.2.11/24") < pos("delete address 192.0.2.10/24"));
}

TEST_CASE("a checkpoint puts the host back as it was", "[network][plugin]") {
  Run r;
  std::string before = show(r);
  JsonDoc desired = parse_json(kDocument);
  auto actions = r.plan(desired);
  auto cp = r.plugin->checkpoint(r.ctx, actions);
  REQUIRE(cp);
  for (const auto& a : actions) r.plugin->apply(r.ctx, a);
  REQUIRE(show(r) != before);
  cp->rollback(r.ctx);
  CHECK(show(r) == before);
}

TEST_CASE("a deleted bridge comes back with its ports on rollback", "[network][plugin]") {
  Run r;
  JsonDoc desired = parse_json(kDocument);
  for (const auto& a : r.plan(desired)) r.plugin->apply(r.ctx, a);
  std::string before = show(r);
  r.host.fail_route = "10.77.0.0/16";
  JsonDoc gone = parse_json(R"({"persist": false, "interfaces": {"br0": {"state": "absent"}},
                                "routes": [{"destination": "10.77.0.0/16", "gateway": "192.0.2.99"}]})");
  auto actions = r.plan(gone);
  auto cp = r.plugin->checkpoint(r.ctx, actions);
  REQUIRE(cp);
  bool failed = false;
  for (const auto& a : actions) {
    try {
      r.plugin->apply(r.ctx, a);
    } catch (const Error& e) {
      failed = true;
      CHECK_THAT(e.what(), Catch::Contains("Network is unreachable"));
      break;
    }
  }
  REQUIRE(failed);
  CHECK(show(r).find("\"br0\"") == std::string::npos);
  cp->rollback(r.ctx);
  CHECK(show(r) == before);
}

TEST_CASE("an Open vSwitch bridge without Open vSwitch is a clear error", "[network][plugin]") {
  Run r;
  JsonDoc desired = parse_json(R"({"interfaces": {"ovsbr0": {"type": "ovs-bridge"}}})");
  CHECK_THROWS_WITH(
      r.plugin->query(r.ctx, &desired),
      Catch::Contains("asks for Open vSwitch bridge ovsbr0") && Catch::Contains("no OVS in the fake"));
  JsonDoc plain = parse_json(R"({"interfaces": {"eth0": {}}})");
  CHECK_NOTHROW(r.plugin->query(r.ctx, &plain));
  Probe p = r.plugin->probe(r.ctx);
  CHECK(p.available);
  REQUIRE(p.parts.size() == 1);
  CHECK_FALSE(p.parts[0].available);
}
