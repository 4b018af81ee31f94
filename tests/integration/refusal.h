// refusal.h — test helper for the reference server's pure functions
// (attacks.h, baselines.h), which report a refused input as a
// kInvalidArgument Status or Result.
#ifndef FLSENTRY_TESTS_INTEGRATION_REFUSAL_H_
#define FLSENTRY_TESTS_INTEGRATION_REFUSAL_H_

#include <doctest/doctest.h>

#include <string>

#include "base/status.h"

namespace flsentry::sim {

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

// "refused: <message>" for a kInvalidArgument error; "accepted" for a
// success; "error <code>: <message>" for any other error.
template <typename R>
std::string Refusal(const R& r) {
  const Status& s = StatusOf(r);
  if (s.ok()) return "accepted";
  if (s.code() == ErrorCode::kInvalidArgument) return "refused: " + s.message();
  return "error " + std::to_string(static_cast<int>(s.code())) + ": " +
         s.message();
}

}  // namespace flsentry::sim

// Checks that `expr` is refused (kInvalidArgument) with a message that
// contains `part` ("" for any message).
#define CHECK_REFUSED(expr, part)                                \
  do {                                                           \
    const std::string refusal_ = ::flsentry::sim::Refusal(expr); \
    CAPTURE(refusal_);                                           \
    CHECK(refusal_.rfind("refused: ", 0) == 0);                  \
    CHECK(refusal_.find(part) != std::string::npos);             \
  } while (0)

#endif  // FLSENTRY_TESTS_INTEGRATION_REFUSAL_H_
