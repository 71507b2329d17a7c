#include "firewall/query.h"

#include "firewall/model.h"

namespace opdbus::firewall {

JsonDoc query_section(Backend& backend, std::optional<std::string>* listing) {
  auto raw = backend.list_table();
  auto table = parse_table(raw);
  if (listing) *listing = std::move(raw);
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
