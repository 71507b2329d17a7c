#include "sys/packagekit.h"

#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "error.h"
#include "sys/bus.h"
#include "sys/dbus_call.h"
#include "text.h"

namespace opdbus::sys {
namespace {

constexpr const char* kService = "org.freedesktop.PackageKit";
constexpr const char* kPath = "/org/freedesktop/PackageKit";
constexpr const char* kInterface = "org.freedesktop.PackageKit";
constexpr const char* kTransactionInterface = "org.freedesktop.PackageKit.Transaction";
constexpr const char* kPropertiesInterface = "org.freedesktop.DBus.Properties";

// PkTransactionFlagEnum bits.
constexpr uint64_t kFlagOnlyTrusted = 1ull << 1;
constexpr uint64_t kFlagAllowDowngrade = 1ull << 6;
// PkExitEnum.
constexpr uint32_t kExitSuccess = 1;

const char* const kErrorNames[] = {"unknown",
                                   "out-of-memory",
                                   "no-network",
                                   "not-supported",
                                   "internal-error",
                                   "gpg-failure",
                                   "package-id-invalid",
                                   "package-not-installed",
                                   "package-not-found",
                                   "package-already-installed",
                                   "package-download-failed",
                                   "group-not-found",
                                   "group-list-invalid",
                                   "dep-resolution-failed",
                                   "filter-invalid",
                                   "create-thread-failed",
                                   "transaction-error",
                                   "transaction-cancelled",
                                   "no-cache",
                                   "repo-not-found",
                                   "cannot-remove-system-package",
                                   "process-kill",
                                   "failed-initialization",
                                   "failed-finalise",
                                   "failed-config-parsing",
                                   "cannot-cancel",
                                   "cannot-get-lock",
                                   "no-packages-to-update",
                                   "cannot-write-repo-config",
                                   "local-install-failed",
                                   "bad-gpg-signature",
                                   "missing-gpg-signature",
                                   "cannot-install-source-package",
                                   "repo-configuration-error",
                                   "no-license-agreement",
                                   "file-conflicts",
                                   "package-conflicts",
                                   "repo-not-available",
                                   "invalid-package-file",
                                   "package-install-blocked",
                                   "package-corrupt",
                                   "all-packages-already-installed",
                                   "file-not-found",
                                   "no-more-mirrors-to-try",
                                   "no-distro-upgrade-data",
                                   "incompatible-architecture",
                                   "no-space-on-device",
                                   "media-change-required",
                                   "not-authorized",
                                   "update-not-found",
                                   "cannot-install-repo-unsigned",
                                   "cannot-update-repo-unsigned",
                                   "cannot-get-filelist",
                                   "cannot-get-requires",
                                   "cannot-disable-repository",
                                   "restricted-download",
                                   "package-failed-to-configure",
                                   "package-failed-to-build",
                                   "package-failed-to-install",
                                   "package-failed-to-remove",
                                   "failed-due-to-running-process",
                                   "package-database-changed",
                                   "provide-type-not-supported",
                                   "install-root-invalid",
                                   "cannot-fetch-sources",
                                   "cancelled-priority",
                                   "unfinished-transaction",
                                   "lock-required",
                                   "repo-already-set"};

const char* const kStatusNames[] = {"unknown",
                                    "wait",
                                    "setup",
                                    "running",
                                    "query",
                                    "info",
                                    "remove",
                                    "refresh-cache",
                                    "download",
                                    "install",
                                    "update",
                                    "cleanup",
                                    "obsolete",
                                    "dep-resolve",
                                    "sig-check",
                                    "test-commit",
                                    "commit",
                                    "request",
                                    "finished",
                                    "cancel",
                                    "download-repository",
                                    "download-packagelist",
                                    "download-filelist",
                                    "download-changelog",
                                    "download-group",
                                    "download-updateinfo",
                                    "repackaging",
                                    "loading-cache",
                                    "scan-applications",
                                    "generate-package-list",
                                    "waiting-for-lock",
                                    "waiting-for-auth",
                                    "scan-process-list",
                                    "check-executable-files",
                                    "check-libraries",
                                    "copy-files",
                                    "run-hook"};

const char* const kExitNames[] = {"unknown",          "success",
                                  "failed",           "cancelled",
                                  "key-required",     "eula-required",
                                  "killed",           "media-change-required",
                                  "need-untrusted",   "cancelled-priority",
                                  "skip-transaction", "repair-required"};

bool is_timeout(const sdbus::Error& e) {
  const auto& n = e.getName();
  return n == "org.freedesktop.DBus.Error.Timeout" || n == "org.freedesktop.DBus.Error.NoReply" ||
         n == "org.freedesktop.DBus.Error.TimedOut" || e.getMessage().find("timed out") != std::string::npos;
}

// call_dbus, plus: a daemon that does not answer in time is said to be so.
template <typename Fn>
auto pk_call(const std::string& what, std::chrono::seconds timeout, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const sdbus::Error& e) {
    if (is_timeout(e)) {
      throw Error(ErrorKind::Unavailable, "PackageKit did not answer within " +
                                              std::to_string(timeout.count()) + " s (" + e.getName() + ": " +
                                              e.getMessage() + ")")
          .with_context(what);
    }
    throw_dbus_error(e, what);
  }
}

uint64_t usec(std::chrono::seconds s) {
  return static_cast<uint64_t>(s.count()) * 1000000ull;
}

struct Transaction {
  std::vector<PkPackage> packages;
  bool finished = false;
  uint32_t exit = 0;
  std::vector<std::pair<uint32_t, std::string>> errors;
  std::vector<std::string> signature_required;  // repositories PackageKit wants a key for
  PkProgress progress;
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
};

}  // namespace

