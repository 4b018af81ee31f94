// policy.h — turns one round's scores into decisions and carries per-client
// memory (strikes, quarantine, probation, reputation, the client's own
// history) across rounds.
//
// First the round's limits: the thresholds of the score rules (thresholds.h),
// the norm guard's reference norm (the round's median, bounded by earlier
// rounds' accepted norms), the median centrality, the median claim of
// num_examples. Then per update, in this order (the first rule that drops
// sets the reason; later rules only lower the weight):
//   1. guard flags from the engine (nonfinite, shape_mismatch, invalid):
//      drop, reason = the engine's guard_reason. Guards win over allow-list.
//   2. deny-listed: drop, "denylisted".
//   3. quarantined client: drop, "quarantined" (still scored and flagged).
//   4. scoring failed (UpdateScore::error): fail_safes.on_error decides:
//      accept ("score_failed_accepted"), drop ("score_failed") or the whole
//      round fails (DecideRound returns kInvalidArgument, state unchanged).
//   5. allow-listed: accept, "allowlisted" (still scored and flagged; never
//      a strike).
//   6. score above the client's threshold: the round's effective threshold
//      (x probation.threshold_scale on probation) x the client's baseline
//      factor (thresholds.client_baseline: how unusual its updates have
//      been, when this one points its usual way): flag anomalous; when no
//      other signal fires, the update points the client's usual way, the
//      client is in good standing and has a grace left in the window:
//      accept ("grace", no strike); otherwise drop or down-weight
//      ("anomalous").
//   7. consistency guard: the update points away from the client's own last
//      clean update (cosine below the limit, lowered by drift_margin for
//      an update agreeing with the round's known clients at least at the
//      round's drift limit): drop ("inconsistent"); or a
//      client without one repeats its rejected direction: drop
//      ("repeats_rejected", flag inconsistent; policy_config.h); any other
//      client without a reference that points against the round's known
//      clients (below a limit the round raises as far as their own
//      agreements allow): drop, or weight capped at newcomer_weight > 0
//      ("against_round", flag inconsistent, no strike), unless an earlier
//      rule dropped it.
//   8. duplicate guard: similarity to another update above the limit: drop
//      ("duplicate").
//   9. centrality guard: typicality above the limit: drop ("central").
//  10. column guard: the share of the update's energy in input columns its
//      round leaves quiet, or its part in the 9 largest of them, above its
//      limit: drop ("column_outlier").
//  11. norm guard (when enabled): flag norm_guard; above drop_k x the
//      reference norm drop, else clip, down-weight or drop ("norm_guard").
//  12. opposition guard: (norm / reference norm) x max(0, -agreement) above
//      the limit: flag opposed; weight capped at limit / opposition
//      ("opposed").
//  13. num_examples guard: the claim above its limit: flag num_examples;
//      cap the weight to limit / claim, only flag, or drop ("num_examples").
//  14. probation: weight capped at probation.max_weight ("probation").
// Every judged update (steps 5-14) gets Decision::suspicion, the largest
// ratio of its signals to their limits (> 1 exactly when one fired).
// Then the fail-safes over the round: drops of steps 6-13 beyond
// floor(max_drop_fraction * n) are restored, least suspicious first (not
// those at least severe_suspicion suspicious, unless restore_severe), and
// the same restoration (of any of them) runs while fewer than
// min(min_accepted, n) updates keep a weight > 0. A restored update keeps
// weight min(1, 1 / suspicion) (as if clipped to the limit it exceeded),
// reason "failsafe_kept", flag failsafe;
// the round is suspicious and a note says what was restored. Drops from
// steps 1-4 are never restored.
// Then client memory: a strike is an event listed in quarantine.strike_on
// on an update that is not allow- or deny-listed and not already
// quarantined, at most one per client per round. It weighs 1 for a guard's
// event and clamp((score / threshold - 1) / (full_at - 1), min_weight, 1)
// for the score alone (quarantine.strike_weight). A restored update still
// earns its strike when its suspicion is at least fail_safes.
// severe_suspicion. Strike weight of at least S within the last W rounds
// (or strikes_to_requarantine during probation) quarantines the client from
// this round on for Q rounds — this round's update becomes a drop with
// reason "quarantined" even if that exceeds max_drop_fraction — followed by
// P rounds of probation; entering quarantine clears the strikes. An update
// kept without any flag, or one pointing the client's usual way with the
// score as its only signal (outside quarantine), adds its score / round
// median score to the client's tail (policy_config.h,
// ClientBaselineConfig); an accepted claim that did not fire the num_examples
// guard adds to its claim history. Without a detector (scores NaN) strikes
// come only from guards. Clients that skip rounds keep their record;
// quarantine and probation count host rounds, not rounds the client took
// part in.
// Last, when no update keeps a positive num_examples x weight, every
// decision gets flag no_average and a note says why.
//
// Threading: not thread-safe; one DecideRound at a time.
#ifndef FLSENTRY_POLICY_POLICY_H_
#define FLSENTRY_POLICY_POLICY_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "features/scoring.h"
#include "policy/decision.h"
#include "policy/policy_config.h"
#include "policy/policy_state.h"

