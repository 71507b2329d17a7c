// Sizes as the storage section writes them: "512M", "20G", "1.5T", "100MiB", 4096 (bytes), "50%" (of the
// device), "remaining" (the rest of the free space). Units are binary: K, M, G, T, P are KiB, MiB, GiB, TiB,
// PiB, whether written "M", "MB" or "MiB". Equivalent forms normalise to the same value, so "512M",
// "0.5G" and 536870912 never flap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "json.h"

namespace opdbus::storage {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = kKiB * 1024;
constexpr uint64_t kGiB = kMiB * 1024;
constexpr uint64_t kTiB = kGiB * 1024;
constexpr uint64_t kPiB = kTiB * 1024;

// Partitions start and end on the partition table's grain (1 MiB with libfdisk's defaults), so a requested
// size and the size found on disk may differ by up to this much and still be the same partition.
constexpr uint64_t kSizeTolerance = kMiB;

struct Size {
  enum class Kind { Bytes, Percent, Remaining };
  Kind kind = Kind::Bytes;
  uint64_t bytes = 0;  // Kind::Bytes
  int percent = 0;     // Kind::Percent, 1..100

  static Size of_bytes(uint64_t b) { return Size{Kind::Bytes, b, 0}; }
  static Size remaining() { return Size{Kind::Remaining, 0, 0}; }
  static Size of_percent(int p) { return Size{Kind::Percent, 0, p}; }

  // Bytes for a device of `device_bytes` (Percent rounds down to whole MiB); nullopt for Remaining.
  std::optional<uint64_t> resolve(uint64_t device_bytes) const;
  bool operator==(const Size& o) const = default;
};

// nullopt if the text is not a size.
std::optional<Size> parse_size(std::string_view text);
// A JSON string or non-negative integer; nullopt otherwise.
std::optional<Size> parse_size(const JsonValue& v);

// Exact, shortest form for documents: "512M", "20G", "1T"; "1536K"; a size that is not a whole number of
// KiB is given in bytes ("1000").
std::string format_size(uint64_t bytes);
// The same as a JSON value: a string with a unit, or an integer number of bytes.
JsonValue size_value(uint64_t bytes, JsonAlloc& a);
// For people, in messages: exact for whole MiB ("20G", "18944M"), else one decimal of the largest unit
// ("17.9G").
std::string describe_size(uint64_t bytes);
// "512M", "50%", "remaining": how a Size reads in a message or a plan.
std::string describe_size(const Size& s);

// Equal within `tolerance` either way.
inline bool close_enough(uint64_t a, uint64_t b, uint64_t tolerance = kSizeTolerance) {
  return (a > b ? a - b : b - a) <= tolerance;
}

}  // namespace opdbus::storage
