#include "state.h"
#include "text.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace opdbus;

namespace {

std::string source_root() {
  const char* root = std::getenv("OPDBUS_SOURCE_ROOT");
  return root ? root : ".";
}

std::string fixture(const std::string& name) {
  return source_root() + "/tests/fixtures/roadmap/" + name;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The diagnostics a document is refused with; fails the test when it loads.
Diagnostics errors_of(std::string_view text, const std::string& name = "s.json") {
  try {
    load_state_text(text, name);
  } catch (const ValidationFailed& e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    return e.diagnostics();
  }
  FAIL("document was accepted: " << text.substr(0, 200));
  return {};
}

Diagnostic only_error(std::string_view text) {
  Diagnostics ds = errors_of(text);
  REQUIRE(ds.size() == 1);
  return ds[0];
}

}  // namespace

TEST_CASE("the roadmap's complete example loads verbatim") {
  State state = load_state_file(fixture("complete-server.json"));
  CHECK(state.file == fixture("complete-server.json"));
  CHECK(state.plugin_names() ==
        std::vector<std::string>{"storage", "packagekit", "network", "systemd", "users", "firewall", "lxc"});
  REQUIRE(state.section("network") != nullptr);
  CHECK(state.section("network")->HasMember("interfaces"));
  CHECK(state.section("kvm") == nullptr);
  CHECK(state.section("nope") == nullptr);
}

TEST_CASE("each roadmap plugin example loads as the plugins of a state document") {
  for (const auto& plugin : {"storage", "network", "systemd", "users", "firewall", "lxc", "kvm"}) {
    INFO(plugin);
    std::string text =
        R"({"version": 1, "plugins": )" + read_text(fixture(std::string(plugin) + ".json")) + "}";
    State state = load_state_text(text, plugin);
    CHECK(state.plugin_names() == std::vector<std::string>{plugin});
    CHECK(state.section(plugin) != nullptr);
  }
}

TEST_CASE("a minimal document loads, and a leading byte order mark is accepted") {
  CHECK(load_state_text(R"({"version": 1})", "m.json").plugin_names().empty());
  CHECK(load_state_text("\xEF\xBB\xBF{\"version\": 1}", "m.json").doc.IsObject());
}

TEST_CASE("a syntax error gives line, column and the parser's reason") {
  Diagnostic d = only_error("{\n  \"version\": 1,\n  \"plugins\": {,}\n}");
  CHECK(d.file == "s.json");
  CHECK(d.line == 3);
  CHECK(d.column == 15);
  CHECK(d.message == "invalid JSON: missing a name for object member");
  CHECK(d.format() == "s.json:3:15: invalid JSON: missing a name for object member");

  d = only_error("{\"version\": 1,}");
  CHECK(d.line == 1);
  CHECK(d.message.rfind("invalid JSON: ", 0) == 0);

  d = only_error("{\"version\": 1} {}");
  CHECK(d.message.find("root must not be followed") != std::string::npos);

  d = only_error("{\"version\": 1, \"metadata\": {\"name\": \"a\n\"}}");
  CHECK(d.message.rfind("invalid JSON: ", 0) == 0);
}

TEST_CASE("common JSON mistakes get a hint") {
  CHECK(only_error("{\"version\": 1,}").message ==
        "invalid JSON: missing a name for object member (a trailing comma?)");
  CHECK(only_error("{\"version\": 1, // no\n}").message ==
        "invalid JSON: missing a name for object member (comments are not allowed in JSON)");
  CHECK(only_error("{'version': 1}").message.find("need double quotes") != std::string::npos);
  Diagnostic d = only_error("{\"metadata\": {\"name\": \"open\n}}");
  CHECK(d.message == "invalid JSON: line break inside a string (a missing closing quote?)");
  CHECK(d.line == 1);
  CHECK(d.column == 28);
  CHECK(only_error("{\"version\": 1, \"plugins\": {").message ==
        "invalid JSON: missing a name for object member (the file ends too early)");
}

TEST_CASE("columns count characters, not bytes") {
  Diagnostic d = only_error("{\"metadata\": {\"name\": \"\xC3\xA9\xC3\xA9\"} x}");
  CHECK(d.line == 1);
  CHECK(d.column == 29);
}

TEST_CASE("a wrong type is reported with file, pointer, expected and found") {
  Diagnostic d = only_error(R"({"version": 1, "plugins": {"users": {"accounts": {"admin": {"uid": "x"}}}}})");
  CHECK(d.file == "s.json");
  CHECK(d.pointer == "/plugins/users/accounts/admin/uid");
  CHECK(d.expected == "integer");
  CHECK(d.found == "string \"x\"");
  CHECK(d.line == 1);
  CHECK(d.column == 68);
}

TEST_CASE("schema diagnostics point at the line of the offending value") {
  std::string text =
      "{\n  \"version\": 1,\n  \"plugins\": {\n    \"systemd\": {\n      \"services\": {\n"
      "        \"ssh\": {\"state\": \"enbled\"}\n      }\n    }\n  }\n}\n";
  Diagnostic d = only_error(text);
  CHECK(d.pointer == "/plugins/systemd/services/ssh/state");
  CHECK(d.line == 6);
  CHECK(d.column == 26);
  CHECK(d.expected == "one of \"enabled\", \"disabled\", \"masked\"");
  CHECK(d.found == "\"enbled\" (did you mean \"enabled\"?)");
  CHECK(d.format() ==
        "s.json:6:26: /plugins/systemd/services/ssh/state: expected one of \"enabled\", \"disabled\", "
        "\"masked\"; "
        "found \"enbled\" (did you mean \"enabled\"?)");
}

TEST_CASE("an unknown key is an error with the known keys and a suggestion") {
  Diagnostic d = only_error(R"({"version": 1, "plugins": {"systemd": {"servicez": {}}}})");
  CHECK(d.pointer == "/plugins/systemd/servicez");
  CHECK(d.message == "unknown key \"servicez\" (did you mean \"services\"?)");
  CHECK(d.expected == "one of: custom_units, mode, services, timers");

  d = only_error(R"({"version": 1, "colour": "red"})");
  CHECK(d.pointer == "/colour");
  CHECK(d.message == "unknown key \"colour\"");

  d = only_error(R"({"version": 1, "bootstrap": {"disk": "/dev/sda"}})");
  CHECK(d.pointer == "/bootstrap/disk");
}

TEST_CASE("an unknown plugin lists the known plugins") {
  Diagnostic d = only_error(R"({"version": 1, "plugins": {"netwrok": {}}})");
  CHECK(d.pointer == "/plugins/netwrok");
  CHECK(d.message ==
        "unknown plugin \"netwrok\"; known plugins: firewall, kvm, lxc, network, packagekit, storage, "
        "systemd, users; "
        "did you mean \"network\"?");
}

TEST_CASE("an unsupported version is named as such") {
  Diagnostic d = only_error(R"({"version": 2})");
  CHECK(d.pointer == "/version");
  CHECK(d.message == "unsupported version 2; this op-dbus supports version 1");

  d = only_error(R"({"version": "1"})");
  CHECK(d.expected == "integer");

  d = only_error(R"({"plugins": {}})");
  CHECK(d.pointer == "");
  CHECK(d.message.find("missing required key \"version\"") == 0);
}

TEST_CASE("a missing required key names the object and the key") {
  Diagnostic d =
      only_error(R"({"version": 1, "plugins": {"storage": {"filesystems": {"/dev/sda1": {"label": "x"}}}}})");
  CHECK(d.pointer == "/plugins/storage/filesystems/~1dev~1sda1");
  CHECK(d.message == "missing required key \"type\"");
}

TEST_CASE("invalid UTF-8 is refused with the position of the bad byte") {
  Diagnostic d = only_error("{\"version\": 1,\n \"metadata\": {\"name\": \"ab\xFF\"}}");
  CHECK(d.line == 2);
  CHECK(d.column == 26);
  CHECK(d.message.find("invalid UTF-8 (byte 0xff)") == 0);

  d = only_error("{\"metadata\": {\"name\": \"caf\xE9\"}}");
  CHECK(d.message.find("invalid UTF-8 (byte 0xe9)") == 0);
  CHECK(d.column == 27);
  CHECK(only_error("{\"metadata\": {\"name\": \"\xC0\xAF\"}}").message.find("UTF-8") != std::string::npos);
  CHECK(only_error("{\"metadata\": {\"name\": \"\xED\xA0\x80\"}}").message.find("UTF-8") !=
        std::string::npos);
  CHECK(only_error("{\"metadata\": {\"name\": \"\xE2\x82\"}}").message.find("UTF-8") != std::string::npos);
  CHECK(only_error("{\"metadata\": {\"name\": \"\xF4\x90\x80\x80\"}}").message.find("UTF-8") !=
        std::string::npos);
  CHECK(only_error(std::string("{\"version\": 1}\0", 15)).message.find("NUL") != std::string::npos);
}

TEST_CASE("nesting deeper than the limit is refused while parsing") {
  std::string ok =
      R"({"version": 1, "metadata": {"tags": )" + std::string(20, '[') + std::string(20, ']') + "}}";
  CHECK(errors_of(ok).size() == 1);  // parses; refused by the schema, not the parser

  for (std::size_t depth : {65ul, 1000ul, 100000ul}) {
    INFO(depth);
    std::string deep = std::string(depth, '[') + std::string(depth, ']');
    Diagnostic d = only_error(deep);
    CHECK(d.message == "nesting deeper than 64 levels");
    CHECK(d.line == 1);
    CHECK(d.column == 65);
  }
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  CHECK(only_error(objects).message == "nesting deeper than 64 levels");
}

TEST_CASE("a number too big for a double is a syntax error") {
  Diagnostic d = only_error(R"({"version": 1e999})");
  CHECK(d.message == "invalid JSON: number too big to be stored in double");
  CHECK(d.column == 13);
}

TEST_CASE("a duplicate key is an error naming the key") {
  Diagnostic d = only_error(R"({"version": 1, "plugins": {"users": {"groups": {"a": {}, "a": {}}}}})");
  CHECK(d.pointer == "/plugins/users/groups/a");
  CHECK(d.message == "duplicate key \"a\"");
  CHECK(d.column == 58);
}

TEST_CASE("an empty file and a non-object document are refused plainly") {
  for (std::string_view empty : {"", "   \n\t\r\n"}) {
    Diagnostic d = only_error(empty);
    CHECK(d.file == "s.json");
    CHECK(d.message == "the file is empty; expected a JSON object");
  }
  Diagnostic d = only_error("[1, 2]");
  CHECK(d.expected == "a JSON object at the top level");
  CHECK(d.found == "an array");
  CHECK(only_error("\"text\"").found == "a string");
  CHECK(only_error("42").found == "a number");
  CHECK(only_error("null").found == "null");
}

TEST_CASE("a missing file is an I/O error naming the file") {
  try {
    load_state_file("/nonexistent/state.json");
    FAIL("loaded a missing file");
  } catch (const ValidationFailed&) {
    FAIL("a missing file is not a validation problem");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK(std::string(e.what()) == "cannot read /nonexistent/state.json: No such file or directory");
  }
  CHECK_THROWS_WITH(load_state_file("/"), "cannot read /: Is a directory");
}

TEST_CASE("an empty file on disk is reported with its name") {
  std::string path = "/tmp/opdbus-state-test-empty.json";
  { std::ofstream(path).flush(); }
  try {
    load_state_file(path);
    FAIL("loaded an empty file");
  } catch (const ValidationFailed& e) {
    CHECK(std::string(e.what()) == path + ": the file is empty; expected a JSON object");
  }
  std::remove(path.c_str());
}

TEST_CASE("problems in several sections are all reported, in document order") {
  Diagnostics ds = errors_of(R"({
    "version": 1,
    "metadata": {"nmae": "x"},
    "plugins": {
      "systemd": {"services": {"ssh": {"state": "on"}, "cron": {"running": "yes"}}},
      "firewall": {"rules": [{"port": 22}]},
      "network": {"interfaces": {"vmbr0": {"type": "brige"}}},
      "netwrok": {}
    }
  })");
  std::vector<std::string> pointers;
  for (const auto& d : ds) pointers.push_back(d.pointer);
  CHECK(pointers ==
        std::vector<std::string>{"/metadata/nmae", "/plugins/netwrok", "/plugins/systemd/services/ssh/state",
                                 "/plugins/systemd/services/cron/running", "/plugins/firewall/rules/0",
                                 "/plugins/network/interfaces/vmbr0/type"});
  for (const auto& d : ds) {
    INFO(d.format());
    CHECK(d.file == "s.json");
    CHECK(d.line > 0);
  }
}