bool PkPackage::installed() const {
  return info == 1 || starts_with(data, "installed") || starts_with(data, "auto:") ||
         starts_with(data, "manual:");
}

std::string pk_error_name(uint32_t code) {
  if (code < std::size(kErrorNames)) return kErrorNames[code];
  return "error-" + std::to_string(code);
}

std::string pk_status_name(uint32_t status) {
  if (status < std::size(kStatusNames)) return kStatusNames[status];
  return "status-" + std::to_string(status);
}

PkPackage pk_parse_id(const std::string& id) {
  PkPackage p;
  p.id = id;
  auto parts = split(id, ';');
  if (parts.size() > 0) p.name = parts[0];
  if (parts.size() > 1) p.version = parts[1];
  if (parts.size() > 2) p.arch = parts[2];
  if (parts.size() > 3) p.data = parts[3];
  return p;
}

struct PackageKit::Impl {
  Bus& bus;
  PkOptions options;
  std::unique_ptr<sdbus::IProxy> daemon;

  Impl(Bus& b, PkOptions o) : bus(b), options(std::move(o)) {
    daemon = call_dbus("connect to PackageKit",
                       [&] { return sdbus::createProxy(bus.connection(), kService, kPath); });
  }

  template <typename T>
  T property(const std::string& name) {
    sdbus::Variant v;
    pk_call("read PackageKit's " + name, options.call_timeout, [&] {
      daemon->callMethod("Get")
          .onInterface(kPropertiesInterface)
          .withTimeout(usec(options.call_timeout))
          .withArguments(std::string(kInterface), name)
          .storeResultsTo(v);
    });
    return v.get<T>();
  }

