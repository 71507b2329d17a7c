// One apply at a time: an exclusive flock on /run/lock/op-dbus.lock (held for the life of the object).
#pragma once

#include <filesystem>
#include <string>

namespace opdbus {

class ApplyLock {
 public:
  // Takes the lock without waiting. Throws Error(Conflict) naming the holder's pid if another apply runs.
  explicit ApplyLock(std::filesystem::path path = default_path());
  ~ApplyLock();
  ApplyLock(const ApplyLock&) = delete;
  ApplyLock& operator=(const ApplyLock&) = delete;

  static std::filesystem::path default_path();  // $OPDBUS_LOCK_FILE or /run/lock/op-dbus.lock

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace opdbus
