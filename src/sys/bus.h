// The D-Bus connection handed to plugins. Only src/sys/ sees sdbus-c++; plugins use typed wrappers
// (sys/systemd.h, ...) that take a Bus&.
#pragma once

#include <memory>
#include <string>

namespace sdbus {
class IConnection;
class Error;
}  // namespace sdbus

namespace opdbus::sys {

class Bus {
 public:
  // The system bus (sd-bus honours DBUS_SYSTEM_BUS_ADDRESS). Throws Error(Unavailable) with the reason.
  static std::unique_ptr<Bus> connect_system();

  explicit Bus(std::unique_ptr<sdbus::IConnection> connection);
  ~Bus();
  sdbus::IConnection& connection() { return *connection_; }

 private:
  std::unique_ptr<sdbus::IConnection> connection_;
};

// Turns a D-Bus error into op-dbus's Error: ServiceUnknown / NoServer -> Unavailable, AccessDenied ->
// PermissionError, anything else -> BackendError; the D-Bus name and message are kept in the text.
[[noreturn]] void throw_dbus_error(const sdbus::Error& e, const std::string& what);

}  // namespace opdbus::sys
