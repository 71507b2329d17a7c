#include "firewall/query.h"

#include "firewall/model.h"

namespace opdbus::firewall {

JsonDoc query_section(Backend& backend, TableRead* read) {
  CurrentTable table;
  if (auto decoded = backend.decode_table()) {
    table = std::move(*decoded);
    if (read) {
      read->listed = false;
      read->listing.reset();
      read->present = table.present;
      read->section = table.section;
    }
  } else {
    auto raw = backend.list_table();
    table = parse_table(raw);
    if (read) {
      read->listed = true;
      read->present = raw.has_value();
      read->listing = std::move(raw);
    }
  }
  auto boot = backend.read_boot();
  if (!table.present) {
    JsonDoc d(rapidjson::kObjectType);
    // Boot files without a table are still op-dbus's: reported, so an empty section removes them.
    if (boot.any()) d.AddMember("persist", true, d.GetAllocator());
    return d;
  }
  table.section.persist = boot.installed() && *boot.batch == render_batch(table.section);
  return section_to_json(table.section);
}

}  // namespace opdbus::firewall
