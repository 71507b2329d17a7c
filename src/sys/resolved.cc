#include "sys/resolved.h"

#include <arpa/inet.h>
#include <sdbus-c++/sdbus-c++.h>

#include "error.h"
#include "sys/bus.h"
#include "sys/dbus_call.h"

namespace opdbus::sys {
namespace {

constexpr const char* kDestination = "org.freedesktop.resolve1";
constexpr const char* kManagerPath = "/org/freedesktop/resolve1";
constexpr const char* kManagerInterface = "org.freedesktop.resolve1.Manager";
constexpr const char* kLinkInterface = "org.freedesktop.resolve1.Link";

using DnsList = std::vector<sdbus::Struct<int32_t, std::vector<uint8_t>>>;

}  // namespace

struct Resolved::Impl {
  std::unique_ptr<sdbus::IProxy> manager;
};

Resolved::Resolved(Bus& bus) : bus_(bus), impl_(std::make_unique<Impl>()) {
  impl_->manager = call_dbus("create a proxy for systemd-resolved", [&] {
    return sdbus::createProxy(bus_.connection(), kDestination, kManagerPath);
  });
}

Resolved::~Resolved() = default;

bool Resolved::available() {
  try {
    impl_->manager->getProperty("DNSStubListener").onInterface(kManagerInterface);
    return true;
  } catch (const sdbus::Error&) {
    return false;
  }
}

std::vector<std::string> Resolved::link_dns(int ifindex) {
  sdbus::ObjectPath path;
  call_dbus("resolved GetLink", [&] {
    impl_->manager->callMethod("GetLink")
        .onInterface(kManagerInterface)
        .withArguments(ifindex)
        .storeResultsTo(path);
  });
  auto link = call_dbus("create a proxy for a resolved link",
                        [&] { return sdbus::createProxy(bus_.connection(), kDestination, path); });
  DnsList list = call_dbus("read the link's DNS property", [&] {
    return link->getProperty("DNS").onInterface(kLinkInterface).get<DnsList>();
  });
  std::vector<std::string> out;
  for (const auto& entry : list) {
    int family = entry.get<0>();
    const auto& bytes = entry.get<1>();
    char buf[INET6_ADDRSTRLEN] = {};
    if ((family == AF_INET && bytes.size() == 4) || (family == AF_INET6 && bytes.size() == 16)) {
      if (inet_ntop(family, bytes.data(), buf, sizeof buf)) out.emplace_back(buf);
    }
  }
  return out;
}

void Resolved::set_link_dns(int ifindex, const std::vector<std::string>& servers) {
  DnsList list;
  for (const auto& s : servers) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
      list.push_back({AF_INET, std::vector<uint8_t>(buf, buf + 4)});
    } else if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
      list.push_back({AF_INET6, std::vector<uint8_t>(buf, buf + 16)});
    } else {
      throw Error(ErrorKind::InvalidArgument, "not an IP address: '" + s + "'");
    }
  }
  call_dbus("resolved SetLinkDNS", [&] {
    impl_->manager->callMethod("SetLinkDNS").onInterface(kManagerInterface).withArguments(ifindex, list);
  });
}

}  // namespace opdbus::sys
