// The storage plugin: partition tables (libfdisk), filesystems (libblkid to look, mkfs.* to make), btrfs
// subvolumes (libbtrfsutil), mounts (libmount) and their /etc/fstab lines. Safe by default: nothing that
// holds data is changed unless the document says "wipe": true and the command line says --allow-destructive.
// Format, safety rules and examples: docs/plugins/storage.md.
#pragma once

#include <plugin.h>  // src/plugin.h (the contract), not this folder's plugin.h

#include <memory>

#include "storage/backend.h"

namespace opdbus {

std::unique_ptr<Plugin> make_storage_plugin();

namespace storage {
// For tests: the plugin with a backend of the test's choosing (a recording fake).
std::unique_ptr<Plugin> make_plugin(BackendFactory factory);
}  // namespace storage

}  // namespace opdbus