  // One transaction: CreateTransaction, watch its signals, SetHints, `start` the method, then wait for
  // Finished, reporting progress and giving up after stall_timeout without a sign of life.
  template <typename Start>
  Transaction run(const std::string& step, const std::string& what, Start&& start) {
    auto& conn = bus.connection();
    sdbus::ObjectPath path;
    pk_call(what + ": CreateTransaction", options.call_timeout, [&] {
      daemon->callMethod("CreateTransaction")
          .onInterface(kInterface)
          .withTimeout(usec(options.call_timeout))
          .storeResultsTo(path);
    });

    Transaction tx;
    tx.progress.step = step;
    auto report = [&] {
      if (options.on_progress) options.on_progress(tx.progress);
    };
    // The match goes in before the method is called: a fast transaction can finish before the reply.
    auto slot = call_dbus(what + ": watch the transaction", [&] {
      return conn.addMatch("type='signal',sender='" + std::string(kService) + "',path='" + path + "'",
                           [&tx, &report](sdbus::Message& msg) {
                             tx.last_activity = std::chrono::steady_clock::now();
                             const auto member = msg.getMemberName();
                             const auto iface = msg.getInterfaceName();
                             if (iface == kPropertiesInterface && member == "PropertiesChanged") {
                               std::string on;
                               std::map<std::string, sdbus::Variant> changed;
                               std::vector<std::string> invalidated;
                               msg >> on >> changed >> invalidated;
                               bool any = false;
                               if (auto it = changed.find("Percentage"); it != changed.end()) {
                                 uint32_t p = it->second.get<uint32_t>();
                                 tx.progress.percentage = p <= 100 ? static_cast<int>(p) : -1;
                                 any = true;
                               }
                               if (auto it = changed.find("Status"); it != changed.end()) {
                                 tx.progress.status = pk_status_name(it->second.get<uint32_t>());
                                 any = true;
                               }
                               if (any) report();
                               return;
                             }
                             if (iface != kTransactionInterface) return;
                             if (member == "Package") {
                               uint32_t info = 0;
                               std::string id, summary;
                               msg >> info >> id >> summary;
                               PkPackage p = pk_parse_id(id);
                               p.info = info;
                               p.summary = summary;
                               tx.progress.package = p.name;
                               tx.packages.push_back(std::move(p));
                               report();
                             } else if (member == "ItemProgress") {
                               std::string id;
                               uint32_t status = 0, percentage = 0;
                               msg >> id >> status >> percentage;
                               tx.progress.package = pk_parse_id(id).name;
                               tx.progress.status = pk_status_name(status);
                               report();
                             } else if (member == "ErrorCode") {
                               uint32_t code = 0;
                               std::string details;
                               msg >> code >> details;
                               tx.errors.emplace_back(code, details);
                             } else if (member == "RepoSignatureRequired") {
                               std::string package_id, repo;
                               msg >> package_id >> repo;
                               tx.signature_required.push_back(repo);
                             } else if (member == "Finished") {
                               uint32_t exit = 0, runtime = 0;
                               msg >> exit >> runtime;
                               tx.exit = exit;
                               tx.finished = true;
                             } else if (member == "Destroy" && !tx.finished) {
                               tx.finished = true;
                               tx.exit = 0;
                             }
                           });
    });
    auto proxy = call_dbus(what, [&] { return sdbus::createProxy(conn, kService, path); });
    pk_call(what + ": SetHints", options.call_timeout, [&] {
      proxy->callMethod("SetHints")
          .onInterface(kTransactionInterface)
          .withTimeout(usec(options.call_timeout))
          .withArguments(std::vector<std::string>{"interactive=false", "background=false", "locale=C.UTF-8"});
    });
    pk_call(what, options.call_timeout, [&] { start(*proxy, usec(options.call_timeout)); });
    tx.last_activity = std::chrono::steady_clock::now();

    // Our own small event loop on the shared connection (as sys/systemd.cc): no thread.
    while (!tx.finished) {
      bool processed = call_dbus("process D-Bus messages", [&] { return conn.processPendingRequest(); });
      if (processed) continue;
      auto now = std::chrono::steady_clock::now();
      auto stalled_at = tx.last_activity + options.stall_timeout;
      if (now >= stalled_at) {
        try {
          proxy->callMethod("Cancel").onInterface(kTransactionInterface).withTimeout(5000000);
        } catch (const sdbus::Error&) {
          // it is stuck; the error below is what matters
        }
        std::string where = tx.progress.status.empty() ? "" : " (last status: " + tx.progress.status + ")";
        throw Error(ErrorKind::BackendError, "no progress from PackageKit for " +
                                                 std::to_string(options.stall_timeout.count()) + " s" +
                                                 where + "; the transaction was cancelled")
            .with_context(what);
      }
      auto poll_data = call_dbus("poll the bus", [&] { return conn.getEventLoopPollData(); });
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(stalled_at - now);
      if (auto rel = poll_data.getRelativeTimeout()) {
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*rel));
      }
      wait = std::min(wait, std::chrono::milliseconds(1000));
      struct pollfd pfd = {poll_data.fd, poll_data.events, 0};
      int n = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(wait.count(), 1)));
      if (n < 0 && errno != EINTR) {
        throw Error(ErrorKind::BackendError,
                    std::string("poll on the system bus failed: ") + std::strerror(errno));
      }
    }
    if (tx.exit != kExitSuccess) {
      std::vector<std::string> parts;
      for (const auto& [code, details] : tx.errors) {
        parts.push_back("PackageKit error " + pk_error_name(code) + " (" + std::to_string(code) +
                        "): " + trim(details));
      }
      for (const auto& repo : tx.signature_required) {
        parts.push_back("repository " + repo + " needs a signing key PackageKit does not trust");
      }
      if (parts.empty()) {
        std::string exit = tx.exit < std::size(kExitNames) ? kExitNames[tx.exit] : std::to_string(tx.exit);
        parts.push_back("transaction ended with '" + exit + "'" +
                        (tx.exit == 0 ? " (destroyed without finishing)" : ""));
      }
      throw Error(ErrorKind::BackendError, join(parts, "; ")).with_context(what);
    }
    return tx;
  }
};

