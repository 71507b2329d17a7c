#include "sys/systemd.h"

#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "error.h"
#include "sys/bus.h"
#include "sys/dbus_call.h"

namespace opdbus::sys {
namespace {

constexpr const char* kDestination = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManagerInterface = "org.freedesktop.systemd1.Manager";
constexpr const char* kUnitInterface = "org.freedesktop.systemd1.Unit";

using ChangeList = std::vector<sdbus::Struct<std::string, std::string, std::string>>;

std::vector<UnitFileChange> to_changes(const ChangeList& in) {
  std::vector<UnitFileChange> out;
  out.reserve(in.size());
  for (const auto& c : in) out.push_back({c.get<0>(), c.get<1>(), c.get<2>()});
  return out;
}

// The per-type interface that carries Result (and, for services, ExecMain*).
std::string type_interface(const std::string& unit) {
  static const std::map<std::string, std::string> by_suffix = {
      {".service", "Service"},     {".socket", "Socket"}, {".timer", "Timer"}, {".mount", "Mount"},
      {".automount", "Automount"}, {".swap", "Swap"},     {".path", "Path"},   {".scope", "Scope"}};
  size_t dot = unit.rfind('.');
  if (dot == std::string::npos) return {};
  auto it = by_suffix.find(unit.substr(dot));
  return it == by_suffix.end() ? std::string() : std::string("org.freedesktop.systemd1.") + it->second;
}

}  // namespace

struct SystemdManager::Impl {
  std::unique_ptr<sdbus::IProxy> manager;
  bool subscribed = false;
  std::map<std::string, std::string> finished_jobs;  // job object path -> result, filled by JobRemoved
  sdbus::Slot job_match;                             // declared last: released before what it writes to
};

SystemdManager::SystemdManager(Bus& bus) : bus_(bus), impl_(std::make_unique<Impl>()) {
  impl_->manager = call_dbus("create a proxy for systemd", [&] {
    return sdbus::createProxy(bus_.connection(), kDestination, kManagerPath);
  });
}

SystemdManager::~SystemdManager() = default;

std::string SystemdManager::version() {
  return call_dbus("read systemd's Version", [&] {
    return impl_->manager->getProperty("Version").onInterface(kManagerInterface).get<std::string>();
  });
}

std::string SystemdManager::unit_file_state(const std::string& unit) {
  std::string state;
  try {
    impl_->manager->callMethod("GetUnitFileState")
        .onInterface(kManagerInterface)
        .withArguments(unit)
        .storeResultsTo(state);
  } catch (const sdbus::Error& e) {
    // systemd answers ENOENT for a name no unit file has; that is a state, not a failure.
    if (e.getName() == "org.freedesktop.DBus.Error.FileNotFound" ||
        e.getName() == "org.freedesktop.systemd1.NoSuchUnit") {
      return "not-found";
    }
    throw_dbus_error(e, "GetUnitFileState('" + unit + "')");
  }
  return state;
}

std::vector<UnitFileEntry> SystemdManager::list_unit_files(const std::vector<std::string>& states,
                                                           const std::vector<std::string>& patterns) {
  std::vector<sdbus::Struct<std::string, std::string>> files;
  call_dbus("ListUnitFilesByPatterns", [&] {
    impl_->manager->callMethod("ListUnitFilesByPatterns")
        .onInterface(kManagerInterface)
        .withArguments(states, patterns)
        .storeResultsTo(files);
  });
  std::vector<UnitFileEntry> out;
  out.reserve(files.size());
  for (const auto& f : files) out.push_back({f.get<0>(), f.get<1>()});
  return out;
}

std::vector<LoadedUnit> SystemdManager::list_units() {
  std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, std::string, std::string,
                            sdbus::ObjectPath, uint32_t, std::string, sdbus::ObjectPath>>
      units;
  call_dbus("ListUnits", [&] {
    impl_->manager->callMethod("ListUnits").onInterface(kManagerInterface).storeResultsTo(units);
  });
  std::vector<LoadedUnit> out;
  out.reserve(units.size());
  for (const auto& u : units) out.push_back({u.get<0>(), u.get<2>(), u.get<3>(), u.get<4>()});
  return out;
}

std::vector<LoadedUnit> SystemdManager::list_units_by_names(const std::vector<std::string>& names) {
  std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, std::string, std::string,
                            sdbus::ObjectPath, uint32_t, std::string, sdbus::ObjectPath>>
      units;
  call_dbus("ListUnitsByNames", [&] {
    impl_->manager->callMethod("ListUnitsByNames")
        .onInterface(kManagerInterface)
        .withArguments(names)
        .storeResultsTo(units);
  });
  std::vector<LoadedUnit> out;
  out.reserve(units.size());
  for (const auto& u : units) out.push_back({u.get<0>(), u.get<2>(), u.get<3>(), u.get<4>()});
  return out;
}

std::vector<UnitFileChange> SystemdManager::enable_unit_files(const std::vector<std::string>& units,
                                                              bool force) {
  bool carries_install_info = false;
  ChangeList changes;
  call_dbus("EnableUnitFiles", [&] {
    impl_->manager->callMethod("EnableUnitFiles")
        .onInterface(kManagerInterface)
        .withArguments(units, false, force)
        .storeResultsTo(carries_install_info, changes);
  });
  return to_changes(changes);
}

std::vector<UnitFileChange> SystemdManager::disable_unit_files(const std::vector<std::string>& units) {
  ChangeList changes;
  call_dbus("DisableUnitFiles", [&] {
    impl_->manager->callMethod("DisableUnitFiles")
        .onInterface(kManagerInterface)
        .withArguments(units, false)
        .storeResultsTo(changes);
  });
  return to_changes(changes);
}

std::vector<UnitFileChange> SystemdManager::mask_unit_files(const std::vector<std::string>& units,
                                                            bool force) {
  ChangeList changes;
  call_dbus("MaskUnitFiles", [&] {
    impl_->manager->callMethod("MaskUnitFiles")
        .onInterface(kManagerInterface)
        .withArguments(units, false, force)
        .storeResultsTo(changes);
  });
  return to_changes(changes);
}

std::vector<UnitFileChange> SystemdManager::unmask_unit_files(const std::vector<std::string>& units) {
  ChangeList changes;
  call_dbus("UnmaskUnitFiles", [&] {
    impl_->manager->callMethod("UnmaskUnitFiles")
        .onInterface(kManagerInterface)
        .withArguments(units, false)
        .storeResultsTo(changes);
  });
  return to_changes(changes);
}

void SystemdManager::reload() {
  // A reload re-reads every unit; on a big host that takes longer than the default 25 s call timeout.
  call_dbus("Reload", [&] {
    impl_->manager->callMethod("Reload").onInterface(kManagerInterface).withTimeout(std::chrono::minutes(5));
  });
}

UnitStatus SystemdManager::unit_status(const std::string& unit) {
  sdbus::ObjectPath path;
  call_dbus("LoadUnit('" + unit + "')", [&] {
    impl_->manager->callMethod("LoadUnit")
        .onInterface(kManagerInterface)
        .withArguments(unit)
        .storeResultsTo(path);
  });
  auto proxy = call_dbus("create a proxy for " + unit,
                         [&] { return sdbus::createProxy(bus_.connection(), kDestination, path); });
  UnitStatus st;
  call_dbus("read the state of " + unit, [&] {
    st.load_state = proxy->getProperty("LoadState").onInterface(kUnitInterface).get<std::string>();
    st.active_state = proxy->getProperty("ActiveState").onInterface(kUnitInterface).get<std::string>();
    st.sub_state = proxy->getProperty("SubState").onInterface(kUnitInterface).get<std::string>();
  });
  std::string iface = type_interface(unit);
  if (iface.empty() || st.load_state != "loaded") return st;
  // Best effort: these only explain a failure, so a missing property must not hide the failure itself.
  try {
    st.result = proxy->getProperty("Result").onInterface(iface).get<std::string>();
    if (iface == "org.freedesktop.systemd1.Service") {
      st.exec_main_code = proxy->getProperty("ExecMainCode").onInterface(iface).get<int32_t>();
      st.exec_main_status = proxy->getProperty("ExecMainStatus").onInterface(iface).get<int32_t>();
    }
  } catch (const sdbus::Error&) {
  }
  return st;
}

std::string SystemdManager::start_unit(const std::string& unit, std::chrono::seconds timeout) {
  return run_job("StartUnit", unit, timeout);
}

std::string SystemdManager::stop_unit(const std::string& unit, std::chrono::seconds timeout) {
  return run_job("StopUnit", unit, timeout);
}

std::string SystemdManager::restart_unit(const std::string& unit, std::chrono::seconds timeout) {
  return run_job("RestartUnit", unit, timeout);
}

std::string SystemdManager::run_job(const std::string& method, const std::string& unit,
                                    std::chrono::seconds timeout) {
  return run_jobs(method, {unit}, timeout).at(unit);
}

std::map<std::string, std::string> SystemdManager::run_jobs(const std::string& method,
                                                            const std::vector<std::string>& units,
                                                            std::chrono::seconds timeout) {
  auto& conn = bus_.connection();
  // The match goes in before the job is queued: a fast job can finish before StartUnit's reply is read,
  // and its JobRemoved must still be seen.
  if (!impl_->job_match) {
    Impl* impl = impl_.get();
    impl_->job_match = call_dbus("watch systemd's JobRemoved signal", [&] {
      return conn.addMatch(
          "type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',"
          "interface='org.freedesktop.systemd1.Manager',member='JobRemoved'",
          [impl](sdbus::Message& msg) {
            uint32_t id = 0;
            sdbus::ObjectPath job;
            std::string job_unit, result;
            msg >> id >> job >> job_unit >> result;
            impl->finished_jobs[job] = result;
          });
    });
  }
  if (!impl_->subscribed) {
    // Without a subscriber systemd does not emit job signals at all.
    try {
      impl_->manager->callMethod("Subscribe").onInterface(kManagerInterface);
    } catch (const sdbus::Error& e) {
      if (e.getName() != "org.freedesktop.systemd1.AlreadySubscribed") throw_dbus_error(e, "Subscribe");
    }
    impl_->subscribed = true;
  }

  // Every job first; then wait for all of them.
  std::map<std::string, std::string> waiting;  // job path -> unit
  for (const auto& unit : units) {
    sdbus::ObjectPath job;
    call_dbus(method + "('" + unit + "')", [&] {
      impl_->manager->callMethod(method)
          .onInterface(kManagerInterface)
          .withArguments(unit, std::string("replace"))
          .storeResultsTo(job);
    });
    waiting[job] = unit;
  }

  // Our own small event loop on the shared connection: no thread, and signals queued during the calls
  // above are dispatched here.
  std::map<std::string, std::string> results;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (auto it = waiting.begin(); it != waiting.end();) {
      auto done = impl_->finished_jobs.find(it->first);
      if (done == impl_->finished_jobs.end()) {
        ++it;
        continue;
      }
      results[it->second] = done->second;
      impl_->finished_jobs.erase(done);
      it = waiting.erase(it);
    }
    if (waiting.empty()) return results;
    bool processed = call_dbus("process D-Bus messages", [&] { return conn.processPendingRequest(); });
    if (processed) continue;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      const auto& [job, unit] = *waiting.begin();
      throw Error(ErrorKind::BackendError,
                  "no result for job " + job + " after " + std::to_string(timeout.count()) + " s")
          .with_context(method + "('" + unit + "')");
    }
    auto poll_data = call_dbus("poll the bus", [&] { return conn.getEventLoopPollData(); });
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (auto rel = poll_data.getRelativeTimeout()) {
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*rel));
    }
    struct pollfd pfd = {poll_data.fd, poll_data.events, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(wait.count(), 1)));
    if (n < 0 && errno != EINTR) {
      throw Error(ErrorKind::BackendError,
                  std::string("poll on the system bus failed: ") + std::strerror(errno));
    }
  }
}

}  // namespace opdbus::sys
