#include "schema.h"

#include <rapidjson/internal/regex.h>

#include <algorithm>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "error.h"
#include "json.h"
#include "registry.h"

using namespace opdbus;

namespace {

// The registered plugins (src/app/registry.cc, the one plugin list), sorted.
const std::vector<std::string> kPlugins = [] {
  std::vector<std::string> names;
  for (const auto& p : make_plugins()) names.emplace_back(p->name());
  std::sort(names.begin(), names.end());
  return names;
}();

std::string source_root() {
  const char* root = std::getenv("OPDBUS_SOURCE_ROOT");
  return root ? root : ".";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Diagnostics validate(const std::string& schema, const std::string& json, const std::string& base = "") {
  JsonDoc doc = parse_json(json);
  Diagnostics out;
  validate_schema(schema, doc, base, "test.json", out);
  return out;
}

std::string formatted(const Diagnostics& ds) {
  std::string out;
  for (const auto& d : ds) out += d.format() + "\n";
  return out;
}

// Calls fn(node, pointer) for every object in a schema document.
template <typename Fn>
void for_each_object(const JsonValue& v, const std::string& pointer, Fn&& fn) {
  if (v.IsObject()) {
    fn(v, pointer);
    for (const auto& m : v.GetObject()) {
      for_each_object(m.value, pointer + "/" + std::string(m.name.GetString(), m.name.GetStringLength()), fn);
    }
  } else if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
      for_each_object(v[i], pointer + "/" + std::to_string(i), fn);
  }
}

}  // namespace

TEST_CASE("schema_names lists the state schema and one schema per registered plugin, sorted") {
  std::vector<std::string> expected = kPlugins;
  expected.push_back("state");
  std::sort(expected.begin(), expected.end());
  CHECK(schema_names() == expected);
}

TEST_CASE("schema_text returns the embedded file, or nothing for an unknown name") {
  for (const auto& name : schema_names()) {
    auto text = schema_text(name);
    REQUIRE(text.has_value());
    CHECK(*text == read_text(source_root() + "/schemas/v1/" + name + ".schema.json"));
  }
  CHECK_FALSE(schema_text("netwrok").has_value());
  CHECK_FALSE(schema_text("").has_value());
}

TEST_CASE("every schema is draft-04 and closes every object it describes") {
  for (const auto& name : schema_names()) {
    JsonDoc doc = parse_json(*schema_text(name));
    INFO(name);
    CHECK(get_string(doc, "$schema") == "http://json-schema.org/draft-04/schema#");
    for_each_object(doc, "", [&](const JsonValue& node, const std::string& pointer) {
      if (!node.HasMember("properties")) return;
      // The "properties" map of a schema is not itself a schema.
      if (pointer.size() >= 11 && pointer.substr(pointer.size() - 11) == "/properties") return;
      INFO(name << pointer);
      CHECK(node.HasMember("additionalProperties"));
    });
  }
}

TEST_CASE("every pattern compiles in RapidJSON's regex engine") {
  // An invalid pattern is silently ignored by the validator, so a typo would accept anything.
  int patterns = 0;
  for (const auto& name : schema_names()) {
    JsonDoc doc = parse_json(*schema_text(name));
    for_each_object(doc, "", [&](const JsonValue& node, const std::string& pointer) {
      const JsonValue* p = member(node, "pattern");
      if (!p || !p->IsString()) return;
      ++patterns;
      INFO(name << pointer << ": " << p->GetString());
      rapidjson::internal::Regex re(p->GetString());
      CHECK(re.IsValid());
    });
  }
  CHECK(patterns > 10);
}

