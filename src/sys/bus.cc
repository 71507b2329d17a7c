#include "sys/bus.h"

#include <sdbus-c++/sdbus-c++.h>

#include "error.h"

namespace opdbus::sys {

std::unique_ptr<Bus> Bus::connect_system() {
  try {
    return std::make_unique<Bus>(sdbus::createSystemBusConnection());
  } catch (const sdbus::Error& e) {
    throw_dbus_error(e, "connect to the system bus");
  }
}

Bus::Bus(std::unique_ptr<sdbus::IConnection> connection) : connection_(std::move(connection)) {}
Bus::~Bus() = default;

void throw_dbus_error(const sdbus::Error& e, const std::string& what) {
  const std::string& name = e.getName();
  ErrorKind kind = ErrorKind::BackendError;
  if (name == "org.freedesktop.DBus.Error.ServiceUnknown" || name == "org.freedesktop.DBus.Error.NoServer" ||
      name == "org.freedesktop.DBus.Error.FileNotFound" || name == "org.freedesktop.DBus.Error.NoReply" ||
      (name == "sdbus.Error" && e.getMessage().find("system bus") != std::string::npos)) {
    kind = ErrorKind::Unavailable;
  } else if (name == "org.freedesktop.DBus.Error.AccessDenied" ||
             name == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") {
    kind = ErrorKind::PermissionError;
  }
  throw Error(kind, name + ": " + e.getMessage()).with_context(what);
}

}  // namespace opdbus::sys
