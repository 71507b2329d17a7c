// Wiring only: model.cc + check.cc (validation), query.cc (reading), diff.cc (the pure plan), apply.cc
// (carrying out operations), backend_live.cc (PackageKit) and backend_root.cc (apt in a chroot).
#include "packagekit/plugin.h"

#include <filesystem>
#include <map>

#include "packagekit/apply.h"
#include "packagekit/diff.h"
#include "packagekit/model.h"
#include "packagekit/query.h"
#include "sys/fs.h"

namespace opdbus {
namespace packagekit {
namespace {

constexpr std::uintmax_t kMaxManifestBytes = std::uintmax_t{64} << 20;

class PackageKitPlugin : public Plugin {
 public:
  explicit PackageKitPlugin(BackendFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "packagekit"; }
  std::string_view summary() const override { return "packages and apt repositories"; }
  std::vector<std::string> after() const override { return {"storage"}; }

  Probe probe(Context& ctx) override {
    return probe_with([&] { return factory_(ctx)->describe(); });
  }

  // The manifest is part of the document: it is read here, relative to the state file, its names checked
  // like the document's own, and kept for query() and diff() (which see only the section). Every command
  // that plans validates the document first, so the engine calls check() before them.
  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    std::vector<std::string> names;
    if (auto manifest = opt_string(section, "manifest")) {
      SectionReport r(file, section_pointer, out);
      std::filesystem::path path(*manifest);
      // Relative to the state file (to the current directory when the document comes from stdin).
      if (path.is_relative() && file != "-") path = std::filesystem::path(file).parent_path() / path;
      // A manifest is a file of a few hundred kilobytes: not a device, a FIFO or a runaway file.
      std::error_code ec;
      const auto status = std::filesystem::status(path, ec);
      const bool exists = !ec && std::filesystem::exists(status);
      if (exists && (!std::filesystem::is_regular_file(status) ||
                     std::filesystem::file_size(path, ec) > kMaxManifestBytes || ec)) {
        r.problem({"manifest"}, path.string() + ": not a regular file of at most 64 MiB");
        check_section(section, file, section_pointer, names, out);
        return;
      }
      auto text = exists ? sys::read_file(path) : std::nullopt;
      if (!text) {
        // Not an error of the document (a manifest is often made on the target later): planning says so.
        missing_[*manifest] = path.string();
      } else {
        try {
          names = parse_manifest(*text);
          manifests_[*manifest] = names;
        } catch (const Error& e) {
          r.problem({"manifest"}, path.string() + ": " + e.what());
        }
      }
    }
    check_section(section, file, section_pointer, names, out);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    auto backend = factory_(ctx);
    return query_section(*backend, desired, desired ? manifest_of(*desired) : std::vector<std::string>{});
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current, manifest_of(desired));
  }

  // One backend for the run: the PackageKit connection (or the chroot's paths) is set up once. Each
  // Action is one transaction, so the journal says exactly what was done, live and offline alike.
  void begin_apply(Context& ctx, const std::vector<Action>& actions) override {
    (void)actions;
    backend_ = factory_(ctx);
  }
  void end_apply(Context& ctx) override {
    (void)ctx;
    backend_.reset();
  }
  void apply(Context& ctx, const Action& action) override {
    if (!backend_) backend_ = factory_(ctx);
    apply_action(*backend_, action);
  }

 private:
  std::vector<std::string> manifest_of(const JsonValue& section) const {
    auto manifest = opt_string(section, "manifest");
    if (!manifest) return {};
    auto it = manifests_.find(*manifest);
    if (it == manifests_.end()) {
      auto m = missing_.find(*manifest);
      throw Error(ErrorKind::InvalidArgument,
                  "packagekit: manifest: cannot read " + (m != missing_.end() ? m->second : *manifest));
    }
    return it->second;
  }

  BackendFactory factory_;
  std::unique_ptr<Backend> backend_;
  mutable std::map<std::string, std::vector<std::string>> manifests_;
  mutable std::map<std::string, std::string> missing_;  // manifest as written -> the path tried
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(BackendFactory factory) {
  return std::make_unique<PackageKitPlugin>(std::move(factory));
}

}  // namespace packagekit

std::unique_ptr<Plugin> make_packagekit_plugin() {
  return packagekit::make_plugin([](Context& ctx) -> std::unique_ptr<packagekit::Backend> {
    if (ctx.offline()) return packagekit::make_root_backend(ctx);
    return packagekit::make_live_backend(ctx);
  });
}

}  // namespace opdbus
