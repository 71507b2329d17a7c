#include "error.h"

namespace opdbus {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument:
      return "invalid-argument";
    case ErrorKind::VerificationError:
      return "verification-error";
    case ErrorKind::NotSupported:
      return "not-supported";
    case ErrorKind::Unavailable:
      return "unavailable";
    case ErrorKind::PermissionError:
      return "permission-error";
    case ErrorKind::BackendError:
      return "backend-error";
    case ErrorKind::Conflict:
      return "conflict";
    case ErrorKind::Interrupted:
      return "interrupted";
    case ErrorKind::Bug:
      return "bug";
  }
  return "unknown";
}

Error::Error(ErrorKind kind, std::string message)
    : std::runtime_error(message), kind_(kind), message_(std::move(message)) {
  rebuild();
}

Error Error::with_context(std::string what) const {
  Error copy = *this;
  copy.context_.insert(copy.context_.begin(), std::move(what));
  copy.rebuild();
  return copy;
}

void Error::rebuild() {
  full_.clear();
  for (const auto& c : context_) {
    full_ += c;
    full_ += ": ";
  }
  full_ += message_;
  static_cast<std::runtime_error&>(*this) = std::runtime_error(full_);
}

}  // namespace opdbus
