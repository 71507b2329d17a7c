// The one D-Bus call wrapper of the src/sys/ wrappers (sdbus-c++ is visible here only): runs `fn` and turns
// an sdbus::Error into op-dbus's Error (throw_dbus_error), naming what was being done and keeping the D-Bus
// error's own name and message.
//   auto units = call_dbus("ListUnits", [&] { ...->callMethod("ListUnits")...; return out; });
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <string>

#include "sys/bus.h"

namespace opdbus::sys {

template <typename Fn>
auto call_dbus(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const sdbus::Error& e) {
    throw_dbus_error(e, what);
  }
}

}  // namespace opdbus::sys
