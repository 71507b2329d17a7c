// The running systemd, over D-Bus. Enablement goes through systemd itself (EnableUnitFiles & co, many units
// per call), reads are batched (ListUnitFilesByPatterns, ListUnitsByNames), and start/stop/restart wait for
// the job and explain a failure with systemd's own result codes.
#include <chrono>
#include <thread>

#include <map>
#include <set>

#include "context.h"
#include "error.h"
#include "sys/systemd.h"
#include "systemd/backend.h"

namespace opdbus::systemd {
namespace {

bool active(const std::string& state) {
  return state == "active" || state == "reloading";
}

// "unit result 'exit-code', ExecMainStatus=3" - the words systemctl status would use.
std::string explain(const sys::UnitStatus& st) {
  std::string out;
  if (!st.result.empty())
    out = "unit result '" + st.result + "'";
  else
    out = "unit is " + st.active_state + " (" + st.sub_state + ")";
  if (st.exec_main_code && st.exec_main_status && *st.exec_main_code != 0) {
    if (*st.exec_main_code == 1)
      out += ", ExecMainStatus=" + std::to_string(*st.exec_main_status);
    else
      out += ", main process killed by signal " + std::to_string(*st.exec_main_status);
  }
  if (st.load_state != "loaded" && !st.load_state.empty()) out += ", load state '" + st.load_state + "'";
  return out;
}

class LiveBackend : public Backend {
 public:
  LiveBackend(sys::Bus& bus, const std::filesystem::path& root) : manager_(bus), dir_(root) {}

  std::string describe() override { return "systemd " + manager_.version() + " on the system bus"; }
  bool sees_runtime() const override { return true; }

  // One ListUnitFilesByPatterns call for all of them; GetUnitFileState only for the names it does not list
  // (instances of templates, names with no unit file).
  std::map<std::string, std::string> unit_file_states(const std::vector<std::string>& units) override {
    std::map<std::string, std::string> out;
    if (units.empty()) return out;
    std::set<std::string> asked(units.begin(), units.end());
    if (units.size() > 1) {
      for (const auto& f : manager_.list_unit_files({}, units)) {
        std::string name = std::filesystem::path(f.path).filename().string();
        if (asked.count(name)) out.emplace(name, f.state);
      }
    }
    for (const auto& u : asked) {
      if (!out.count(u)) out[u] = manager_.unit_file_state(u);
    }
    return out;
  }

  std::vector<UnitFile> list_unit_files(const std::string& suffix) override {
    std::vector<UnitFile> out;
    for (const auto& f : manager_.list_unit_files({}, {"*" + suffix})) {
      out.push_back({std::filesystem::path(f.path).filename().string(), f.state});
    }
    return out;
  }

  // One ListUnitsByNames call (it loads what is not loaded and reports it inactive).
  std::set<std::string> active_of(const std::vector<std::string>& units) override {
    std::set<std::string> out;
    if (units.empty()) return out;
    for (const auto& u : manager_.list_units_by_names(units)) {
      if (active(u.active_state)) out.insert(u.name);
    }
    return out;
  }

  std::set<std::string> active_units() override {
    std::set<std::string> out;
    for (const auto& u : manager_.list_units()) {
      if (active(u.active_state)) out.insert(u.name);
    }
    return out;
  }

  // Files under "/" go through RootDir too: one way to reach files, whatever the root.
  std::optional<std::string> read_file(const std::string& path) override {
    auto st = dir_.lstat(path);
    if (!st || st->kind != FileKind::File) return std::nullopt;
    return dir_.read_file(path);
  }
  std::vector<DirEntry> list_dir(const std::string& path) override { return dir_.list_dir(path); }
  void write_file(const std::string& path, const std::string& content) override {
    dir_.write_file(path, content, 0644);
  }
  void remove_path(const std::string& path) override { dir_.remove_all(path); }

  // One call for all the units; the reload that makes the manager follow the new links is the caller's
  // (apply holds it so that one apply reloads once).
  bool enable(const std::vector<std::string>& units) override {
    return !manager_.enable_unit_files(units).empty();
  }
  bool disable(const std::vector<std::string>& units) override {
    return !manager_.disable_unit_files(units).empty();
  }
  bool mask(const std::vector<std::string>& units) override {
    return !manager_.mask_unit_files(units).empty();
  }
  bool unmask(const std::vector<std::string>& units) override {
    return !manager_.unmask_unit_files(units).empty();
  }
  void daemon_reload() override { manager_.reload(); }

  Failures start(const std::vector<std::string>& units) override { return jobs("StartUnit", units, true); }
  Failures stop(const std::vector<std::string>& units) override { return jobs("StopUnit", units, false); }
  Failures restart(const std::vector<std::string>& units) override {
    return jobs("RestartUnit", units, true);
  }

 private:
  static bool is_service(const std::string& unit) {
    return unit.size() > 8 && unit.compare(unit.size() - 8, 8, ".service") == 0;
  }

  // All the jobs at once, then their results; the units that should run are watched together for a moment.
  Failures jobs(const std::string& method, const std::vector<std::string>& units, bool should_run) {
    Failures failures;
    std::vector<std::string> started;
    for (const auto& [unit, result] : manager_.run_jobs(method, units)) {
      if (result != "done") {
        failures[unit] = "job " + result + ": " + explain(manager_.unit_status(unit)) +
                         " (see journalctl -u " + unit + ")";
      } else {
        started.push_back(unit);
      }
    }
    if (!should_run) return failures;
    // A start job of a Type=simple service is "done" as soon as the process is forked; a binary that exits
    // at once fails a moment later. Watch them briefly (all together, one ListUnitsByNames per look) so that
    // failure is reported here in systemd's words, not later by verification as a bare "not running". Other
    // unit types are looked at once.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    std::vector<std::string> watch = started;
    while (!watch.empty()) {
      std::vector<std::string> still;
      for (const auto& u : manager_.list_units_by_names(watch)) {
        if (u.active_state == "failed") {
          failures[u.name] = "unit failed right after starting: " + explain(manager_.unit_status(u.name)) +
                             " (see journalctl -u " + u.name + ")";
        } else if ((u.active_state == "active" || u.active_state == "activating") && is_service(u.name)) {
          still.push_back(u.name);  // e.g. a oneshot that finished is neither: nothing more to watch
        }
      }
      watch = std::move(still);
      if (watch.empty() || std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return failures;
  }

  sys::SystemdManager manager_;
  sys::RootDir dir_;
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  return std::make_unique<LiveBackend>(ctx.system_bus(), ctx.root());
}

}  // namespace opdbus::systemd
