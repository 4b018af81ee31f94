// filter_engine_impl.h — the inside of FilterEngine, shared by its two
// source files: filter_engine.cc (a round, step by step) and
// filter_engine_state.cc (create, the state document). Not a module API:
// included by those two files only.
#ifndef FLSENTRY_ENGINE_FILTER_ENGINE_IMPL_H_
#define FLSENTRY_ENGINE_FILTER_ENGINE_IMPL_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "detector/detector.h"
#include "engine/audit_log.h"
#include "engine/file_lock.h"
#include "engine/filter_engine.h"
#include "engine/round_intake.h"
#include "engine/round_record.h"
#include "engine/state_store.h"
#include "policy/policy.h"
#include "policy/policy_config.h"

namespace flsentry {

// What one round builds before it commits; thrown away on error.
struct RoundWork {
  std::vector<PolicyInput> inputs;  // one per update
  std::vector<size_t> eligible;     // updates past the engine's first guards
  std::vector<UpdateScore> scores;  // one per update
  // The detector this round scores with when it is not the engine's (just
  // bootstrapped, or rebuilt for a new model layout), or the engine's copy
  // it learned on; replaces the engine's on commit. Null: unchanged.
  std::unique_ptr<Detector> detector;
  TensorNames detector_tensors;  // of `detector`
  bool cloned = false;           // `detector` is a copy of the engine's
  bool rebuilt = false;          // `detector` replaces one of another layout
  // The intake's embedder of the round's layout (whose detector scores the
  // round when it is Active); null when nothing is eligible.
  Embedder* embedder = nullptr;
  uint64_t fingerprint = 0;  // RoundFingerprint
  RoundOutcome outcome;
};

struct FilterEngine::Impl {
  LogFn log;
  PolicyConfig config;
  std::string detector_path;    // resolved; "" without a detector directory
  std::string detector_source;  // DetectorSourceId of that directory
  std::unique_ptr<Policy> policy;
  std::unique_ptr<Detector> detector;  // null: guards and norms only
  TensorNames detector_tensors;
  std::unique_ptr<FileLock> state_lock;     // held while state_store lives
  std::unique_ptr<StateStore> state_store;  // null: no persistence
  std::unique_ptr<AuditLog> audit;          // null: no audit log
  bool has_round = false;
  uint64_t last_round = 0;
  std::optional<RoundRecord> last_record;  // of last_round, for retries
  // A round given on arrival, between BeginRound and EndRound; it borrows
  // `detector`, which nothing replaces while it is open (LoadState and
  // BeginRound close it first).
  std::unique_ptr<RoundIntake> open_round;
  bool open_retry = false;  // open_round repeats the last round's number
  // The detector's pending fine-tune, run off the caller's critical path
  // (filter_engine.h, "Refresh off the critical path"). While it runs, it
  // alone touches `detector` and `refresh_log`; every other use of either
  // comes after JoinRefresh().
  std::thread refresh_thread;
  std::vector<std::pair<LogLevel, std::string>> refresh_log;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl();  // joins refresh_thread (dropping its log: see ~FilterEngine)

  void Log(LogLevel level, const std::string& message) const {
    if (log) log(level, message);
  }

  // Starts the detector's pending refresh on refresh_thread (on this thread
  // when no thread can be started). REQUIRES: no refresh thread running.
  void StartRefresh();
  // Waits for refresh_thread, then logs what it queued, on this thread.
  void JoinRefresh();
  // The pending refresh; its messages go to refresh_log. Never throws.
  void RunRefresh() noexcept;

  const Detector* Active(const RoundWork& w) const {
    return w.detector ? w.detector.get() : detector.get();
  }
  Detector* Active(RoundWork& w) {
    return w.detector ? w.detector.get() : detector.get();
  }

  // The state document: the policy, `d`'s state, the audit log's end, the
  // last round and its record.
  nlohmann::json StateJson(const Detector* d, std::optional<uint64_t> round,
                           const RoundRecord* record) const;
  nlohmann::json CurrentStateJson() const;

  Status ApplyState(const nlohmann::json& state);
  Result<bool> CheckRoundNumber(uint64_t round) const;
  // Logs and drops the open round, if any; `why` names the call.
  void CloseOpenRound(const char* why);
  Result<std::vector<Decision>> FinishRound(RoundIntake& round, bool retry);
  void Guard(const RoundIntake& round, RoundWork* w) const;
  // retry: the round repeats the last one's number; its detector is the
  // engine's as it is (no bootstrap, no rebuild; another layout is an
  // error, which makes it another round).
  Status PrepareDetector(RoundIntake& round, bool retry, RoundWork* w);
  Status Score(RoundIntake& round, bool retry, RoundWork* w);
  Result<std::vector<UpdateScore>> ScoreEmbedded(RoundIntake& round,
                                                 Detector& d,
                                                 const RoundWork& w) const;
  void ApplyScoreGuards(const RoundIntake& round, RoundWork* w) const;
  std::vector<UpdateScore> ScoreWithoutDetector(
      const RoundIntake& round, std::span<const size_t> eligible) const;
  Result<std::vector<Decision>> Retry(const RoundIntake& round,
                                      const RoundWork& w,
                                      const Status& scored) const;
  Status Decide(const RoundIntake& round, RoundWork* w);
  void Learn(const RoundIntake& round, RoundWork* w);
  Status Commit(const RoundIntake& round, RoundWork* w);
};

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_FILTER_ENGINE_IMPL_H_
