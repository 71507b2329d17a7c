// Prints the registry (src/app/registry.cc) as JSON, without probing anything: the fields of
// `op-dbus plugins --json` that do not depend on the host (name, summary, implemented, after).
// scripts/plugin_list.py compares every other list of plugins with it.
#include <iostream>

#include "json.h"
#include "registry.h"

using namespace opdbus;

int main() {
  JsonDoc out(rapidjson::kArrayType);
  auto& a = out.GetAllocator();
  for (const auto& p : make_plugins()) {
    JsonValue o(rapidjson::kObjectType);
    o.AddMember("name", str_value(p->name(), a), a);
    o.AddMember("summary", str_value(p->summary(), a), a);
    o.AddMember("implemented", p->implemented(), a);
    JsonValue after(rapidjson::kArrayType);
    for (const auto& d : p->after()) after.PushBack(str_value(d, a), a);
    o.AddMember("after", after, a);
    out.PushBack(o, a);
  }
  std::cout << to_pretty_json(out, false);
  return 0;
}
