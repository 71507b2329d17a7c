// What the users plugin needs from a host: the files of one root (the live "/" or --root DIR), always through
// sys::RootDir, so the same code edits the live databases and those of a tree, and no symlink leads outside
// the root. The account databases are edited under the shadow tools' lock (/etc/.pwd.lock: an open file
// description write lock, which conflicts with the classic fcntl lock lckpwdf(3) takes).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "sys/rootdir.h"

namespace opdbus {
class Context;
}

namespace opdbus::users {

// Held while the databases are read and rewritten; released on destruction.
class DbLock {
 public:
  virtual ~DbLock() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // "account databases under /" or why not (throws Unavailable: no /etc/passwd in the root).
  virtual std::string describe() = 0;
  // The files, reached inside the root.
  virtual const sys::RootDir& root() = 0;
  // Takes /etc/.pwd.lock (waits up to 15 s, as lckpwdf does); throws when it cannot.
  virtual std::unique_ptr<DbLock> lock() = 0;
  // Called after the databases were rewritten (users: passwd/shadow, groups: group/gshadow). On the live
  // system, a running nscd is told to drop its caches (`nscd -i passwd`, `nscd -i group`); accounts-daemon
  // needs nothing (it watches the files itself).
  virtual void databases_changed(bool users, bool groups) {
    (void)users;
    (void)groups;
  }
};

using BackendFactory = std::function<std::unique_ptr<Backend>(Context&)>;

std::unique_ptr<Backend> make_root_backend(const std::filesystem::path& root);

}  // namespace opdbus::users
