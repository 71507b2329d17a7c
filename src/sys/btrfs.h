// btrfs subvolumes through libbtrfsutil. Paths are on a mounted btrfs filesystem; to work on all of a
// filesystem, mount its top level (subvolid=5), for example with sys::PrivateMount.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace opdbus::sys {

// Every subvolume of the filesystem mounted at `top` (which must be its top level), as paths relative to it
// ("@", "@home", "@/var/lib/machines"), sorted.
std::vector<std::string> list_subvolumes(const std::filesystem::path& top);

bool is_subvolume(const std::filesystem::path& path);

// Creates the subvolume at `path`; missing parent directories are created.
void create_subvolume(const std::filesystem::path& path);

// Deletes the subvolume at `path`. One that holds other subvolumes is refused.
void delete_subvolume(const std::filesystem::path& path);

}  // namespace opdbus::sys
