// The --root packagekit backend: no packagekitd runs in a tree being installed, so the tree's own apt does
// the work under chroot(8) (src/sys/apt.h: /proc, /sys, /dev mounted for the duration, a policy-rc.d that
// stops services from starting, all undone on every exit path). What is installed comes from the tree's
// dpkg database, read through sys::RootDir; what apt could install from `apt-cache policy` in the chroot.
#include <unistd.h>

#include <algorithm>

#include "context.h"
#include "error.h"
#include "packagekit/backend.h"
#include "packagekit/dpkg.h"
#include "sys/apt.h"
#include "text.h"

namespace opdbus::packagekit {
namespace {

const std::vector<std::string> kAptOptions = {"-y", "-q",
                                              "-o", "Dpkg::Options::=--force-confdef",
                                              "-o", "Dpkg::Options::=--force-confold",
                                              "-o", "Dpkg::Use-Pty=0"};

class RootBackend : public Backend {
 public:
  explicit RootBackend(Context& ctx)
      : root_(ctx.root()),
        progress_(false, ctx.options().verbosity < 0),
        verbose_(ctx.options().verbosity > 0) {}

  std::string describe() override {
    if (!root_.stat(kDpkgStatus)) {
      throw Error(ErrorKind::Unavailable,
                  "no dpkg database (/" + std::string(kDpkgStatus) + ") in " + root_.path().string());
    }
    if (!root_.stat("usr/bin/apt-get")) {
      throw Error(ErrorKind::Unavailable, "no /usr/bin/apt-get in " + root_.path().string());
    }
    return "apt-get inside " + root_.path().string() + " (chroot)";
  }

  const sys::RootDir& root() override { return root_; }
  void set_stall_timeout(int seconds) override { (void)seconds; }

  std::map<std::string, Resolved> resolve(const std::vector<std::string>& names) override {
    // Empty cache file names: apt builds its cache in memory and writes nothing into the tree (a plan
    // changes nothing, not even var/cache/apt/pkgcache.bin).
    std::vector<std::string> argv = {
        "apt-cache", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=", "policy", "--"};
    argv.insert(argv.end(), names.begin(), names.end());
    auto r = sys::run_in_chroot(root_, argv);
    if (r.exit_code != 0) {
      throw Error(ErrorKind::BackendError, sys::describe_failure(argv, r))
          .with_context("in " + root_.path().string());
    }
    auto policy = parse_apt_cache_policy(r.output);
    // What dpkg says is installed wins over apt's view (the same database; read once, exactly).
    auto installed = parse_dpkg_status(root_.read_file(kDpkgStatus).value_or(""));
    std::map<std::string, Resolved> out;
    for (const auto& name : names) {
      Resolved res;
      auto it = policy.find(name);
      if (it == policy.end())
        it = policy.find(name.substr(0, name.find(':')));  // "libc6:amd64" is shown as "libc6"
      if (it != policy.end()) res = it->second;
      res.installed.reset();
      if (auto it = installed.find(name.substr(0, name.find(':'))); it != installed.end()) {
        res.installed = it->second;
        if (std::find(res.available.begin(), res.available.end(), it->second) == res.available.end()) {
          res.available.push_back(it->second);
        }
      }
      out[name] = std::move(res);
    }
    return out;
  }

  void refresh_cache() override { apt({"update", "--error-on=any"}, "update"); }

  void install(const std::vector<PackageRef>& refs, bool allow_downgrade) override {
    std::vector<std::string> names, args;
    for (const auto& r : refs) names.push_back(r.name);
    auto known = resolve(names);
    std::vector<std::string> unknown;
    for (const auto& [name, r] : known)
      if (r.available.empty() && !r.installed) unknown.push_back(name);
    if (!unknown.empty()) {
      throw Error(ErrorKind::BackendError, "apt knows no package " + join(unknown, ", ") + " in " +
                                               root_.path().string() + "; nothing was installed");
    }
    args = {"install"};
    if (allow_downgrade) args.push_back("--allow-downgrades");
    args.push_back("--");
    for (const auto& r : refs) args.push_back(r.version ? r.name + "=" + *r.version : r.name);
    apt(args, "install");
  }

  // Only the named packages: what depends on them is not removed along (PackageKit's allow_deps=false).
  // apt-get -s shows what a removal would take with it; anything more is refused before anything is done.
  void remove(const std::vector<std::string>& names) override {
    std::vector<std::string> sim = {
        "apt-get", "-s", "-q", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
        "remove",  "--"};
    sim.insert(sim.end(), names.begin(), names.end());
    auto r = sys::run_in_chroot(root_, sim);
    if (r.exit_code != 0) throw Error(ErrorKind::BackendError, sys::describe_failure(sim, r));
    std::vector<std::string> extra;
    for (const auto& line : split(r.output, '\n')) {
      if (!starts_with(line, "Remv ")) continue;
      auto words = split(line.substr(5), ' ');
      std::string name = words.empty() ? "" : words[0];
      if (auto colon = name.find(':'); colon != std::string::npos) name = name.substr(0, colon);
      if (std::find(names.begin(), names.end(), name) == names.end()) extra.push_back(name);
    }
    if (!extra.empty()) {
      throw Error(ErrorKind::BackendError, "removing " + join(names, ", ") + " would also remove " +
                                               join(extra, ", ") +
                                               " (which depend on it); nothing was removed");
    }
    std::vector<std::string> args = {"remove", "--"};
    args.insert(args.end(), names.begin(), names.end());
    apt(args, "remove");
  }

  void upgrade(const std::vector<std::string>& names) override {
    std::vector<std::string> args = {"install", "--only-upgrade", "--"};
    args.insert(args.end(), names.begin(), names.end());
    apt(args, "upgrade");
  }

 private:
  void apt(const std::vector<std::string>& args, const std::string& step) {
    std::vector<std::string> argv = {"apt-get"};
    argv.insert(argv.end(), kAptOptions.begin(), kAptOptions.end());
    argv.insert(argv.end(), args.begin(), args.end());
    progress_.line(step + ": " + sys::quote_command(argv) + " in " + root_.path().string());
    sys::AptChroot chroot(root_);
    auto r = chroot.run(argv, [&](const std::string& line) {
      // One line per package step; everything at -v.
      if (verbose_ || starts_with(line, "Unpacking ") || starts_with(line, "Setting up ") ||
          starts_with(line, "Removing ") || starts_with(line, "Get:") || starts_with(line, "E: ")) {
        progress_.line(step + ": " + line);
      }
    });
    if (r.exit_code != 0) throw Error(ErrorKind::BackendError, sys::describe_failure(argv, r));
  }

  sys::RootDir root_;
  ProgressReporter progress_;
  bool verbose_;
};

}  // namespace

std::unique_ptr<Backend> make_root_backend(Context& ctx) {
  return std::make_unique<RootBackend>(ctx);
}

}  // namespace opdbus::packagekit
