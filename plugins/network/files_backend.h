// The file half both backends share: in-system paths joined under the context's root.
#pragma once

#include "network/backend.h"

namespace opdbus::network {

class FilesBackend : public NetworkBackend {
 public:
  explicit FilesBackend(Context& ctx) : ctx_(ctx) {}

  std::optional<std::string> read_file(const std::string& path) override;
  void write_file(const std::string& path, const std::string& content) override;
  void remove_file(const std::string& path) override;
  bool exists(const std::string& path) override;
  std::optional<std::string> read_link(const std::string& path) override;
  void make_link(const std::string& path, const std::string& target) override;

 protected:
  Context& ctx_;
};

}  // namespace opdbus::network
