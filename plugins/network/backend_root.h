// The file half both backends share: in-system paths resolved inside the context's root by sys::RootDir
// (the live system is the root "/"), so a --root tree whose directories are symlinks out of it still only
// ever touches the tree.
#pragma once

#include <memory>

#include "network/backend.h"
#include "sys/rootdir.h"

namespace opdbus::network {

class RootFilesBackend : public Backend {
 public:
  explicit RootFilesBackend(Context& ctx) : ctx_(ctx) {}

  std::optional<std::string> read_file(const std::string& path) override;
  void write_file(const std::string& path, const std::string& content) override;
  void remove_file(const std::string& path) override;
  bool exists(const std::string& path) override;
  std::optional<std::string> read_link(const std::string& path) override;
  void make_link(const std::string& path, const std::string& target) override;

 protected:
  // Opened on first use: throws Error(Unavailable) when the root is not a directory.
  const sys::RootDir& root();

  Context& ctx_;

 private:
  std::unique_ptr<sys::RootDir> root_;
};

}  // namespace opdbus::network
