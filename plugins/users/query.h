// The host's accounts and groups in the section's own format (docs/plugins/users.md, "show").
#pragma once

#include "json.h"
#include "users/backend.h"
#include "users/model.h"

namespace opdbus::users {

// The four databases as they are in the root. gshadow may be absent (then it is neither read nor written).
struct Databases {
  Db passwd, shadow, group, gshadow;
  bool has_shadow = false, has_gshadow = false;
};
Databases read_databases(const sys::RootDir& root);

// With `desired`: every account and group (diff needs every uid and gid in use), the keys and password hashes
// the document declares, and the "x-target" facts. Without (`show`): the non-system accounts and groups
// (ids within login.defs' UID_MIN..UID_MAX, GID_MIN..GID_MAX) and their keys, never a hash.
JsonDoc query_section(Backend& backend, const JsonValue* desired);

}  // namespace opdbus::users
