// systemd-resolved's D-Bus API (org.freedesktop.resolve1), the part the network plugin uses: per-link DNS
// servers. Errors go through throw_dbus_error: resolved not on the bus -> Unavailable.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace opdbus::sys {

class Bus;

class Resolved {
 public:
  explicit Resolved(Bus& bus);
  ~Resolved();

  // True when resolved answers on the bus (asking may start it by D-Bus activation). Never throws.
  bool available();
  // The DNS servers set on a link, as text ("192.0.2.53", "2001:db8::53"), in order.
  std::vector<std::string> link_dns(int ifindex);
  // Replaces the link's DNS servers (SetLinkDNS); an empty list clears them.
  void set_link_dns(int ifindex, const std::vector<std::string>& servers);

 private:
  struct Impl;
  Bus& bus_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opdbus::sys
