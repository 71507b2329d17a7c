#include "run_dir.h"

#include <cstdlib>

namespace opdbus {

std::filesystem::path runtime_dir() {
  const char* dir = std::getenv("OPDBUS_RUN_DIR");
  return std::filesystem::path(dir && *dir ? dir : "/run") / "op-dbus";
}

}  // namespace opdbus
