// The packagekit plugin's operations. diff() builds them, apply() visits them; their JSON form appears only
// in the journal. Packages of one step travel together: one install, one remove and one upgrade
// transaction per apply, each one Action.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "json_object.h"

namespace opdbus::packagekit {

// /etc/apt/sources.list.d/NAME.sources and /etc/apt/keyrings/NAME.asc.
struct WriteRepository {
  static constexpr std::string_view kName = "write-repository";
  std::string name, sources, key;
  void fields(JsonObject& o) const { o.set("name", name).set("sources", sources).set("key", key); }
};

struct RemoveRepository {
  static constexpr std::string_view kName = "remove-repository";
  std::string name;
  void fields(JsonObject& o) const { o.set("name", name); }
};

// apt-get update / PackageKit RefreshCache(force).
struct RefreshCache {
  static constexpr std::string_view kName = "refresh-cache";
  int stall_timeout = 300;
  void fields(JsonObject& o) const { o.set("stall_timeout", stall_timeout); }
};

struct PackageRef {
  std::string name;
  std::optional<std::string> version;  // pinned; otherwise the candidate
  bool operator==(const PackageRef&) const = default;
};

struct InstallPackages {
  static constexpr std::string_view kName = "install-packages";
  std::vector<PackageRef> packages;
  bool allow_downgrade = false;  // a pinned version older than the installed one
  int stall_timeout = 300;
  void fields(JsonObject& o) const {
    std::vector<std::string> names;
    for (const auto& p : packages) names.push_back(p.version ? p.name + "=" + *p.version : p.name);
    o.set("packages", names).set("allow_downgrade", allow_downgrade).set("stall_timeout", stall_timeout);
  }
};

struct RemovePackages {
  static constexpr std::string_view kName = "remove-packages";
  std::vector<std::string> packages;
  int stall_timeout = 300;
  void fields(JsonObject& o) const { o.set("packages", packages).set("stall_timeout", stall_timeout); }
};

// To the newest version the repositories offer.
struct UpgradePackages {
  static constexpr std::string_view kName = "upgrade-packages";
  std::vector<std::string> packages;
  int stall_timeout = 300;
  void fields(JsonObject& o) const { o.set("packages", packages).set("stall_timeout", stall_timeout); }
};

using Ops = std::variant<WriteRepository, RemoveRepository, RefreshCache, InstallPackages, RemovePackages,
                         UpgradePackages>;

}  // namespace opdbus::packagekit
