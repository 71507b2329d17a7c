// The systemd section as typed values: what the document asks for, or what the host has (query.h), in one
// shape. Parsing normalises every equivalent form, so the diff compares like with like:
//   - unit names: "ssh" and "ssh.service" are the same service (items are looked up by normalised name);
//   - file texts: "a" and "a\n" are the same content (Text compares normalize_content() forms);
//   - timers: a Unit= that names the timer's default unit is the same as none (canonical_timer()).
// The items keep the spelling the document used (`key`) for plan items and diagnostics. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "json.h"
#include "systemd/units.h"

namespace opdbus::systemd {

// A unit file's or drop-in's text: as written (what a plan shows) and as op-dbus writes it (what is compared
// and written).
struct Text {
  std::string raw;
  std::string normal;  // normalize_content(raw)

  Text() = default;
  explicit Text(std::string text) : raw(std::move(text)), normal(normalize_content(raw)) {}
  bool operator==(const Text& other) const { return normal == other.normal; }
};

// Drop-in files by file name ("override.conf"), in document order (so they are written, and reported on, in
// the order the document names them). A unit has a handful: looked up by a scan.
struct Dropins {
  std::vector<std::pair<std::string, Text>> files;

  // The first file of that name, or null.
  const Text* find(std::string_view name) const {
    for (const auto& [n, text] : files) {
      if (n == name) return &text;
    }
    return nullptr;
  }
  bool empty() const { return files.empty(); }
};

// What every item has: its name as the document spells it, the unit it names, and its own mode.
struct ItemBase {
  std::string key;       // "ssh"
  std::string unit;      // "ssh.service"
  bool observe = false;  // the item's own "mode": "observe" (the section's is Section::observe)
};

struct Service : ItemBase {
  std::optional<std::string> state;  // desired: enabled/disabled/masked; current: systemd's unit file state
  std::optional<bool> running;       // current: absent when not known (offline)
  std::optional<bool> restart_on_change;
  std::optional<Dropins> dropins;
};

struct Timer : ItemBase {
  std::optional<std::string> state;  // enabled, disabled, absent (current: also what systemd says)
  std::optional<bool> running;
  // The fields as written (check() validates these).
  std::optional<std::string> on_calendar;
  std::optional<std::string> activates;  // "unit": the unit the timer activates (Unit=)
  std::optional<std::string> description;
  std::optional<bool> persistent;
  // The same as one canonical spec (missing fields empty/false). For a current timer it describes the file
  // only when on_calendar is set (query() leaves the spec out for a file op-dbus did not write).
  TimerSpec spec;
};

struct CustomUnit : ItemBase {
  std::optional<Text> content;       // current: absent when the file does not exist
  std::optional<std::string> state;  // present, absent
  std::optional<bool> enabled;
  std::optional<bool> running;
  std::optional<bool> restart_on_change;
  std::optional<Dropins> dropins;
};

// One kind of item: every item in document order (two spellings of one unit included, so check() can report
// them), and the first of them for each normalised unit name, as a scan in document order would find it.
template <typename T>
class Items {
 public:
  void add(T item) {
    index_.emplace(item.unit, list_.size());
    list_.push_back(std::move(item));
  }
  const std::vector<T>& list() const { return list_; }
  const T* find(const std::string& unit) const {
    auto it = index_.find(unit);
    return it == index_.end() ? nullptr : &list_[it->second];
  }
  bool empty() const { return list_.empty(); }

 private:
  std::vector<T> list_;
  std::unordered_map<std::string, size_t> index_;
};

struct Section {
  bool observe = false;  // the section's "mode": "observe"
  Items<Service> services;
  Items<Timer> timers;
  Items<CustomUnit> custom_units;
};

// The desired section (a document's) or the current one (query()'s, or a saved `show`). Members of the wrong
// type are left out (the schema has refused them before a plan).
Section parse_section(const JsonValue& section);

}  // namespace opdbus::systemd
