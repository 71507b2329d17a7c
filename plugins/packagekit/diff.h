// desired x current -> Actions carrying packagekit::Ops. Pure.
//
// One Action per repository written or removed, one to refresh the package lists when any repository
// changed, then one Action per step carrying every package of that step (one transaction each): remove,
// install, upgrade. Packages with "mode": "observe" get an Action of their own, observe-only.
// A package named to be present that the package manager does not know (x-available says []) is a plan
// error naming it, so nothing of the document is applied; when a repository changes in the same plan the
// check moves to apply, after the refresh and before anything is installed.
#pragma once

#include <string>
#include <vector>

#include "action.h"
#include "json.h"

namespace opdbus::packagekit {

enum Order { kRepositories = 10, kRefresh = 20, kRemove = 30, kInstall = 40, kUpgrade = 50 };

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current,
                                 const std::vector<std::string>& manifest_packages = {});

}  // namespace opdbus::packagekit