TEST_CASE("ValidationFailed::what() lists every diagnostic, one per line") {
  try {
    load_state_text(R"({"version": 2, "plugins": {"kvm": {"vms": {"1": {"cores": 0}}}}})", "v.json");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK(std::string(e.what()) ==
          "v.json:1:13: /version: unsupported version 2; this op-dbus supports version 1\n"
          "v.json:1:59: /plugins/kvm/vms/1/cores: expected at least 1; found number 0");
  }
}

TEST_CASE("a section that is not an object is reported once, by the top-level schema") {
  Diagnostic d = only_error(R"({"version": 1, "plugins": {"systemd": []}})");
  CHECK(d.pointer == "/plugins/systemd");
  CHECK(d.expected == "object");
  CHECK(d.found == "array of 0 items");
}

TEST_CASE("parse_user_json parses without schema validation") {
  JsonDoc doc = parse_user_json(R"({"anything": [1, 2, {"x": null}]})", "current.json");
  CHECK(doc["anything"].Size() == 3);
  CHECK_THROWS_AS(parse_user_json("{", "current.json"), ValidationFailed);
}

TEST_CASE("a string value over the limit is refused naming the file and the pointer", "[state][limits]") {
  std::string big(2048, 'x');
  std::string text = R"({"version": 1, "metadata": {"tags": ["a", ")" + big + R"("]}})";
  LoadLimits limits;
  limits.max_value = 1024;
  try {
    load_state_text(text, "big.json", limits);
    FAIL("accepted a value over the limit");
  } catch (const ValidationFailed& e) {
    REQUIRE(e.diagnostics().size() == 1);
    const Diagnostic& d = e.diagnostics()[0];
    CHECK(d.file == "big.json");
    CHECK(d.pointer == "/metadata/tags/1");
    CHECK(d.line == 1);
    CHECK_THAT(d.message, Catch::Contains("a string of 2048 bytes is longer than the limit of 1 KiB"));
    CHECK_THAT(d.message, Catch::Contains("--max-value-size"));
  }
  // A key counts as a value too.
  try {
    load_state_text(R"({"version": 1, "metadata": {")" + big + R"(": 1}})", "key.json", limits);
    FAIL("accepted a key over the limit");
  } catch (const ValidationFailed& e) {
    CHECK(e.diagnostics()[0].pointer == "/metadata/" + big);
  }
  limits.max_value = 4096;
  CHECK_NOTHROW(
      load_state_text(R"({"version": 1, "metadata": {"description": ")" + big + "\"}}", "ok.json", limits));
  // The default is 16 MiB.
  std::string huge((16u << 20) + 1, 'y');
  CHECK_THROWS_AS(
      load_state_text(R"({"version": 1, "metadata": {"description": ")" + huge + "\"}}", "h.json"),
      ValidationFailed);
}

