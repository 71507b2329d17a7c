// The live packagekit backend: PackageKit over D-Bus (src/sys/packagekit.h), one transaction per step,
// only-trusted installs; repository files and the dpkg database through sys::RootDir("/").
#include <unistd.h>

#include <algorithm>
#include <set>

#include "context.h"
#include "error.h"
#include "packagekit/backend.h"
#include "packagekit/dpkg.h"
#include "sys/packagekit.h"
#include "text.h"

namespace opdbus::packagekit {
namespace {

// "libc6:amd64" names libc6 of that architecture; a plain name any architecture PackageKit reports.
bool names_package(const std::string& name, const sys::PkPackage& p) {
  auto colon = name.find(':');
  if (colon == std::string::npos) return p.name == name;
  return p.name == name.substr(0, colon) && p.arch == name.substr(colon + 1);
}

class LiveBackend : public Backend {
 public:
  explicit LiveBackend(Context& ctx)
      : ctx_(ctx), root_("/"), progress_(::isatty(STDERR_FILENO) == 1, ctx.options().verbosity < 0) {}

  // A daemon that runs must answer (one that does not is an error, never a hang). One that is not running
  // is started by D-Bus activation; when that is impossible (not installed, masked), the plugin still
  // works from dpkg's database for what that settles (query.cc) and says so: a converged document plans
  // without PackageKit, and anything that needs it fails then, naming the reason.
  std::string describe() override {
    if (client().running()) return client().describe();
    try {
      return client().describe();
    } catch (const Error& e) {
      if (!root_.read_file(kDpkgStatus)) throw;
      return "dpkg's database only: PackageKit cannot be started (" + std::string(e.what()) +
             "); packages that are not installed cannot be planned or installed";
    }
  }
  const sys::RootDir& root() override { return root_; }
  void set_stall_timeout(int seconds) override {
    if (seconds != stall_timeout_) pk_.reset();
    stall_timeout_ = seconds;
  }

  std::map<std::string, Resolved> resolve(const std::vector<std::string>& names) override {
    std::vector<sys::PkPackage> packages;
    try {
      packages = client().resolve(names);
    } catch (const Error& e) {
      if (client().running()) throw;  // a daemon that fails or does not answer says so itself
      throw Error(e.kind(), "PackageKit is needed to plan " + join(names, ", ") +
                                " (not installed, pinned to another version, or latest), but it is not "
                                "running and cannot be started: " +
                                e.what());
    }
    progress_.finish();
    return collect(names, packages);
  }

  void refresh_cache() override {
    client().refresh_cache(true);
    progress_.finish();
  }

  void install(const std::vector<PackageRef>& refs, bool allow_downgrade) override {
    std::vector<std::string> names;
    for (const auto& r : refs) names.push_back(r.name);
    auto packages = client().resolve(names);
    std::vector<std::string> ids, unknown;
    for (const auto& r : refs) {
      std::vector<const sys::PkPackage*> mine;
      for (const auto& p : packages)
        if (names_package(r.name, p)) mine.push_back(&p);
      if (mine.empty()) {
        unknown.push_back(r.name);
        continue;
      }
      const sys::PkPackage* pick = nullptr;
      if (r.version) {
        for (const auto* p : mine)
          if (p->version == *r.version) pick = p;
        if (!pick) {
          std::vector<std::string> versions;
          for (const auto* p : mine) versions.push_back(p->version);
          throw Error(ErrorKind::BackendError, "version " + *r.version + " of " + r.name +
                                                   " is not available (PackageKit offers: " +
                                                   join(versions, ", ") + "); nothing was installed");
        }
        if (pick->installed()) continue;
      } else {
        if (std::any_of(mine.begin(), mine.end(), [](const auto* p) { return p->installed(); })) continue;
        pick = mine.front();
      }
      ids.push_back(pick->id);
    }
    if (!unknown.empty()) {
      throw Error(ErrorKind::BackendError, "PackageKit knows no package " + join(unknown, ", ") +
                                               " (even after refreshing); nothing was installed");
    }
    client().install(ids, /*only_trusted=*/true, allow_downgrade);
    progress_.finish();
  }

  void remove(const std::vector<std::string>& names) override {
    auto packages = client().resolve(names, sys::kPkFilterInstalled);
    std::vector<std::string> ids;
    for (const auto& p : packages)
      if (p.installed()) ids.push_back(p.id);
    // allow_deps=false: what depends on them is not removed along; PackageKit refuses instead.
    client().remove(ids, /*autoremove=*/false);
    progress_.finish();
  }

  void upgrade(const std::vector<std::string>& names) override {
    auto packages = client().resolve(names, sys::kPkFilterNotInstalled | sys::kPkFilterNewest);
    std::vector<std::string> ids;
    std::set<std::string> seen;
    for (const auto& p : packages)
      if (!p.installed() && seen.insert(p.name).second) ids.push_back(p.id);
    client().update(ids, /*only_trusted=*/true);
    progress_.finish();
  }

 private:
  sys::PackageKit& client() {
    if (!pk_) {
      sys::PkOptions o;
      o.stall_timeout = std::chrono::seconds(stall_timeout_);
      o.on_progress = [this](const sys::PkProgress& p) {
        progress_.update(p.step, p.status, p.percentage, p.package);
      };
      pk_ = std::make_unique<sys::PackageKit>(ctx_.system_bus(), std::move(o));
    }
    return *pk_;
  }

  static std::map<std::string, Resolved> collect(const std::vector<std::string>& names,
                                                 const std::vector<sys::PkPackage>& packages) {
    std::map<std::string, Resolved> out;
    for (const auto& name : names) {
      Resolved r;
      std::vector<std::string> installed_versions;
      for (const auto& p : packages) {
        if (!names_package(name, p)) continue;
        if (p.installed()) {
          r.installed = p.version;
        } else if (std::find(r.available.begin(), r.available.end(), p.version) == r.available.end()) {
          r.available.push_back(p.version);
        }
      }
      if (r.installed &&
          std::find(r.available.begin(), r.available.end(), *r.installed) == r.available.end()) {
        r.available.push_back(*r.installed);
      }
      out[name] = std::move(r);
    }
    return out;
  }

  Context& ctx_;
  sys::RootDir root_;
  ProgressReporter progress_;
  int stall_timeout_ = 300;
  std::unique_ptr<sys::PackageKit> pk_;
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  return std::make_unique<LiveBackend>(ctx);
}

}  // namespace opdbus::packagekit