TEST_CASE("each plugin section and its items accept \"mode\"") {
  for (const auto& plugin : kPlugins) {
    INFO(plugin);
    CHECK(validate(plugin, R"({"mode": "observe"})").empty());
    CHECK(validate(plugin, R"({"mode": "apply"})").empty());
    CHECK_FALSE(validate(plugin, R"({"mode": "watch"})").empty());
  }
  CHECK(validate("systemd", R"({"services": {"ssh": {"mode": "observe", "state": "enabled"}},
                                "timers": {"a.timer": {"mode": "observe"}},
                                "custom_units": {"a.service": {"mode": "apply"}}})")
            .empty());
  CHECK(validate("storage", R"({"devices": {"/dev/sda": {"mode": "observe"}}, "filesystems": {"/dev/sda1":
      {"type": "ext4", "mode": "observe"}}, "btrfs_subvolumes": {"/dev/sda2": [{"name": "@", "mode": "observe"}]},
      "mounts": {"/": {"mode": "observe"}}})")
            .empty());
  CHECK(validate("network", R"({"interfaces": {"eth0": {"mode": "observe"}},
                                "routes": [{"destination": "default", "mode": "observe"}]})")
            .empty());
  CHECK(validate("users", R"({"accounts": {"a": {"mode": "observe"}}, "groups": {"g": {"mode": "observe"}}})")
            .empty());
  CHECK(validate("firewall", R"({"rules": [{"action": "accept", "mode": "observe"}]})").empty());
  CHECK(validate("lxc", R"({"containers": {"c": {"mode": "observe"}}})").empty());
  CHECK(validate("kvm", R"({"vms": {"vm-100": {"mode": "observe"}}})").empty());
  CHECK(validate("packagekit", R"({"packages": {"vim": {"mode": "observe", "state": "absent"}}})").empty());
}

TEST_CASE("each roadmap plugin example validates verbatim against its plugin schema") {
  for (const auto& plugin : {"storage", "network", "systemd", "users", "firewall", "lxc", "kvm"}) {
    INFO(plugin);
    JsonDoc doc = parse_json(read_text(source_root() + "/tests/fixtures/roadmap/" + plugin + ".json"));
    const JsonValue* section = member(doc, plugin);
    REQUIRE(section);
    Diagnostics out;
    validate_schema(plugin, *section, std::string("/plugins/") + plugin, "roadmap.json", out);
    CHECK(formatted(out) == "");
  }
}