PackageKit::PackageKit(Bus& bus, PkOptions options)
    : impl_(std::make_unique<Impl>(bus, std::move(options))) {}
PackageKit::~PackageKit() = default;

std::string PackageKit::describe() {
  auto major = impl_->property<uint32_t>("VersionMajor");
  auto minor = impl_->property<uint32_t>("VersionMinor");
  auto micro = impl_->property<uint32_t>("VersionMicro");
  auto backend = impl_->property<std::string>("BackendName");
  return "PackageKit " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro) +
         " (" + backend + " backend) on the system bus";
}

bool PackageKit::running() {
  bool owned = false;
  auto bus_daemon = call_dbus("connect to the bus daemon", [&] {
    return sdbus::createProxy(impl_->bus.connection(), "org.freedesktop.DBus", "/org/freedesktop/DBus");
  });
  pk_call("ask the bus whether PackageKit runs", impl_->options.call_timeout, [&] {
    bus_daemon->callMethod("NameHasOwner")
        .onInterface("org.freedesktop.DBus")
        .withTimeout(usec(impl_->options.call_timeout))
        .withArguments(std::string(kService))
        .storeResultsTo(owned);
  });
  return owned;
}

std::vector<PkPackage> PackageKit::resolve(const std::vector<std::string>& names, uint64_t filter) {
  if (names.empty()) return {};
  auto tx = impl_->run("resolve", "PackageKit Resolve", [&](sdbus::IProxy& p, uint64_t timeout) {
    p.callMethod("Resolve")
        .onInterface(kTransactionInterface)
        .withTimeout(timeout)
        .withArguments(filter, names);
  });
  return tx.packages;
}

void PackageKit::install(const std::vector<std::string>& ids, bool only_trusted, bool allow_downgrade) {
  if (ids.empty()) return;
  uint64_t flags = (only_trusted ? kFlagOnlyTrusted : 0) | (allow_downgrade ? kFlagAllowDowngrade : 0);
  impl_->run("install", "PackageKit InstallPackages", [&](sdbus::IProxy& p, uint64_t timeout) {
    p.callMethod("InstallPackages")
        .onInterface(kTransactionInterface)
        .withTimeout(timeout)
        .withArguments(flags, ids);
  });
}

void PackageKit::remove(const std::vector<std::string>& ids, bool autoremove) {
  if (ids.empty()) return;
  impl_->run("remove", "PackageKit RemovePackages", [&](sdbus::IProxy& p, uint64_t timeout) {
    p.callMethod("RemovePackages")
        .onInterface(kTransactionInterface)
        .withTimeout(timeout)
        .withArguments(uint64_t{0}, ids, false, autoremove);
  });
}

void PackageKit::update(const std::vector<std::string>& ids, bool only_trusted) {
  if (ids.empty()) return;
  uint64_t flags = only_trusted ? kFlagOnlyTrusted : 0;
  impl_->run("update", "PackageKit UpdatePackages", [&](sdbus::IProxy& p, uint64_t timeout) {
    p.callMethod("UpdatePackages")
        .onInterface(kTransactionInterface)
        .withTimeout(timeout)
        .withArguments(flags, ids);
  });
}

void PackageKit::refresh_cache(bool force) {
  impl_->run("refresh", "PackageKit RefreshCache", [&](sdbus::IProxy& p, uint64_t timeout) {
    p.callMethod("RefreshCache").onInterface(kTransactionInterface).withTimeout(timeout).withArguments(force);
  });
}

}  // namespace opdbus::sys
