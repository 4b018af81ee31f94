// policy_judge.h — the steps of Policy::DecideRound (policy.h documents the
// rules they implement): the round's limits, the signals and the action of
// one update, the fail-safes over the round, and the strike an update earns.
// Internal to the policy layer; pure functions over plain values, no state
// of their own. Thread-compatible.
#ifndef FLSENTRY_POLICY_POLICY_JUDGE_H_
#define FLSENTRY_POLICY_POLICY_JUDGE_H_

#include <cmath>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "features/scoring.h"
#include "policy/decision.h"
#include "policy/policy_config.h"
#include "policy/policy_state.h"
#include "policy/thresholds.h"

namespace flsentry {

struct PolicyInput;

// Why an update is dropped, for the fail-safes: only signal drops (score,
// guards of the policy) may be restored.
enum class DropKind { kNone, kMandatory, kBySignal };

// One update while its round is decided.
struct Working {
  Decision decision;
  DropKind drop = DropKind::kNone;
  ClientStatus status = ClientStatus::kNormal;  // at the start of the round
  uint32_t strike_events = 0;  // StrikeEvent bits that fired (any, listed or
                               // not in quarantine.strike_on)
  double score_ratio = NAN;    // score / the round's median score
  double score_excess = NAN;   // score / the client's threshold
  double client_factor = 1.0;  // ClientBaselineConfig's threshold multiplier
  double typicality = NAN;
  double opposition = NAN;            // OppositionGuardConfig's; NaN: abstains
  double examples_limit = NAN;        // the num_examples guard's limit: the
                                      // smaller of these two
  double examples_round_limit = NAN;  // k x the round's median claim
  bool examples_over_own = false;     // the claim is above history_k x the
                                      // client's recorded claims (a strike)
  bool listed = false;                // allow- or deny-listed: never a strike
  const char* failsafe = nullptr;     // the fail-safe that restored it, if any
  double strike_weight = 0.0;         // the strike it earns; 0 for none
  bool grace = false;  // a score-only anomaly accepted by client_baseline.grace
  bool repeats_rejected = false;  // ConsistencyGuardConfig's rejected direction
  bool against_round = false;     // ConsistencyGuardConfig's newcomer rule

  // Decision::suspicion, 0 when not judged: the fail-safes' ordering.
  double severity() const {
    return std::isfinite(decision.suspicion) ? decision.suspicion : 0.0;
  }
};

// What the round's statistics set before any update is judged.
struct RoundLimits {
  RoundThresholds thresholds;
  std::vector<double> scores;  // the finite scores of well-formed updates
  double median_score = NAN;   // of `scores`; NaN below 3 scores
  // NormGuardConfig's k and drop_k x its reference norm; NaN when it
  // abstains (norm_drop_limit also when drop_k is 0).
  double norm_limit = NAN;
  double norm_drop_limit = NAN;
  // The norm guard's reference norm, whether or not the guard is enabled
  // (OppositionGuardConfig's unit); NaN below its min_round_size norms.
  double norm_reference = NAN;
  double median_centrality = NAN;
  double median_claim = NAN;  // positive claims; NaN below min_round_size
  // ConsistencyGuardConfig's newcomer limit this round: newcomer_min_agreement,
  // raised by the known clients' agreements (at most to 0); NaN when the
  // guard is off.
  double newcomer_min_agreement = NAN;
  // ConsistencyGuardConfig's drift limit this round; NaN when the rule is
  // off or abstains.
  double drift_min_agreement = NAN;
};

// `history`: earlier rounds' scores; `norm_history`: earlier rounds'
// accepted median norms (PolicyState), oldest first.
RoundLimits ComputeRoundLimits(const PolicyConfig& config,
                               std::span<const PolicyInput> inputs,
                               const std::deque<RoundScores>& history,
                               const std::deque<RoundNorm>& norm_history,
                               const Calibration* calibration);

// The norm_history entry of a decided round: the median norm of its updates
// accepted at weight 1 with a finite, positive norm; nullopt when none.
std::optional<RoundNorm> AcceptedMedianNorm(uint64_t round,
                                            std::span<const PolicyInput> inputs,
                                            std::span<const Working> work);

// Judges one update: its threshold, signals, flags, suspicion and the
// action of the first rule that applies (policy.h's order). `record` is the
// client's record at the start of the round (null for a new client); `round`
// the host's round number.
void JudgeUpdate(const PolicyConfig& config, uint64_t round,
                 const PolicyInput& in, const RoundLimits& limits,
                 const ClientRecord* record, Working& w);

// The fail-safes over the round (policy.h). Returns one note per fail-safe
// that restored updates, saying what it did; empty when none did.
std::vector<std::string> ApplyFailSafes(const PolicyConfig& config,
                                        std::span<const PolicyInput> inputs,
                                        std::vector<Working>& work);

// Whether an update with this UpdateScore::consistency points the way the
// client's last clean update did (ClientBaselineConfig::min_consistency);
// false for NaN (no reference). Whether the baseline is enabled is the
// caller's question.
bool PointsUsualWay(const ClientBaselineConfig& config, double consistency);

// The strike weight an update earns (0: none), per quarantine.strike_on,
// strike_weight and fail_safes.severe_suspicion.
double StrikeWeight(const PolicyConfig& config, const Working& w);

}  // namespace flsentry

#endif  // FLSENTRY_POLICY_POLICY_JUDGE_H_
