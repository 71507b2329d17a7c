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
// which costs several times as much. `canonical` is every attribute of those messages in the kernel's order
// (the generation id left out): two states with the same `canonical` list the same. Where the kernel tells
// the network namespace's cookie (Linux 5.14+), `canonical` names the namespace and the boot and keeps the
// handles, which are then never reused, so the elements of a constant anonymous set (immutable once its rule
// holds it) are not read again: its handle stands for them. Otherwise handles are left out and every set's
// elements are read. `consistent` is false when the ruleset changed while it was read (the generation id
// differed before and after, or a dump was interrupted). Throws Error(BackendError) when netlink refuses.
struct NftTableState {
  bool present = false;     // false: no such table (and `canonical` is empty)
  bool consistent = false;  // nothing was committed while the dumps ran
  uint32_t generation = 0;  // the ruleset's generation id when it was read
  std::string canonical;
};
NftTableState nft_table_state(std::string_view family, std::string_view table);

// The ruleset's generation id (NFT_MSG_GETGEN): it moves with every transaction committed in this network
// namespace, to any table.
uint32_t nft_generation();

// An identity of the libnftables in use (its file's path, size and modification time): what it lists for a
// given kernel state is the same while this is.
std::string nft_library_identity();

}  // namespace opdbus::sys
