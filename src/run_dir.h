// Where op-dbus keeps runtime files of the live system (the confirm handshake, DHCP client pid files):
// /run/op-dbus, or $OPDBUS_RUN_DIR/op-dbus when tests point it elsewhere. One lookup, used by everyone.
#pragma once

#include <filesystem>

namespace opdbus {

std::filesystem::path runtime_dir();

}  // namespace opdbus
