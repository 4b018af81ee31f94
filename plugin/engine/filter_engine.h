// filter_engine.h — one flsentry filter instance, end to end: configuration,
// guards, detector scores, policy decisions, state and audit. This is the
// C++ core behind the C interface (c_api.cc) and the only place the stages
// meet.
//
// Threading: not thread-safe; one call at a time per engine. Engines are
// independent of each other.
//
// Refresh off the critical path. Learning from a round (continual refresh,
// detector.h) is split: the window's new rows are recorded before the round
// commits, and the fine-tune of the autoencoder, the expensive part, runs
// after FilterRound has returned the decisions, on a thread of the
// engine's own, on the engine's detector. Contract:
//   - every call (FilterRound, SaveState, LoadState, the destructor) first
//     waits for that fine-tune: nothing reads or writes the detector while
//     it runs, and each round is scored by the detector refreshed on all
//     rounds before it, exactly as if the fine-tune had run before the
//     round returned (the decisions are the same bits);
//   - the state file written when round r commits holds the window with
//     round r's rows, the weights before its fine-tune and the marker
//     "pending_refresh" {round r, epochs} (docs/detector.md, "Continual
//     refresh"): it is wholly before or wholly after round r, whatever
//     stops the process, and an engine created from it (or given it by
//     LoadState) runs the pending fine-tune (again on its own thread, waited
//     for by the next call), which is deterministic, so it decides the next
//     round as an uninterrupted engine would. SaveState waits for the
//     fine-tune, so its bytes hold the refreshed weights and no marker;
//   - LogFn is never called from that thread: what it has to say (a debug
//     line when it ran, a warning when it failed and was skipped, leaving
//     the weights as they were) is queued and logged at the start of the
//     next call, or by the destructor, on the caller's thread;
//   - no exception leaves the thread; if no thread can be started the
//     fine-tune runs before FilterRound returns.
#ifndef FLSENTRY_ENGINE_FILTER_ENGINE_H_
#define FLSENTRY_ENGINE_FILTER_ENGINE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "features/round_input.h"
#include "policy/decision.h"

namespace flsentry {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
// Receives log lines. Called only during FilterEngine calls (the destructor
// included), on the caller's thread. May be empty.
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

  // Waits for the pending fine-tune and logs what it queued.
  ~FilterEngine();
  FilterEngine(const FilterEngine&) = delete;
  FilterEngine& operator=(const FilterEngine&) = delete;

  // Decides every update of the round, in order. Malformed or suspicious
  // updates become drops with a reason; an error is returned only when the
  // round as a whole cannot be decided (e.g. policy `on_error: fail_round`).
  // Same as BeginRound(round.round, round.global), AddUpdate for each
  // update (embedded on detector.threads threads), EndRound(). Closes a
  // round left open on arrival (logged).
  Result<std::vector<Decision>> FilterRound(const RoundInput& round);

  // Rounds on arrival: the same round given one update at a time, so that
  // a host need not hold every update until the last arrives. Each update
  // is measured when it is added (one pass over its bytes: the detector's
  // embedding); the engine keeps O(embedding + tensor count) of it and no
  // pointer. EndRound decides them all, as FilterRound would have decided
  // the same round (the same decisions, audit lines and state, bit for
  // bit). Round numbers are checked by BeginRound (the errors of
  // FilterRound; on error nothing changes); a round already open is then
  // closed (logged; nothing of it was recorded), as a successful LoadState
  // closes it.
  // OWNERSHIP: `global` (may be empty) borrows the host's global model
  // until EndRound returns, or the round is closed; the caller keeps those
  // bytes alive and unchanged. `update` is read during AddUpdate only.
  // AddUpdate errors: kInvalidArgument with no open round or past
  // kMaxRecordedDecisions updates. A malformed update is not an error: it
  // is decided (dropped) at EndRound. EndRound closes the round whatever
  // its outcome (on error nothing was recorded: begin it again); errors as
  // FilterRound's, and kInvalidArgument with no open round.
  Status BeginRound(uint64_t round, std::vector<TensorView> global);
  Status AddUpdate(const UpdateInput& update);
  Result<std::vector<Decision>> EndRound();
  // The number of updates added to the open round; nullopt when no round
  // is open.
  std::optional<size_t> OpenRoundUpdates() const;

  // The engine's state as versioned bytes (JSON), and back. LoadState
  // leaves the state unchanged on error (kState); a loaded state's pending
  // refresh starts at once, off the caller's thread (see above).
  Result<std::string> SaveState() const;
  Status LoadState(std::string_view bytes);

 private:
  struct Impl;
  explicit FilterEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_FILTER_ENGINE_H_