TEST_CASE("compatible extensions validate") {
  CHECK(formatted(validate("network", R"({
    "interfaces": {
      "vlan10": {"type": "vlan", "id": 10, "parent": "eno1", "addresses": ["10.0.10.2/24", "2001:db8::2/64"],
                 "mtu": 9000, "state": "up"},
      "br0": {"type": "bridge", "bridge_options": {"stp": false, "vlan_filtering": true}, "dhcp": true,
              "mac": "52:54:00:aa:bb:cc"},
      "veth0": {"type": "veth", "peer": "veth1"},
      "old0": {"state": "absent"}
    },
    "bonds": {"bond0": {"slaves": ["eth0", "eth1"], "mode": "active-backup", "state": "up"}},
    "routes": [{"destination": "10.1.0.0/16", "gateway": "10.0.0.1", "device": "br0", "metric": 100,
                "table": 100}, {"destination": "default", "gateway": "192.168.1.1", "table": "main"}]
  })")) == "");
  CHECK(formatted(validate("systemd", R"({
    "services": {"ssh.service": {"state": "enabled", "running": true, "restart_on_change": true,
                                 "dropins": {"override.conf": "[Service]\nRestart=always\n"}}},
    "timers": {"backup.timer": {"on_calendar": "daily", "unit": "backup.service", "persistent": true,
                                "state": "enabled", "running": true, "description": "Nightly backup"}},
    "custom_units": {"my-app.service": {"content": "[Unit]\n", "state": "present", "enabled": true,
                                        "running": true, "dropins": {"10-env.conf": "[Service]\n"}}}
  })")) == "");
  CHECK(formatted(validate("storage", R"({
    "devices": {"/dev/vda": {"partition_table": "gpt", "wipe": true, "partitions": [
      {"number": 1, "size": "1M", "type": "bios_grub"},
      {"number": 2, "size": 536870912, "type": "efi", "label": "ESP"},
      {"number": 3, "size": "50%", "type": "lvm"},
      {"number": 4, "size": "remaining", "type": "raid"}]}},
    "filesystems": {"/dev/vda2": {"type": "vfat", "label": "ESP", "options": ["-F", "32"]},
                    "/dev/vda3": {"type": "xfs", "options": "-m reflink=1"}},
    "btrfs_subvolumes": {"/dev/vda4": [{"name": "@old", "state": "absent"}]},
    "mounts": {"/home": {"device": "LABEL=home", "fstype": "ext4", "options": "noatime", "state": "present"}}
  })")) == "");
  CHECK(formatted(validate("users", R"({
    "accounts": {"svc": {"system": true, "home": "/var/lib/svc", "comment": "Service", "state": "present",
                         "password_hash": "$y$j9T$abc"}, "old": {"state": "absent"}},
    "groups": {"ops": {"gid": 2000, "members": ["svc"], "state": "present"}}
  })")) == "");
  CHECK(formatted(validate("firewall", R"({
    "rules": [{"port": "6000-6100", "proto": "udp", "action": "drop", "source": "10.0.0.0/8",
               "destination": "10.0.0.1", "iface": "vmbr0", "chain": "forward"},
              {"proto": "icmp", "action": "accept"}],
    "default_policy": {"input": "drop"}
  })")) == "");
  CHECK(formatted(validate("packagekit", R"({"packages": {"vim": {"state": "installed"},
                                             "nano": {"state": "absent"}}, "additional_packages": ["libc6:amd64"]})")) ==
        "");
  CHECK(formatted(validate("kvm", R"({"vms": {"vm-101": {"state": "stopped", "disks": [{"size": 32}],
                                      "network": [{"bridge": "vmbr0", "model": "e1000", "mac": "52:54:00:00:00:01"}]}}})")) ==
        "");
}

TEST_CASE("a type error names the pointer, the expected type and the value found") {
  Diagnostics out = validate("users", R"({"accounts": {"admin": {"uid": "1000"}}})", "/plugins/users");
  REQUIRE(out.size() == 1);
  CHECK(out[0].file == "test.json");
  CHECK(out[0].pointer == "/plugins/users/accounts/admin/uid");
  CHECK(out[0].expected == "integer");
  CHECK(out[0].found == "string \"1000\"");
  CHECK(out[0].format() ==
        "test.json: /plugins/users/accounts/admin/uid: expected integer; found string \"1000\"");

  out = validate("systemd", R"({"services": {"ssh": {"running": 5}}})");
  REQUIRE(out.size() == 1);
  CHECK(out[0].expected == "boolean");
  CHECK(out[0].found == "number 5");
}

TEST_CASE("an enum error lists the choices and suggests the closest one") {
  Diagnostics out = validate("systemd", R"({"services": {"ssh": {"state": "enbled"}}})", "/plugins/systemd");
  REQUIRE(out.size() == 1);
  CHECK(out[0].pointer == "/plugins/systemd/services/ssh/state");
  CHECK(out[0].expected == "one of \"enabled\", \"disabled\", \"masked\"");
  CHECK(out[0].found == "\"enbled\" (did you mean \"enabled\"?)");

  out = validate("systemd", R"({"services": {"ssh": {"state": "whatever"}}})");
  REQUIRE(out.size() == 1);
  CHECK(out[0].found == "\"whatever\"");
}

TEST_CASE("an unknown key lists the known keys and suggests the closest") {
  Diagnostics out = validate("systemd", R"({"servicez": {}})", "/plugins/systemd");
  REQUIRE(out.size() == 1);
  CHECK(out[0].pointer == "/plugins/systemd/servicez");
  CHECK(out[0].message == "unknown key \"servicez\" (did you mean \"services\"?)");
  CHECK(out[0].expected == "one of: custom_units, mode, services, timers");
}

TEST_CASE("a missing required key is reported on its object") {
  Diagnostics out = validate("firewall", R"({"rules": [{"port": 22}]})", "/plugins/firewall");
  REQUIRE(out.size() == 1);
  CHECK(out[0].pointer == "/plugins/firewall/rules/0");
  CHECK(out[0].message == "missing required key \"action\"");
}

TEST_CASE("minimum, maximum, pattern and length errors say what was expected") {
  Diagnostics out = validate("network", R"({"interfaces": {"v": {"id": 5000}}})");
  REQUIRE(out.size() == 1);
  CHECK(out[0].expected == "at most 4094");
  CHECK(out[0].found == "number 5000");

  out = validate("network", R"({"interfaces": {"v": {"mtu": 10}}})");
  REQUIRE(out.size() == 1);
  CHECK(out[0].expected == "at least 68");

  out = validate("storage", R"({"devices": {"/dev/sda": {"partitions": [{"number": 1, "size": "big"}]}}})");
  REQUIRE(out.size() == 1);
  CHECK(out[0].pointer == "/devices/~1dev~1sda/partitions/0/size");
  CHECK(out[0].expected.find("\"512M\"") != std::string::npos);
  CHECK(out[0].found == "\"big\"");

  out = validate("state", R"({"version": 1, "bootstrap": {"hostname": "bad_name!"}})");
  REQUIRE(out.size() == 1);
  CHECK(out[0].pointer == "/bootstrap/hostname");
  CHECK(out[0].found == "\"bad_name!\"");

  out = validate("storage", R"({"btrfs_subvolumes": {"/dev/sda2": [{"name": ""}]}})");
  REQUIRE(out.size() == 1);
  CHECK(out[0].expected == "a non-empty string");
}

TEST_CASE("patterns accept what they should and refuse the rest") {
  auto size_ok = [](const std::string& size) {
    return validate("storage", R"({"devices": {"d": {"partitions": [{"number": 1, "size": )" + size + "}]}}}")
        .empty();
  };
  for (auto good :
       {"\"512M\"", "\"20G\"", "\"1.5T\"", "\"100MiB\"", "\"remaining\"", "\"50%\"", "\"100%\"", "4096"}) {
    INFO(good);
    CHECK(size_ok(good));
  }
  for (auto bad : {"\"\"", "\"M\"", "\"12Q\"", "\"remaining \"", "\"101%\"", "0", "-5", "\"1.G\""}) {
    INFO(bad);
    CHECK_FALSE(size_ok(bad));
  }
  auto iface_ok = [](const std::string& mac) {
    return validate("network", R"({"interfaces": {"x": {"mac": ")" + mac + "\"}}}").empty();
  };
  CHECK(iface_ok("52:54:00:AB:cd:ef"));
  CHECK_FALSE(iface_ok("52:54:00:AB:cd"));
  CHECK_FALSE(iface_ok("52:54:00:AB:cd:ef:00"));
  CHECK(validate("network", R"({"bonds": {"b": {"slaves": ["this-name-is-too-long"]}}})").size() == 1);
  CHECK(validate("users", R"({"accounts": {"a": {"groups": ["Sudo"]}}})").size() == 1);
  CHECK(validate("users", R"({"accounts": {"a": {"groups": ["sudo", "_apt", "machine$"]}}})").empty());
}

TEST_CASE("one call reports every problem in the value, not just the first") {
  Diagnostics out = validate("systemd", R"({
    "services": {"a": {"state": "on"}, "b": {"running": "yes"}, "c": {"stat": "enabled"}},
    "timerz": {}
  })");
  CHECK(out.size() == 4);
}

