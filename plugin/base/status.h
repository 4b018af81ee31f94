// status.h — error values used inside flsentry. Every fallible function
// returns Status or Result<T>; they become C error codes in exactly one place
// (c_api.cc) and exceptions nowhere. Thread-compatible value types.
#ifndef FLSENTRY_BASE_STATUS_H_
#define FLSENTRY_BASE_STATUS_H_

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace flsentry {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something malformed
  kNotFound,         // a file, key or tensor that should exist does not
  kCorrupt,          // bytes that do not parse as what they claim to be
  kUnsupported,      // well-formed but outside what flsentry handles
  kConfig,           // a configuration value was refused
  kState,            // persisted state could not be loaded
  kIo,               // the operating system refused a read or write
  kRoundFailed,      // the policy refuses to decide this round at all
  kInternal,         // a bug: an invariant of flsentry itself failed
  kRoundNumber,      // the round's number is refused (lower, repeated with
                     // other updates, or too far ahead); nothing changed
};

// A success or an error code with a human-readable message.
class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return Status(ErrorCode::kInvalidArgument, std::move(m));
}
inline Status NotFound(std::string m) {
  return Status(ErrorCode::kNotFound, std::move(m));
}
inline Status Corrupt(std::string m) {
  return Status(ErrorCode::kCorrupt, std::move(m));
}
inline Status Unsupported(std::string m) {
  return Status(ErrorCode::kUnsupported, std::move(m));
}
inline Status ConfigError(std::string m) {
  return Status(ErrorCode::kConfig, std::move(m));
}
inline Status StateError(std::string m) {
  return Status(ErrorCode::kState, std::move(m));
}
inline Status IoError(std::string m) {
  return Status(ErrorCode::kIo, std::move(m));
}
inline Status RoundFailed(std::string m) {
  return Status(ErrorCode::kRoundFailed, std::move(m));
}
inline Status InternalError(std::string m) {
  return Status(ErrorCode::kInternal, std::move(m));
}
inline Status RoundNumberError(std::string m) {
  return Status(ErrorCode::kRoundNumber, std::move(m));
}

// Thrown by Result<T>::value() on an error: a bug in the caller, which
// should have checked ok(). The C interface's guard (abi/c_guard.h) turns it
// into AGGF_ERR_INTERNAL; it never escapes the plugin.
class BadResultAccess : public std::logic_error {
 public:
  explicit BadResultAccess(const Status& status)
      : std::logic_error("Result::value() on an error: " + status.message()) {}
};

// A value or an error, with abseil StatusOr's contract:
//   - constructed from a value: ok(), status() is OK;
//   - constructed from an error Status: !ok(), status() is that error;
//   - constructed from an OK Status (a bug: there is no value): !ok(), and
//     status() is kInternal saying so;
//   - value() checks: on an error it throws BadResultAccess (see above);
//     operator* and operator-> do not check (REQUIRES: ok()).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status)                          // NOLINT: implicit by design
      : status_(status.ok()
                    ? InternalError("Result constructed from an OK status "
                                    "without a value")
                    : std::move(status)) {}
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    Check();
    return *value_;
  }
  const T& value() const& {
    Check();
    return *value_;
  }
  T&& value() && {
    Check();
    return std::move(*value_);
  }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  void Check() const {
    if (!value_.has_value()) throw BadResultAccess(status_);
  }

  std::optional<T> value_;
  Status status_;
};

}  // namespace flsentry

// Returns early from the enclosing function when `expr` is an error Status.
#define FLS_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::flsentry::Status fls_status_ = (expr);   \
    if (!fls_status_.ok()) return fls_status_; \
  } while (0)

#define FLS_CONCAT_INNER_(a, b) a##b
#define FLS_CONCAT_(a, b) FLS_CONCAT_INNER_(a, b)
// `FLS_ASSIGN_OR_RETURN(auto x, MakeX());` — binds the value or returns the
// error.
#define FLS_ASSIGN_OR_RETURN(lhs, expr) \
  FLS_ASSIGN_OR_RETURN_IMPL_(FLS_CONCAT_(fls_result_, __LINE__), lhs, expr)
// `tmp` and `lhs` are a name and a declaration: they cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define FLS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

#endif  // FLSENTRY_BASE_STATUS_H_