namespace flsentry {

// One per update of the round, in the round's order.
struct PolicyInput {
  std::string client_id;
  uint64_t num_examples = 0;
  UpdateScore score;  // score.score may be NaN: no detector / not scored
  // kFlagNonFinite / kFlagShapeMismatch / kFlagInvalid set by the engine.
  uint32_t guard_flags = 0;
  // "nonfinite", "shape_mismatch", "invalid: ..." when guard_flags != 0.
  std::string guard_reason;
  // The update answers for no client (its id is empty or not valid text,
  // or another update of the round carries it too): decided from its guard
  // flags (REQUIRES guard_flags != 0) without reading or changing any
  // client's record; its audit record has "client": null and no client
  // fields.
  bool no_record = false;
};

// The update, scored `score`, points the way of its client's rejected
// direction: UpdateScore::rejected_similarity above the consistency guard's
// max_rejected_similarity (policy_config.h), however long ago it was
// rejected. The engine asks it of a dropped update to renew that rejection
// (detector/client_references.h), lapsed or not.
bool PointsRejectedWay(const PolicyConfig& config, const UpdateScore& score);

// The consistency guard's repeats_rejected signal: PointsRejectedWay, with
// the rejection (or its last renewal) within the quarantine window of host
// round `round`. The policy flags it.
bool RepeatsRejected(const PolicyConfig& config, const UpdateScore& score,
                     uint64_t round);

struct RoundOutcome {
  std::vector<Decision> decisions;  // one per input, same order
  bool suspicious = false;          // a fail-safe restored an update
  bool no_average = false;          // nothing keeps num_examples x weight > 0
  // What the round's fail-safes did and why nothing can be averaged, one
  // sentence each, for the host's log (empty in an ordinary round).
  std::vector<std::string> notes;
  // One audit record per input, same order; fields in docs/audit-log.md.
  std::vector<nlohmann::json> audit_records;
};

class Policy {
 public:
  explicit Policy(PolicyConfig config);

  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;

  // Decides a round and advances per-client state. calibration: the
  // detector's benign calibration, may be null. Rounds are expected in
  // increasing order; an earlier or repeated number is decided against the
  // state as it is.
  // Errors: kInvalidArgument only with fail_safes.on_error: fail_round when
  // an input carries a scoring error; the state is then unchanged.
  // kInternal if memory runs out mid-round (state may be partly advanced).
  Result<RoundOutcome> DecideRound(uint64_t round,
                                   std::span<const PolicyInput> inputs,
                                   const Calibration* calibration);

  // The state as the "policy" member of the state file (deterministic).
  nlohmann::json SaveState() const;
  // Replaces the state. Returns kState for malformed JSON values; the state
  // is unchanged on error.
  Status LoadState(const nlohmann::json& state);

  // Replaces the state wholesale with one taken from state() earlier: the
  // engine's undo of a round that failed after DecideRound.
  void RestoreState(PolicyState state) noexcept { state_ = std::move(state); }

  // Forgets the scores of earlier rounds that round-robust rules pool in
  // small rounds: for when the meaning of scores changes (the engine calls
  // it when a detector's warm-up ends and norms stop being the score).
  void ForgetScoreHistory() { state_.score_history.clear(); }

  const PolicyConfig& config() const { return config_; }
  const PolicyState& state() const { return state_; }

 private:
  Result<RoundOutcome> DecideRoundImpl(uint64_t round,
                                       std::span<const PolicyInput> inputs,
                                       const Calibration* calibration);

  PolicyConfig config_;
  PolicyState state_;
};

}  // namespace flsentry

#endif  // FLSENTRY_POLICY_POLICY_H_