TEST_CASE("the number of problems reported per call is capped") {
  std::string rules;
  for (int i = 0; i < 500; ++i) rules += std::string(i ? "," : "") + R"({"action": "nope"})";
  Diagnostics out = validate("firewall", R"({"rules": [)" + rules + "]}");
  CHECK(out.size() == 51);
  CHECK(out.back().message.find("too many errors") != std::string::npos);
}

TEST_CASE("secret values are never echoed back in a diagnostic") {
  Diagnostics out = validate("users", R"({"accounts": {"a": {"password_hash": ["$6$secret"]}}})");
  REQUIRE(out.size() == 1);
  CHECK(out[0].found.find("secret") == std::string::npos);
  CHECK(out[0].found == "array (value hidden)");
}

TEST_CASE("is_secret follows the plugin schema") {
  CHECK(is_secret("users", {"accounts", "admin", "password_hash"}));
  CHECK(is_secret("users", {"accounts", "any name", "password_hash"}));
  CHECK_FALSE(is_secret("users", {"accounts", "admin", "uid"}));
  CHECK_FALSE(is_secret("users", {"accounts", "admin"}));
  CHECK_FALSE(is_secret("users", {"groups", "admin", "password_hash"}));
  CHECK_FALSE(is_secret("users", {}));
  CHECK_FALSE(is_secret("systemd", {"services", "ssh", "state"}));
  CHECK_FALSE(is_secret("firewall", {"rules", "0", "comment"}));
  CHECK_FALSE(is_secret("nope", {"accounts", "admin", "password_hash"}));
  CHECK_FALSE(is_secret("state", {"version"}));
  for (const auto& plugin : kPlugins) {
    if (plugin == "users") continue;
    JsonDoc doc = parse_json(*schema_text(plugin));
    for_each_object(doc, "", [&](const JsonValue& node, const std::string& pointer) {
      INFO(plugin << pointer);
      CHECK_FALSE(node.HasMember("secret"));
    });
  }
}

