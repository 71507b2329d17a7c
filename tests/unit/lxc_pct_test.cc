// The Proxmox half of the lxc plugin, without Proxmox: the pct argv built from a document (every value
// validated, each one argv element), the parsers of `pct list`, `pct config` and `pveam list`, and the
// host's Debian mirrors for the debian template.
#include <catch2/catch.hpp>

#include "error.h"
#include "lxc/host.h"
#include "lxc/model.h"
#include "lxc/pct.h"

using namespace opdbus;
using namespace opdbus::lxc;

TEST_CASE("pct create argv for the roadmap's container") {
  JsonDoc d = parse_json(R"({"containers": {"web-server": {"template": "debian-12", "storage": "local-lvm",
    "config": {"memory": "2G", "cpus": 2, "rootfs": "8G", "network": {"bridge": "vmbr0", "ip": "192.168.1.101/24",
    "gateway": "192.168.1.1"}}, "autostart": true, "state": "started"}}})");
  Section s = parse_section(d, nullptr);
  auto argv = pct::create_argv(101, "web-server", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                               s.containers.at("web-server"));
  CHECK(argv == std::vector<std::string>{
                    "pct", "create", "101", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                    "--hostname", "web-server", "--rootfs", "local-lvm:8", "--memory", "2048", "--cores", "2",
                    "--onboot", "1", "--net0", "name=eth0,bridge=vmbr0,ip=192.168.1.101/24,gw=192.168.1.1"});
}

TEST_CASE("pct set, start, shutdown, destroy argv") {
  Container c;
  c.memory = 512ull << 20;
  c.mounts = std::vector<Mount>{{"/srv/data", "/srv/data", true}};
  c.network = Network{"vmbr1", "", ""};
  CHECK(pct::set_argv(200, c) == std::vector<std::string>{"pct", "set", "200", "--memory", "512", "--net0",
                                                          "name=eth0,bridge=vmbr1,ip=dhcp", "--mp0",
                                                          "/srv/data,mp=/srv/data,ro=1"});
  CHECK(pct::start_argv(200) == std::vector<std::string>{"pct", "start", "200"});
  CHECK(pct::shutdown_argv(200, 30) ==
        std::vector<std::string>{"pct", "shutdown", "200", "--timeout", "30", "--forceStop", "1"});
  CHECK(pct::destroy_argv(200) == std::vector<std::string>{"pct", "destroy", "200"});
}

TEST_CASE("pct argv refuses values check() would refuse") {
  Container c;
  CHECK_THROWS_AS(pct::create_argv(101, "-rf", "local:vztmpl/x.tar.zst", c), Error);
  CHECK_THROWS_AS(pct::create_argv(101, "a,b", "local:vztmpl/x.tar.zst", c), Error);
  CHECK_THROWS_AS(pct::create_argv(101, "ok", "--storage=/dev/sda", c), Error);
  CHECK_THROWS_AS(pct::create_argv(99, "ok", "local:vztmpl/x.tar.zst", c), Error);
  c.network = Network{"br0,firewall=0", "", ""};
  CHECK_THROWS_AS(pct::set_argv(101, c), Error);
  c.network = Network{"br0", "10.0.0.1/24,gw=1.2.3.4", ""};
  CHECK_THROWS_AS(pct::set_argv(101, c), Error);
}

TEST_CASE("pct list, pct config and pveam list are read back") {
  auto listed = pct::parse_list(
      "VMID       Status     Lock         Name\n"
      "100        running                 web-server\n"
      "101        stopped    backup       db\n");
  REQUIRE(listed.size() == 2);
  CHECK(listed.at("web-server").vmid == 100);
  CHECK(listed.at("web-server").running);
  CHECK_FALSE(listed.at("db").running);
  Container c = pct::parse_config(
      "arch: amd64\ncores: 2\nhostname: web-server\nmemory: 2048\n"
      "net0: name=eth0,bridge=vmbr0,gw=192.168.1.1,hwaddr=BC:24:11:00:00:01,ip=192.168.1.101/24,type=veth\n"
      "onboot: 1\nmp0: /srv/data,mp=/srv/data,ro=1\nrootfs: local-lvm:vm-100-disk-0,size=8G\n");
  CHECK(c.cpus == 2);
  CHECK(c.memory == 2ull << 30);
  CHECK(c.autostart == true);
  CHECK(c.network == Network{"vmbr0", "192.168.1.101/24", "192.168.1.1"});
  REQUIRE(c.mounts);
  CHECK(c.mounts->front() == Mount{"/srv/data", "/srv/data", true});
  CHECK(pct::pick_template("NAME                                                SIZE\n"
                           "local:vztmpl/debian-11-standard_11.7-1_amd64.tar.zst  120MB\n"
                           "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst  120MB\n"
                           "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst  120MB\n",
                           "debian-12") == "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst");
  CHECK_FALSE(pct::pick_template("", "debian-12"));
}

TEST_CASE("the host's Debian mirrors, for the debian template") {
  auto m = parse_mirrors(
      "Types: deb\n# comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
      "Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security/\nSuites: "
      "bookworm-security\n",
      "");
  CHECK(m.main == "http://deb.debian.org/debian");
  CHECK(m.security == "http://deb.debian.org/debian-security");
  auto l = parse_mirrors("",
                         "deb [arch=amd64] http://mirror.example/debian bookworm main\n"
                         "deb http://mirror.example/security bookworm-security main\n"
                         "deb http://evil.example/x;rm bookworm main\n");
  CHECK(l.main == "http://mirror.example/debian");
  CHECK(l.security == "http://mirror.example/security");
  CHECK(parse_mirrors("", "deb file:/srv/mirror bookworm main\n").main.empty());
}
