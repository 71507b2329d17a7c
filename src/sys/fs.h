// File helpers for everything that writes into the system or a --root tree.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace opdbus::sys {

// Error(PermissionError for EACCES/EPERM/EROFS, else BackendError): "WHAT WHERE: strerror(err)".
[[noreturn]] void fail_errno(const std::string& what, const std::string& where, int err);
// Writes all of `data` to `fd` (retrying short writes and EINTR); throws like fail_errno("write", where, ...).
void write_all(int fd, std::string_view data, const std::string& where);

// Writes `content` to `path` atomically: temp file in the same directory, fsync, rename, fsync the directory.
// Creates missing parent directories (0755). Throws Error(BackendError) naming the path and errno text.
void atomic_write(const std::filesystem::path& path, std::string_view content, mode_t mode = 0644);

// The whole file, or nullopt if it does not exist. Other failures throw.
std::optional<std::string> read_file(const std::filesystem::path& path);

// Appends one line (adds '\n') and fsyncs. Creates parent directories.
void append_line(const std::filesystem::path& path, std::string_view line, mode_t mode = 0600);

}  // namespace opdbus::sys
