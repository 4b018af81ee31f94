// filter_engine.h — one flsentry filter instance, end to end: configuration,
// guards, detector scores, policy decisions, state and audit. This is the
// C++ core behind the C interface (c_api.cc) and the only place the stages
// meet.
//
// Threading: not thread-safe; one call at a time per engine. Engines are
// independent of each other.
#ifndef FLSENTRY_ENGINE_FILTER_ENGINE_H_
#define FLSENTRY_ENGINE_FILTER_ENGINE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "features/round_input.h"
#include "policy/decision.h"

namespace flsentry {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
// Receives log lines. Called only during FilterEngine calls, on the caller's
// thread. May be empty.
using LogFn = std::function<void(LogLevel, std::string_view)>;

class FilterEngine {
 public:
  // config_yaml: the policy file's text (empty = defaults). base_dir:
  // directory against which relative paths in the policy resolve ("" = the
  // current directory).
  // Errors: kConfig (invalid YAML or policy), kState (persisted state
  // unreadable), kNotFound/kCorrupt (detector files).
  static Result<std::unique_ptr<FilterEngine>> Create(
      std::string_view config_yaml, const std::string& base_dir, LogFn log);

  ~FilterEngine();
  FilterEngine(const FilterEngine&) = delete;
  FilterEngine& operator=(const FilterEngine&) = delete;

  // Decides every update of the round, in order. Malformed or suspicious
  // updates become drops with a reason; an error is returned only when the
  // round as a whole cannot be decided (e.g. policy `on_error: fail_round`).
  Result<std::vector<Decision>> FilterRound(const RoundInput& round);

  // The engine's state as versioned bytes (JSON), and back. LoadState
  // leaves the state unchanged on error (kState).
  Result<std::string> SaveState() const;
  Status LoadState(std::string_view bytes);

 private:
  struct Impl;
  explicit FilterEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_FILTER_ENGINE_H_
