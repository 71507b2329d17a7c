// Partition tables through libfdisk, on block devices and on image files alike. Offsets and sizes are bytes;
// types are a GPT type GUID (upper case) or an MBR code ("0x83"). Table names are libfdisk's: "gpt", "dos".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace opdbus::sys {

struct PartitionEntry {
  int number = 0;
  uint64_t start = 0;
  uint64_t size = 0;
  std::string type;
  std::string name;  // GPT partition name; "" on dos
};

struct PartitionTable {
  std::optional<std::string> label;  // "gpt", "dos", ...; nullopt: no partition table
  uint64_t device_size = 0;
  uint64_t sector_size = 512;
  uint64_t grain = 1024 * 1024;            // alignment of new partitions
  std::vector<PartitionEntry> partitions;  // sorted by number
};

// Reads without writing anything.
PartitionTable read_partition_table(const std::string& path);

struct NewPartition {
  int number = 0;
  std::optional<uint64_t> start;  // nullopt: the first free, aligned offset
  std::optional<uint64_t> size;   // nullopt: up to the end of the free space it starts in
  std::string type;
  std::optional<std::string> name;
};

struct PartitionChange {
  int number = 0;
  std::optional<std::string> type;
  std::optional<std::string> name;
};

struct TableEdit {
  std::optional<std::string> new_label;  // "gpt" / "dos": start from an empty table (old signatures wiped)
  std::vector<int> remove;
  std::vector<NewPartition> add;        // created in this order; their areas' old signatures are wiped
  std::vector<PartitionChange> change;  // type / name changed in place
};

// Applies `edit` in memory and writes the table once. On a block device the kernel is told about the changed
// partitions. Errors carry libfdisk's own messages.
void write_partition_table(const std::string& path, const TableEdit& edit);

}  // namespace opdbus::sys
