// /etc/resolv.conf when systemd-resolved is not running. The file has one list of servers; op-dbus records
// which interface asked for which ones in comment lines, so each interface's "dns" reads back exactly:
//   # op-dbus dns vmbr0: 192.0.2.53 2001:db8::53
//   nameserver 192.0.2.53
//   nameserver 2001:db8::53
// Other lines (search, options, comments) are kept. Nameservers nobody asked for are dropped once op-dbus
// manages the file. glibc reads at most three nameservers. Pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace opdbus::network {

// Servers per interface, from the comment lines op-dbus wrote.
std::map<std::string, std::vector<std::string>> resolv_conf_servers(const std::optional<std::string>& text);
// The file with `link`'s servers replaced (an empty list removes the interface).
std::string render_resolv_conf(const std::optional<std::string>& text, const std::string& link,
                               const std::vector<std::string>& servers);

}  // namespace opdbus::network
