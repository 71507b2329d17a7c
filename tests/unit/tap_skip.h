// SKIP(reason): ends the current Catch2 test case as skipped. The TAP reporter (catch_main.cc) prints
//   ok N - NAME # SKIP reason
// which meson and scripts/test_summary.py count as skipped, never as passed. Use it where a test cannot run
// here (a tool or privilege is missing), never to hide a failure: assertions that failed before SKIP still
// make the case "not ok". It returns from the enclosing function, so call it in the TEST_CASE body.
//
//   TEST_CASE("mkfs makes an ext4 filesystem") {
//     if (!have_tool("mkfs.ext4")) SKIP("mkfs.ext4 is not installed");
//     ...
//   }
#pragma once

#include <string>

namespace opdbus_test {
// Records that the running test case is skipped, and why (the reporter reads it when the case ends).
void mark_skipped(std::string reason);
}  // namespace opdbus_test

#define SKIP(reason)                     \
  do {                                   \
    ::opdbus_test::mark_skipped(reason); \
    return;                              \
  } while (false)
