// `op-dbus manifest`: dpkg's version order, dependency fields, and the resolver (alternatives, virtual
// packages, versioned dependencies, Recommends, unknown names).
#include <catch2/catch.hpp>

#include "error.h"
#include "manifest.h"

using namespace opdbus;
using namespace opdbus::manifest;

namespace {

const char* kIndex = R"(Package: app
Version: 1.0
Architecture: amd64
Depends: libfoo (>= 2.0), mail-transport-agent | postfix, perl:any
Pre-Depends: base
Recommends: extra | nothing-here, missing-recommend

Package: libfoo
Version: 1.9
Architecture: amd64

Package: libfoo
Version: 2.1
Architecture: amd64

Package: exim
Version: 4
Architecture: amd64
Provides: mail-transport-agent

Package: postfix
Version: 3
Architecture: amd64
Provides: mail-transport-agent

Package: perl
Version: 5.36
Architecture: amd64

Package: base
Version: 1
Architecture: all

Package: extra
Version: 1
Architecture: all

Package: other-arch
Version: 1
Architecture: arm64

Package: needs-new
Version: 1
Architecture: amd64
Depends: libfoo (>= 3)
)";

std::vector<std::string> names(const std::vector<Entry>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.name + (e.requested ? "*" : ""));
  return out;
}

}  // namespace

TEST_CASE("versions compare as dpkg compares them") {
  CHECK(compare_versions("1.0", "1.0") == 0);
  CHECK(compare_versions("1.0~rc1", "1.0") < 0);
  CHECK(compare_versions("1:0.1", "2.0") > 0);
  CHECK(compare_versions("2.10-3", "2.10-2") > 0);
  CHECK(compare_versions("2.10", "2.9") > 0);
  CHECK(compare_versions("1.0a", "1.0") > 0);
  CHECK(compare_versions("1.0+b1", "1.0") > 0);
  CHECK(satisfies("2.1", Relation{"x", ">=", "2.0"}));
  CHECK(!satisfies("1.9", Relation{"x", ">=", "2.0"}));
  CHECK(satisfies("1.9", Relation{"x", "<<", "2.0"}));
}

TEST_CASE("dependency fields: groups, alternatives, versions, architecture qualifiers") {
  auto r = parse_relations("libc6 (>= 2.34), perl:any | foo (<< 2), bar [amd64]");
  REQUIRE(r.size() == 3);
  CHECK(r[0][0].name == "libc6");
  CHECK(r[0][0].op == ">=");
  CHECK(r[0][0].version == "2.34");
  REQUIRE(r[1].size() == 2);
  CHECK(r[1][0].name == "perl");
  CHECK(r[1][1].op == "<<");
  CHECK(r[2][0].name == "bar");
}

TEST_CASE("the resolver follows dependencies the way apt would") {
  Index index;
  index.add(kIndex, "amd64");
  CHECK(index.find("libfoo")->version == "2.1");  // the newest of two stanzas
  CHECK(index.find("other-arch") == nullptr);
  auto got = names(resolve(index, {"app"}, true));
  // exim: the first provider of the virtual mail-transport-agent; extra: the first satisfiable Recommends;
  // a Recommends nothing provides is skipped, as apt skips it.
  CHECK(got == std::vector<std::string>{"app*", "base", "exim", "extra", "libfoo", "perl"});
  CHECK(names(resolve(index, {"app"}, false)) ==
        std::vector<std::string>{"app*", "base", "exim", "libfoo", "perl"});
  // An alternative already chosen is kept: asking for postfix means no exim.
  CHECK(names(resolve(index, {"postfix", "app"}, false)) ==
        std::vector<std::string>{"app*", "base", "libfoo", "perl", "postfix*"});
  CHECK_THROWS_WITH(resolve(index, {"nope"}, true), Catch::Contains("no package nope"));
  CHECK_THROWS_WITH(
      resolve(index, {"needs-new"}, true),
      Catch::Contains("needs-new 1 depends on libfoo (>= 3), which nothing in the indexes provides"));
  // No names: every package of the index, each requested.
  const std::string all(kIndex);
  Index satisfiable;
  satisfiable.add(all.substr(0, all.find("Package: needs-new")), "amd64");
  CHECK(resolve(satisfiable, {}, false).size() == satisfiable.packages().size());
}

TEST_CASE("the manifest JSON is what packagekit.manifest reads") {
  auto doc = to_json({{"hello", "2.10-3", true}, {"libc6", "2.36-9", false}}, "amd64", {"/x/Packages"});
  CHECK(
      to_json(doc) ==
      R"({"format":"op-dbus-manifest","version":1,"architecture":"amd64","indexes":["/x/Packages"],"packages":[{"name":"hello","version":"2.10-3","requested":true},{"name":"libc6","version":"2.36-9","requested":false}]})");
}
