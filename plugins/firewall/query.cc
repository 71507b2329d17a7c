#include "firewall/query.h"

#include "firewall/model.h"

namespace opdbus::firewall {

JsonDoc query_section(Backend& backend) {
  auto table = parse_table(backend.list_table());
  if (!table.present) {
    JsonDoc d(rapidjson::kObjectType);
    return d;
  }
  return section_to_json(table.section);
}

}  // namespace opdbus::firewall
