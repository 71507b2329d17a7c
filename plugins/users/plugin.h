// The users plugin: accounts, groups and SSH authorized keys, by editing /etc/passwd, shadow, group and
// gshadow under the root (live or --root DIR) as the shadow tools do. Format: docs/plugins/users.md.
#pragma once

#include <memory>

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h
#include "users/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_users_plugin();

namespace users {
// For tests: the plugin with a backend of the test's choosing.
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace users

}  // namespace opdbus