TEST_CASE("a document over the size limit is refused before it is read", "[state][limits]") {
  std::string path = "/tmp/opdbus-state-test-big.json";
  {
    std::ofstream out(path);
    out << R"({"version": 1, "metadata": {"description": ")" << std::string(5000, 'z') << "\"}}";
  }
  LoadLimits limits;
  limits.max_document = 4096;
  try {
    load_state_file(path, limits);
    FAIL("accepted a document over the limit");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "cannot read " + path + ": larger than 4 KiB (--max-document-size); this is not a state document");
  }
  limits.max_document = 8192;
  CHECK_NOTHROW(load_state_file(path, limits));
  std::remove(path.c_str());
  CHECK_THROWS_WITH(load_state_text(std::string(5000, ' '), "t.json", LoadLimits{1000, 1000}),
                    Catch::Contains("t.json: larger than 1000 bytes (--max-document-size)"));
}

TEST_CASE("sizes are read with binary units", "[state][limits]") {
  CHECK(parse_byte_size("1048576") == 1048576);
  CHECK(parse_byte_size("64K") == 65536);
  CHECK(parse_byte_size("16M") == 16u << 20);
  CHECK(parse_byte_size("16MiB") == 16u << 20);
  CHECK(parse_byte_size("1g") == 1u << 30);
  for (const char* bad : {"", "M", "-1", "0", "1.5M", "12 M", "1T", "99999999999999999999"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_byte_size(bad), Error);
  }
  CHECK(format_byte_size(16u << 20) == "16 MiB");
  CHECK(format_byte_size(1000) == "1000 bytes");
  CHECK(format_byte_size(3u << 19) == "1536 KiB");
  CHECK(format_byte_size((16u << 20) + 1) == "16.0 MiB");
}