TEST_CASE("validate_schema refuses an unknown schema name as a bug") {
  JsonDoc doc = parse_json("{}");
  Diagnostics out;
  CHECK_THROWS_AS(validate_schema("nope", doc, "", "x.json", out), Error);
}

TEST_CASE("a pattern gives the same answer for a value it has judged before (the matches are memoised)") {
  // The same values many times, good and bad, in one document and across calls: every bad one is reported,
  // each at its own place, with the same message every time; the good ones stay accepted.
  std::string rules;
  for (int i = 0; i < 40; ++i) {
    const char* proto = i % 2 ? "\"TCP\"" : "\"tcq\"";
    const char* source = i % 4 < 2 ? "\"10.0.0.0/8\"" : "\"10.0.0.0/8x\"";
    rules += std::string(i ? "," : "") + R"({"action": "accept", "port": 22, "proto": )" + proto +
             R"(, "source": )" + source + "}";
  }
  std::string doc = R"({"rules": [)" + rules + "]}";
  Diagnostics first = validate("firewall", doc);
  Diagnostics again = validate("firewall", doc);
  REQUIRE(first.size() == 40);  // 20 bad protocols and 20 bad sources, none hidden by an earlier answer
  CHECK(formatted(first) == formatted(again));
  int protos = 0, sources = 0;
  for (const auto& d : first) {
    CHECK(d.file == "test.json");
    if (d.pointer.ends_with("/proto")) {
      ++protos;
      CHECK(d.found == "\"tcq\"");
    } else if (d.pointer.ends_with("/source")) {
      ++sources;
      CHECK(d.found.find("\"10.0.0.0/8x\"") != std::string::npos);
    }
  }
  CHECK(protos == 20);
  CHECK(sources == 20);
  CHECK(validate("firewall", R"({"rules": [{"action": "drop", "proto": "tcp", "source": "10.0.0.0/8"}]})")
            .empty());
  CHECK(validate("firewall", R"({"rules": [{"action": "drop", "proto": "tcq"}]})").size() == 1);
}
