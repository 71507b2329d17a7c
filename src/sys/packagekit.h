// A client of PackageKit (org.freedesktop.PackageKit) over D-Bus: one transaction per call, progress
// reported as it comes, and two timeouts so nothing ever hangs: a method call the daemon does not answer
// within `call_timeout`, and a transaction that reports no progress (no signal, no property change) for
// `stall_timeout`, are errors (the stalled transaction is cancelled first). PackageKit's own failures carry
// its error code name ("package-not-found") and text.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace opdbus::sys {

class Bus;

// PackageKit's filter bits (PkFilterEnum, as 1 << value).
enum PkFilter : uint64_t {
  kPkFilterNone = 1ull << 1,
  kPkFilterInstalled = 1ull << 2,
  kPkFilterNotInstalled = 1ull << 3,
  kPkFilterNewest = 1ull << 16,
  kPkFilterArch = 1ull << 18,
};

// One Package signal. `id` is PackageKit's "name;version;arch;data"; data is "installed", "auto:..." or
// "manual:..." for installed packages, the repository otherwise.
struct PkPackage {
  std::string id, name, version, arch, data;
  uint32_t info = 0;  // PkInfoEnum: 1 installed, 2 available, ...
  std::string summary;
  bool installed() const;
};

// What a running transaction reports.
struct PkProgress {
  std::string step;     // "install", "remove", "resolve", ...
  std::string status;   // "download", "install", "wait", ... (PkStatusEnum as text)
  int percentage = -1;  // 0..100, -1 when unknown
  std::string package;  // the package the last Package/ItemProgress signal named, if any
};

struct PkOptions {
  std::chrono::seconds call_timeout{30};
  std::chrono::seconds stall_timeout{300};
  std::function<void(const PkProgress&)> on_progress;
};

class PackageKit {
 public:
  PackageKit(Bus& bus, PkOptions options);
  ~PackageKit();
  PackageKit(const PackageKit&) = delete;
  PackageKit& operator=(const PackageKit&) = delete;

  // "PackageKit 1.2.6 (apt backend)"; throws Unavailable when the daemon is not on the bus.
  std::string describe();
  // Whether packagekitd is running now (owns its bus name); asks the bus, never the daemon, and never
  // starts it.
  bool running();

  // Resolve(filter, names): every package PackageKit knows by these names (installed and available).
  std::vector<PkPackage> resolve(const std::vector<std::string>& names, uint64_t filter = kPkFilterNone);
  // InstallPackages / RemovePackages / UpdatePackages on package ids, one transaction each.
  void install(const std::vector<std::string>& ids, bool only_trusted, bool allow_downgrade);
  // allow_deps is false: packages that depend on these make PackageKit refuse rather than remove them too.
  void remove(const std::vector<std::string>& ids, bool autoremove);
  void update(const std::vector<std::string>& ids, bool only_trusted);
  void refresh_cache(bool force);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "package-not-found" for PkErrorEnum 8 ("error-N" for values this table does not know).
std::string pk_error_name(uint32_t code);
// "download" for PkStatusEnum 8.
std::string pk_status_name(uint32_t status);
// Splits "name;version;arch;data".
PkPackage pk_parse_id(const std::string& id);

}  // namespace opdbus::sys
