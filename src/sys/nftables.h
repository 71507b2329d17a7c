// A small wrapper over libnftables' JSON API: one context per call, JSON output, captured output and error
// buffers. A JSON batch given to run() is one nftables transaction: the kernel takes all of it or none of it.
#pragma once

#include <string>
#include <string_view>

namespace opdbus::sys {

struct NftResult {
  int rc = 0;          // nft_run_cmd_from_buffer's return value; 0 is success
  std::string output;  // what nft printed (JSON for list commands)
  std::string error;   // nft's own error messages
};

// Runs `commands` (a JSON batch {"nftables": [...]}, or nft's text syntax) with
// JSON output. Never throws for a refused command: the result says so. Throws Error(Unavailable) when no
// nftables context can be made.
NftResult nft_run(std::string_view commands);

// As nft_run(), but a failure throws Error(BackendError) carrying nft's own message; returns the output.
std::string nft_run_checked(std::string_view commands, std::string_view doing);

}  // namespace opdbus::sys
