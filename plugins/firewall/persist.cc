#include "firewall/persist.h"

#include "firewall/model.h"
#include "json.h"
#include "sys/rootdir.h"
#include "text.h"

namespace opdbus::firewall {

std::string unit_text() {
  return std::string(
             "# Written by op-dbus (firewall plugin): loads table inet op_dbus before the network comes up.\n"
             "# It runs after nftables.service, whose /etc/nftables.conf may start with `flush ruleset`, and "
             "is\n"
             "# restarted with it (PartOf), so the table survives a reload of nftables.service too.\n"
             "[Unit]\n"
             "Description=op-dbus firewall (table inet op_dbus)\n"
             "Wants=network-pre.target\n"
             "Before=network-pre.target shutdown.target\n"
             "After=nftables.service\n"
             "PartOf=nftables.service\n"
             "Conflicts=shutdown.target\n"
             "DefaultDependencies=no\n"
             "\n"
             "[Service]\n"
             "Type=oneshot\n"
             "RemainAfterExit=yes\n"
             "StandardInput=null\n"
             "ExecStart=/usr/sbin/nft -j -f ") +
         kBootFile +
         "\n"
         "\n"
         "[Install]\n"
         "WantedBy=sysinit.target\n";
}

BootFiles read_boot(const sys::RootDir& root) {
  BootFiles b;
  b.batch = root.read_file(kBootFile);
  auto unit = root.read_file(kUnitPath);
  b.unit = unit && *unit == unit_text();
  auto link = root.read_link(kWantsLink);
  b.enabled = link && *link == kUnitPath;
  return b;
}

void write_boot(const sys::RootDir& root, const std::string& batch) {
  root.write_file(kBootFile, batch, 0600);
  root.write_file(kUnitPath, unit_text(), 0644);
  root.symlink(kUnitPath, kWantsLink);
}

void remove_boot(const sys::RootDir& root) {
  root.remove(kWantsLink);
  root.remove(kUnitPath);
  root.remove(kBootFile);
}

std::optional<std::string> listing_from_batch(const std::string& batch) {
  JsonDoc doc;
  try {
    doc = parse_json(batch);
  } catch (const std::exception&) {
    return std::string("{\"nftables\":[{\"rule\":{\"chain\":\"input\",\"expr\":[{\"unreadable\":\"") +
           kBootFile + "\"}]}}]}";
  }
  const JsonValue* cmds = member(doc, "nftables");
  std::vector<std::string> items;
  bool present = false;
  if (cmds && cmds->IsArray()) {
    for (const auto& c : cmds->GetArray()) {
      if (!c.IsObject() || c.MemberCount() != 1) continue;
      std::string verb = c.MemberBegin()->name.GetString();
      const JsonValue& obj = c.MemberBegin()->value;
      if (!obj.IsObject() || obj.MemberCount() != 1) continue;
      std::string kind = obj.MemberBegin()->name.GetString();
      if (kind == "table" && verb == "delete") {
        items.clear();
        present = false;
      } else if (kind == "table" && verb == "add") {
        if (!present) items.push_back(to_json(obj));
        present = true;
      } else if (verb == "add") {
        items.push_back(to_json(obj));
      }
    }
  }
  if (!present) return std::nullopt;
  return "{\"nftables\":[" + join(items, ",") + "]}";
}

}  // namespace opdbus::firewall
