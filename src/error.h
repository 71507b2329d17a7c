// One error type for the whole program: a kind that drives exit codes and retries, a message, and a chain
// of context ("systemd: enable 'ssh.service': org.freedesktop.systemd1.NoSuchUnit: ...").
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace opdbus {

enum class ErrorKind {
  InvalidArgument,    // the document or the command line is wrong; nothing was touched
  VerificationError,  // apply finished but the system does not match
  NotSupported,       // asked for something this host or build cannot do (yet)
  Unavailable,        // a backend (D-Bus service, OVS, ...) is not present
  PermissionError,    // needs root or a capability
  BackendError,       // the backend refused or failed; its own reason is in the message
  Conflict,           // another apply holds the lock, or state changed under us
  Interrupted,        // SIGINT/SIGTERM: stopped between two actions
  Bug,                // an internal invariant broke
};

std::string_view to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message);

  ErrorKind kind() const { return kind_; }
  // The innermost message, without context.
  const std::string& message() const { return message_; }
  // Outermost first: {"systemd", "enable 'ssh.service'"}.
  const std::vector<std::string>& context() const { return context_; }

  // Returns a copy with `what` prepended to the context chain; used as `throw e.with_context("...")`.
  Error with_context(std::string what) const;

 private:
  void rebuild();

  ErrorKind kind_;
  std::string message_;
  std::vector<std::string> context_;
  std::string full_;
};

// Runs `fn`; an Error escaping it gets `what` prepended to its context. Other exceptions become Bug errors.
template <typename Fn>
auto with_context(std::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    throw e.with_context(std::string(what));
  } catch (const std::exception& e) {
    throw Error(ErrorKind::Bug, e.what()).with_context(std::string(what));
  }
}

}  // namespace opdbus
