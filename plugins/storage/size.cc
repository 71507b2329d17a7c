#include "storage/size.h"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace opdbus::storage {

std::optional<uint64_t> Size::resolve(uint64_t device_bytes) const {
  switch (kind) {
    case Kind::Bytes:
      return bytes;
    case Kind::Percent: {
      // Split so that device_bytes * percent cannot overflow.
      uint64_t raw = device_bytes / 100 * static_cast<uint64_t>(percent) +
                     device_bytes % 100 * static_cast<uint64_t>(percent) / 100;
      return raw / kMiB * kMiB;
    }
    case Kind::Remaining:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Size> parse_size(std::string_view text) {
  if (text == "remaining") return Size::remaining();
  if (text.empty()) return std::nullopt;
  if (text.back() == '%') {
    std::string_view digits = text.substr(0, text.size() - 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    int p = 0;
    for (char c : digits) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 100) return std::nullopt;
    return Size::of_percent(p);
  }
  // number [. fraction] [unit]
  size_t i = 0;
  uint64_t whole = 0;
  size_t whole_digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (whole > (UINT64_MAX - 9) / 10) return std::nullopt;
    whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
    ++whole_digits;
  }
  if (whole_digits == 0) return std::nullopt;
  std::string_view fraction;
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    fraction = text.substr(start, i - start);
    if (fraction.empty() || fraction.size() > 9) return std::nullopt;
  }
  std::string_view unit = text.substr(i);
  uint64_t mult = 1;
  if (!unit.empty()) {
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
    std::string_view rest = unit.substr(1);
    switch (u) {
      case 'B':
        mult = 1;
        break;
      case 'K':
        mult = kKiB;
        break;
      case 'M':
        mult = kMiB;
        break;
      case 'G':
        mult = kGiB;
        break;
      case 'T':
        mult = kTiB;
        break;
      case 'P':
        mult = kPiB;
        break;
      default:
        return std::nullopt;
    }
    if (u == 'B') {
      if (!rest.empty()) return std::nullopt;
    } else if (!(rest.empty() || rest == "B" || rest == "iB")) {
      return std::nullopt;
    }
  }
  if (whole > UINT64_MAX / mult) return std::nullopt;
  uint64_t bytes = whole * mult;
  if (!fraction.empty()) {
    // fraction * mult, exactly, rounded down to a byte.
    uint64_t num = 0, den = 1;
    for (char c : fraction) {
      num = num * 10 + static_cast<uint64_t>(c - '0');
      den *= 10;
    }
    unsigned __int128 frac = static_cast<unsigned __int128>(num) * mult / den;
    bytes += static_cast<uint64_t>(frac);
  }
  if (bytes == 0) return std::nullopt;
  return Size::of_bytes(bytes);
}

std::optional<Size> parse_size(const JsonValue& v) {
  if (v.IsString()) return parse_size(std::string_view(v.GetString(), v.GetStringLength()));
  if (v.IsUint64() && v.GetUint64() > 0) return Size::of_bytes(v.GetUint64());
  return std::nullopt;
}

std::string format_size(uint64_t bytes) {
  struct Unit {
    uint64_t mult;
    const char* suffix;
  };
  for (Unit u : {Unit{kPiB, "P"}, Unit{kTiB, "T"}, Unit{kGiB, "G"}, Unit{kMiB, "M"}, Unit{kKiB, "K"}}) {
    if (bytes != 0 && bytes % u.mult == 0) return std::to_string(bytes / u.mult) + u.suffix;
  }
  return std::to_string(bytes);
}

JsonValue size_value(uint64_t bytes, JsonAlloc& a) {
  if (bytes != 0 && bytes % kKiB == 0) return str_value(format_size(bytes), a);
  return JsonValue(static_cast<uint64_t>(bytes));
}

std::string describe_size(uint64_t bytes) {
  if (bytes != 0 && bytes % kMiB == 0) return format_size(bytes);
  struct Unit {
    uint64_t mult;
    const char* suffix;
  };
  for (Unit u : {Unit{kPiB, "P"}, Unit{kTiB, "T"}, Unit{kGiB, "G"}, Unit{kMiB, "M"}, Unit{kKiB, "K"}}) {
    if (bytes >= u.mult) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f%s", static_cast<double>(bytes) / static_cast<double>(u.mult),
                    u.suffix);
      return buf;
    }
  }
  return std::to_string(bytes) + " bytes";
}

std::string describe_size(const Size& s) {
  switch (s.kind) {
    case Size::Kind::Bytes:
      return describe_size(s.bytes);
    case Size::Kind::Percent:
      return std::to_string(s.percent) + "%";
    case Size::Kind::Remaining:
      return "remaining";
  }
  return "?";
}

}  // namespace opdbus::storage