TEST_CASE("SectionReport names the file and the item's pointer under the section, escaped") {
  Diagnostics out;
  SectionReport report("s.json", "/plugins/network", out);
  report.expected({"interfaces", "a/b~c"}, "an interface name without '/'", "\"a/b~c\"");
  report.problem({"routes", "0"}, "declared present and absent");
  REQUIRE(out.size() == 2);
  CHECK(report.count() == 2);
  CHECK(out[0].pointer == "/plugins/network/interfaces/a~1b~0c");
  CHECK(
      out[0].format() ==
      "s.json: /plugins/network/interfaces/a~1b~0c: expected an interface name without '/'; found \"a/b~c\"");
  CHECK(out[1].format() == "s.json: /plugins/network/routes/0: declared present and absent");
  CHECK(report.pointer({}) == "/plugins/network");
}

TEST_CASE("a diagnostic about a key with a newline stays on one line") {
  Diagnostic d;
  d.file = "s.json";
  d.pointer = "/plugins/systemd/services/ssh/dropins/10-a\nExecStart=/x.conf";
  d.expected = "a drop-in name";
  d.found = "\"10-a\\nExecStart=/x.conf\"";
  std::string text = d.format();
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find("dropins/10-a\\nExecStart=/x.conf: expected a drop-in name") != std::string::npos);
  d.pointer = std::string("/a\x01\x7f") + "b";
  CHECK(d.format().find("/a\\x01\\x7fb") != std::string::npos);
}

TEST_CASE("hex_lower: two lower-case digits a byte, in order") {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  CHECK(opdbus::hex_lower(bytes, sizeof bytes) == "000fa5ff");
  CHECK(opdbus::hex_lower(bytes, 0).empty());
}
