// The running systemd, over D-Bus. Enablement goes through systemd itself (EnableUnitFiles & co, followed
// by a reload as `systemctl enable` does), and start/stop/restart wait for the job and explain a failure with
// systemd's own result codes.
#include <chrono>
#include <thread>

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

class LiveBackend : public SystemdBackend {
 public:
  LiveBackend(sys::Bus& bus, std::filesystem::path root) : manager_(bus), files_(std::move(root)) {}

  std::string describe() override { return "systemd " + manager_.version() + " on the system bus"; }
  bool sees_runtime() const override { return true; }

  std::string unit_file_state(const std::string& unit) override { return manager_.unit_file_state(unit); }

  std::vector<UnitFile> list_unit_files(const std::string& suffix) override {
    std::vector<UnitFile> out;
    for (const auto& f : manager_.list_unit_files({}, {"*" + suffix})) {
      out.push_back({std::filesystem::path(f.path).filename().string(), f.state});
    }
    return out;
  }

  bool is_active(const std::string& unit) override { return active(manager_.unit_status(unit).active_state); }

  std::set<std::string> active_units() override {
    std::set<std::string> out;
    for (const auto& u : manager_.list_units()) {
      if (active(u.active_state)) out.insert(u.name);
    }
    return out;
  }

  std::optional<std::string> read_file(const std::string& path) override { return files_.read_file(path); }
  std::vector<DirEntry> list_dir(const std::string& path) override { return files_.list_dir(path); }
  void write_file(const std::string& path, const std::string& content) override {
    files_.write_file(path, content);
  }
  void remove_path(const std::string& path) override { files_.remove_path(path); }

  void enable(const std::string& unit) override { reload_if(!manager_.enable_unit_files({unit}).empty()); }
  void disable(const std::string& unit) override { reload_if(!manager_.disable_unit_files({unit}).empty()); }
  void mask(const std::string& unit) override { reload_if(!manager_.mask_unit_files({unit}).empty()); }
  void unmask(const std::string& unit) override { reload_if(!manager_.unmask_unit_files({unit}).empty()); }
  void daemon_reload() override { manager_.reload(); }

  void start(const std::string& unit) override { check_job(unit, manager_.start_unit(unit), true); }
  void stop(const std::string& unit) override { check_job(unit, manager_.stop_unit(unit), false); }
  void restart(const std::string& unit) override { check_job(unit, manager_.restart_unit(unit), true); }

 private:
  // As `systemctl enable` does: the manager's view of dependencies follows the new symlinks only after a
  // reload.
  void reload_if(bool changed) {
    if (changed) manager_.reload();
  }

  void check_job(const std::string& unit, const std::string& result, bool should_run) {
    if (result != "done") {
      throw Error(ErrorKind::BackendError, "job " + result + ": " + explain(manager_.unit_status(unit)) +
                                               " (see journalctl -u " + unit + ")");
    }
    if (!should_run) return;
    // A start job of a Type=simple service is "done" as soon as the process is forked; a binary that exits
    // at once fails a moment later. Watch it briefly so that failure is reported here in systemd's words,
    // not later by verification as a bare "not running".
    const bool is_service = unit.size() > 8 && unit.compare(unit.size() - 8, 8, ".service") == 0;
    const auto settle = std::chrono::milliseconds(is_service ? 300 : 0);
    const auto until = std::chrono::steady_clock::now() + settle;
    while (true) {
      sys::UnitStatus st = manager_.unit_status(unit);
      if (st.active_state == "failed") {
        throw Error(ErrorKind::BackendError,
                    "unit failed right after starting: " + explain(st) + " (see journalctl -u " + unit + ")");
      }
      if (st.active_state != "active" && st.active_state != "activating") return;  // e.g. oneshot finished
      if (std::chrono::steady_clock::now() >= until) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  sys::SystemdManager manager_;
  RootedFiles files_;
};

}  // namespace

std::unique_ptr<SystemdBackend> make_live_backend(Context& ctx) {
  return std::make_unique<LiveBackend>(ctx.system_bus(), ctx.root());
}

}  // namespace opdbus::systemd
