// A small wrapper over libnftables' JSON API: one context per call, JSON output, captured output and error
// buffers. A JSON batch given to run() is one nftables transaction: the kernel takes all of it or none of it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// The table's objects decoded from those same dumps, in nf_tables' own terms (what `nft --debug=netlink`
// prints), for a caller that reads its own table without libnftables' listing. Only what such a caller
// needs is decoded: an attribute, expression or object kind this decoder does not know sets `unread` on
// what holds it, and a caller must then not trust the decoded form (and list the table instead).
struct NftExpr {
  std::string name;     // the kernel's expression name: payload, meta, ct, cmp, bitwise, lookup, range,
                        // immediate, counter, log, limit, reject; any other is `unread`
  std::string key;      // meta, ct: the key (iifname, oifname, nfproto, l4proto, state, status, or "#N");
                        // payload: the header (link, network, transport, or "#N")
  uint32_t offset = 0;  // payload
  uint32_t len = 0;     // payload, bitwise
  uint32_t sreg = 0;    // cmp, bitwise, lookup, range
  uint32_t dreg = 0;    // payload, meta, ct, bitwise, immediate
  std::string op;       // cmp, range: eq, neq, lt, lte, gt, gte
  std::string data;     // cmp: the value; bitwise: the mask; range: from; lookup: the set's name;
                        // immediate: the verdict (accept, drop, or "#N"); log: the prefix
  std::string data2;    // bitwise: the xor; range: to
  uint64_t rate = 0;    // limit
  uint64_t unit = 0;    // limit: seconds
  uint32_t burst = 0;   // limit
  uint32_t type = 0;    // limit, reject
  uint32_t code = 0;    // reject
  uint32_t flags = 0;   // limit, lookup (1: inverted), log
  uint32_t level = 0;   // log
  bool has_level = false;
  bool unread = false;
};
struct NftRule {
  std::string chain;
  std::string comment;  // from the rule's user data
  std::vector<NftExpr> exprs;
  bool unread = false;
};
struct NftChain {
  std::string name;
  bool base = false;     // has a hook
  std::string type;      // base: filter, nat, route
  std::string hook;      // base: prerouting, input, forward, output, postrouting, ingress, or "#N"
  int32_t priority = 0;  // base
  std::string policy;    // base: accept, drop
  bool unread = false;
};
struct NftSetElem {
  std::string key;  // the value's bytes (network byte order)
  bool interval_end = false;
  bool unread = false;
};
struct NftSet {
  std::string name;
  uint32_t flags = 0;     // NFT_SET_* (anonymous 1, constant 2, interval 4, ...)
  uint32_t key_type = 0;  // nft's data type id (7 ipv4_addr, 8 ipv6_addr, 13 inet_service, ...)
  uint32_t key_len = 0;
  std::vector<NftSetElem> elements;  // as the kernel dumps them (unsorted)
  bool unread = false;
};
struct NftTableContents {
  std::vector<NftChain> chains;
  std::vector<NftSet> sets;    // named and anonymous, every one with its elements
  std::vector<NftRule> rules;  // in chain order as dumped
  bool unread = false;         // the table has flags, user data, stateful objects or flowtables
};

// With `contents`: also decodes what the dumps hold into it, reading the elements of every set (constant
// anonymous ones included), when the table is present.
NftTableState nft_table_state(std::string_view family, std::string_view table,
                              NftTableContents* contents = nullptr);

// The ruleset's generation id (NFT_MSG_GETGEN): it moves with every transaction committed in this network
// namespace, to any table.
uint32_t nft_generation();

// An identity of the libnftables in use (its file's path, size and modification time): what it lists for a
// given kernel state is the same while this is.
std::string nft_library_identity();

}  // namespace opdbus::sys
