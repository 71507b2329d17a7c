// Not a test of op-dbus: tests/lib/selftest.sh runs this with the TAP reporter and checks what SKIP prints.
// The third case fails on purpose (a failure before SKIP must stay a failure).
#include <catch2/catch.hpp>

#include "tap_skip.h"

TEST_CASE("passes") {
  CHECK(1 + 1 == 2);
}

TEST_CASE("skips with a reason") {
  SKIP("tool-x is not installed");
  FAIL("not reached");
}

TEST_CASE("fails, then skips") {
  CHECK(1 + 1 == 3);
  SKIP("too late to skip");
}
