// The storage plugin's operations, as types. diff() puts one in each Action; apply() carries it out. Each
// carries what the plan expected to find, so apply can refuse (Conflict, nothing touched) when the disk
// changed between plan and apply. JSON appears only at the journal boundary (fields()).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "json_object.h"

namespace opdbus::storage {

// One partition to create. Exactly one of size / percent / remaining says how big it is.
struct PartitionCreate {
  int number = 0;
  std::optional<uint64_t> start;
  std::optional<uint64_t> size;
  std::optional<int> percent;
  bool remaining = false;
  std::string type;  // the canonical code for the table: a GPT GUID or "0x83"
  std::optional<std::string> label;
};

// A partition whose type and label change in place.
struct PartitionModify {
  int number = 0;
  std::string type;  // canonical code
  std::optional<std::string> label;
};

// Writes (or edits) the partition table of `device`.
struct PartitionOp {
  static constexpr std::string_view kName = "partition";
  std::string device;  // as the document names it
  std::string table;   // "gpt" / "msdos"
  bool new_table = false;
  std::optional<std::string> expect_table;  // what the plan saw ("gpt", "msdos"; nullopt: none)
  std::vector<int> expect_partitions;       // the partition numbers the plan saw
  std::vector<int> remove;
  std::vector<PartitionCreate> create;
  std::vector<PartitionModify> modify;

  void fields(JsonObject& o) const {
    o.set("device", device).set("table", table).set("new_table", new_table);
    o.set("expect_table", expect_table.value_or(""));
    std::vector<std::string> nums;
    for (int n : expect_partitions) nums.push_back(std::to_string(n));
    o.set("expect_partitions", nums);
    nums.clear();
    for (int n : remove) nums.push_back(std::to_string(n));
    o.set("delete", nums);
    nums.clear();
    for (const auto& c : create) nums.push_back(std::to_string(c.number));
    o.set("create", nums);
    nums.clear();
    for (const auto& m : modify) nums.push_back(std::to_string(m.number));
    o.set("modify", nums);
  }
};

// Makes a filesystem (or swap area) on `device`.
struct MkfsOp {
  static constexpr std::string_view kName = "mkfs";
  std::string device;
  std::string type;
  std::optional<std::string> label;
  std::optional<std::string> uuid;
  std::vector<std::string> options;   // extra mkfs flags (validated: flags only)
  std::optional<std::string> expect;  // the signature the plan saw there (nullopt: none)
  bool wipe = false;                  // the plan allowed destroying `expect`

  void fields(JsonObject& o) const {
    o.set("device", device).set("type", type);
    if (label) o.set("label", *label);
    if (uuid) o.set("uuid", *uuid);
    o.set("options", options);
    o.set("expect", expect.value_or(""));
    o.set("wipe", wipe);
  }
};

// Changes the label of the filesystem on `device` in place.
struct RelabelOp {
  static constexpr std::string_view kName = "relabel";
  std::string device;
  std::string type;
  std::string label;

  void fields(JsonObject& o) const { o.set("device", device).set("type", type).set("label", label); }
};

// Creates or deletes one btrfs subvolume.
struct SubvolumeOp {
  static constexpr std::string_view kName = "subvolume";
  std::string device;
  std::string name;
  bool absent = false;

  void fields(JsonObject& o) const {
    o.set("device", device).set("name", name).set("state", absent ? "absent" : "present");
  }
};

// Mounts, unmounts or remounts one mount point and keeps its /etc/fstab line.
struct MountOp {
  static constexpr std::string_view kName = "mount";
  std::string target;  // in-system path ("/home")
  std::string device;
  std::optional<std::string> subvol;
  std::vector<std::string> options;
  std::optional<std::string> fstype;
  std::string state = "mounted";  // mounted, present, unmounted, absent
  bool fstab = true;

  void fields(JsonObject& o) const {
    o.set("target", target).set("device", device);
    if (subvol) o.set("subvol", *subvol);
    o.set("options", options);
    if (fstype) o.set("fstype", *fstype);
    o.set("state", state).set("fstab", fstab);
  }
};

using Ops = std::variant<PartitionOp, MkfsOp, RelabelOp, SubvolumeOp, MountOp>;

}  // namespace opdbus::storage
