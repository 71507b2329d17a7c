// The storage plugin: partition tables (libfdisk), filesystems (libblkid to look, mkfs.* to make), btrfs
// subvolumes (libbtrfsutil), mounts (libmount) and their /etc/fstab lines. Safe by default: nothing that
// holds data is changed unless the document says "wipe": true and the command line says --allow-destructive.
// Format, safety rules and examples: docs/plugins/storage.md.
#pragma once

#include <functional>
#include <memory>

#include "plugin.h"

namespace opdbus {

std::unique_ptr<Plugin> make_storage_plugin();

namespace storage {
class StorageHost;
// How the plugin reaches the host; the default is the live host (mount points and fstab under --root).
using HostFactory = std::function<std::unique_ptr<StorageHost>(Context&)>;
// For tests: the plugin with a host of the test's choosing (a recording fake).
std::unique_ptr<Plugin> make_plugin(HostFactory factory);
}  // namespace storage

}  // namespace opdbus
