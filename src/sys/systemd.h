// A typed wrapper over systemd's manager on the system bus (org.freedesktop.systemd1). The only code that
// talks to systemd over D-Bus; D-Bus errors leave it as op-dbus Errors carrying systemd's name and message.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace opdbus::sys {

class Bus;

// One change systemd reports for EnableUnitFiles & co: ("symlink", "/etc/.../x.service",
// "/lib/.../x.service").
struct UnitFileChange {
  std::string type;
  std::string path;
  std::string target;
};

struct UnitFileEntry {
  std::string path;   // where the unit file was found
  std::string state;  // "enabled", "disabled", "masked", "static", ...
};

struct LoadedUnit {
  std::string name;
  std::string load_state;    // "loaded", "not-found", "masked", ...
  std::string active_state;  // "active", "inactive", "failed", "activating", ...
  std::string sub_state;
};

// What systemd says about a unit after a job: enough to explain a failure in its own words.
struct UnitStatus {
  std::string load_state;
  std::string active_state;
  std::string sub_state;
  std::string result;                     // "success", "exit-code", "signal", "timeout", ... ("" if none)
  std::optional<int32_t> exec_main_code;  // services only: 1 exited, 2 killed, 3 dumped core
  std::optional<int32_t> exec_main_status;
};

class SystemdManager {
 public:
  explicit SystemdManager(Bus& bus);
  ~SystemdManager();
  SystemdManager(const SystemdManager&) = delete;
  SystemdManager& operator=(const SystemdManager&) = delete;

  // The Version property ("252.39-1~deb12u2").
  std::string version();

  // GetUnitFileState; "not-found" when no unit file has that name.
  std::string unit_file_state(const std::string& unit);
  // ListUnitFilesByPatterns; empty `states` or `patterns` means all.
  std::vector<UnitFileEntry> list_unit_files(const std::vector<std::string>& states,
                                             const std::vector<std::string>& patterns);
  // ListUnits: every unit loaded in the manager right now.
  std::vector<LoadedUnit> list_units();
  // ListUnitsByNames: the named units (loading those that are not), in one call.
  std::vector<LoadedUnit> list_units_by_names(const std::vector<std::string>& names);

  std::vector<UnitFileChange> enable_unit_files(const std::vector<std::string>& units, bool force = false);
  std::vector<UnitFileChange> disable_unit_files(const std::vector<std::string>& units);
  std::vector<UnitFileChange> mask_unit_files(const std::vector<std::string>& units, bool force = false);
  std::vector<UnitFileChange> unmask_unit_files(const std::vector<std::string>& units);
  // Reload (daemon-reload); returns when systemd has finished reloading.
  void reload();

  // LoadUnit + the Unit (and, for services, Service) properties.
  UnitStatus unit_status(const std::string& unit);

  // StartUnit / StopUnit / RestartUnit with mode "replace", then wait for the job's JobRemoved signal.
  // Returns the job result: "done", "canceled", "timeout", "failed", "dependency", "skipped".
  std::string start_unit(const std::string& unit, std::chrono::seconds timeout = std::chrono::seconds(300));
  std::string stop_unit(const std::string& unit, std::chrono::seconds timeout = std::chrono::seconds(300));
  std::string restart_unit(const std::string& unit, std::chrono::seconds timeout = std::chrono::seconds(300));
  // The same for many units at once, as `systemctl start A B C` does: every job is queued before waiting for
  // any. Returns each unit's job result.
  std::map<std::string, std::string> run_jobs(const std::string& method,
                                              const std::vector<std::string>& units,
                                              std::chrono::seconds timeout = std::chrono::seconds(300));

 private:
  struct Impl;  // the sdbus-c++ proxy and the JobRemoved subscription
  std::string run_job(const std::string& method, const std::string& unit, std::chrono::seconds timeout);

  Bus& bus_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opdbus::sys
