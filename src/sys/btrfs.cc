#include "sys/btrfs.h"

#include <btrfsutil.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "error.h"

namespace opdbus::sys {
namespace {

// BTRFS_FS_TREE_OBJECTID: the top-level subvolume.
constexpr uint64_t kTopLevel = 5;

Error btrfs_error(const std::string& what, btrfs_util_error err) {
  std::string msg = what + ": " + btrfs_util_strerror(err);
  // libbtrfsutil leaves errno set by the failing system call; it is the more precise reason.
  if (errno) msg += std::string(" (") + std::strerror(errno) + ")";
  ErrorKind kind = err == BTRFS_UTIL_ERROR_NOT_BTRFS ? ErrorKind::InvalidArgument : ErrorKind::BackendError;
  return Error(kind, msg);
}

}  // namespace

std::vector<std::string> list_subvolumes(const std::filesystem::path& top) {
  btrfs_util_subvolume_iterator* it = nullptr;
  errno = 0;
  btrfs_util_error err = btrfs_util_create_subvolume_iterator(top.c_str(), kTopLevel, 0, &it);
  if (err != BTRFS_UTIL_OK) throw btrfs_error("listing the subvolumes under " + top.string(), err);
  std::vector<std::string> out;
  for (;;) {
    char* path = nullptr;
    uint64_t id = 0;
    errno = 0;
    err = btrfs_util_subvolume_iterator_next(it, &path, &id);
    if (err == BTRFS_UTIL_ERROR_STOP_ITERATION) break;
    if (err != BTRFS_UTIL_OK) {
      btrfs_util_destroy_subvolume_iterator(it);
      throw btrfs_error("listing the subvolumes under " + top.string(), err);
    }
    out.emplace_back(path);
    std::free(path);
  }
  btrfs_util_destroy_subvolume_iterator(it);
  std::sort(out.begin(), out.end());
  return out;
}

bool is_subvolume(const std::filesystem::path& path) {
  return btrfs_util_is_subvolume(path.c_str()) == BTRFS_UTIL_OK;
}

void create_subvolume(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec)
    throw Error(ErrorKind::BackendError, "creating " + path.parent_path().string() + ": " + ec.message());
  errno = 0;
  btrfs_util_error err = btrfs_util_create_subvolume(path.c_str(), 0, nullptr, nullptr);
  if (err != BTRFS_UTIL_OK) throw btrfs_error("creating subvolume " + path.string(), err);
}

void delete_subvolume(const std::filesystem::path& path) {
  errno = 0;
  btrfs_util_error err = btrfs_util_delete_subvolume(path.c_str(), 0);
  if (err != BTRFS_UTIL_OK) throw btrfs_error("deleting subvolume " + path.string(), err);
}

}  // namespace opdbus::sys
