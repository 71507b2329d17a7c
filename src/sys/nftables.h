// A small wrapper over libnftables' JSON API: one context per call, JSON output, captured output and error
// buffers. A JSON batch given to run() is one nftables transaction: the kernel takes all of it or none of it.
#pragma once

#include <cstdint>
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

// Table FAMILY NAME as the kernel holds it now, read straight from nf_tables netlink dumps (the table, its
// chains, sets with their elements, rules, stateful objects and flowtables), without libnftables' listing,
// which costs 10-20 times as much. `canonical` is every attribute of those messages in the kernel's order,
// except the handles and the generation id (they change when an identical table is made again): two states
// with the same `canonical` list the same. `consistent` is false when the ruleset changed while it was read
// (the generation id differed before and after, or a dump was interrupted). Throws Error(BackendError) when
// netlink refuses.
struct NftTableState {
  bool present = false;     // false: no such table (and `canonical` is empty)
  bool consistent = false;  // nothing was committed while the dumps ran
  uint32_t generation = 0;  // the ruleset's generation id when it was read
  std::string canonical;
};
NftTableState nft_table_state(std::string_view family, std::string_view table);

// An identity of the libnftables in use (its file's path, size and modification time): what it lists for a
// given kernel state is the same while this is.
std::string nft_library_identity();

}  // namespace opdbus::sys
