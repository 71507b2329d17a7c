#include <algorithm>
#include <system_error>

#include "error.h"
#include "sys/fs.h"
#include "systemd/backend.h"

namespace opdbus::systemd {
namespace fs = std::filesystem;

fs::path RootedFiles::host_path(const std::string& path) const {
  fs::path rel = fs::path(path).relative_path().lexically_normal();
  for (const auto& part : rel) {
    if (part == "..") throw Error(ErrorKind::InvalidArgument, "path '" + path + "' escapes the root");
  }
  return root_ / rel;
}

std::optional<std::string> RootedFiles::read_file(const std::string& path) const {
  fs::path p = host_path(path);
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(p, ec))) return std::nullopt;
  return sys::read_file(p);
}

std::vector<DirEntry> RootedFiles::list_dir(const std::string& path) const {
  std::vector<DirEntry> out;
  std::error_code ec;
  fs::directory_iterator it(host_path(path), ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) return out;
    throw Error(ErrorKind::BackendError, "list " + host_path(path).string() + ": " + ec.message());
  }
  for (const auto& e : it) {
    DirEntry d;
    d.name = e.path().filename().string();
    auto st = e.symlink_status(ec);
    if (ec) continue;
    if (fs::is_symlink(st))
      d.kind = DirEntry::Kind::Symlink;
    else if (fs::is_regular_file(st))
      d.kind = DirEntry::Kind::File;
    else if (fs::is_directory(st))
      d.kind = DirEntry::Kind::Directory;
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

void RootedFiles::write_file(const std::string& path, const std::string& content) const {
  sys::atomic_write(host_path(path), content, 0644);
}

void RootedFiles::remove_path(const std::string& path) const {
  std::error_code ec;
  fs::remove_all(host_path(path), ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw Error(ErrorKind::BackendError, "remove " + host_path(path).string() + ": " + ec.message());
  }
}

}  // namespace opdbus::systemd
