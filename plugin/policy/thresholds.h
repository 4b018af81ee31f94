// thresholds.h — turns a policy's threshold rules into numbers for one
// round. A rule "fires" for an update when its score is strictly above the
// rule's threshold; a rule that cannot be evaluated this round "abstains":
//   static               never abstains.
//   calibrated_quantile  abstains without a calibration holding quantiles.
//   calibrated_mean_std  abstains without a calibration (count > 0, finite
//                        mean and stddev).
//   round_robust         threshold = median + k * max(MAD, s * median) of the
//                        round's finite scores (MAD unscaled: k = 6 is about
//                        4 standard deviations for normal data; s is
//                        min_relative_spread). With fewer than min_round_size
//                        scores it pools the scores of the most recent
//                        earlier rounds, newest first, up to history_rounds
//                        rounds, until it has min_round_size; if it still has
//                        fewer, it abstains.
//   round_ratio          threshold = k * median of the round's finite
//                        scores (k > 1; the default rule, k = 4), pooled
//                        like round_robust. The
//                        median stays with the honest updates while they are
//                        the majority; the MAD does not once a few attackers
//                        are in a 10-update round.
// Combining: `any` flags when any non-abstaining rule fires, i.e. the
// effective threshold is the smallest rule threshold; `all` flags when every
// non-abstaining rule fires, i.e. the largest. When every rule abstains the
// effective threshold is NaN and no update is flagged by its score.
// Pure functions; thread-safe.
#ifndef FLSENTRY_POLICY_THRESHOLDS_H_
#define FLSENTRY_POLICY_THRESHOLDS_H_

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "base/robust_stats.h"
#include "features/scoring.h"
#include "policy/policy_config.h"

namespace flsentry {

// The finite scores of one earlier round, kept for the pooling of
// round_robust and round_ratio.
struct RoundScores {
  uint64_t round = 0;
  std::vector<double> scores;
};

struct RuleThreshold {
  std::string name;         // ThresholdRule::name
  double value = NAN;       // NaN when the rule abstained
  int64_t sample_size = 0;  // round_robust, round_ratio: scores the median
                            // came from (this round's plus pooled ones)
};

struct RoundThresholds {
  std::vector<RuleThreshold> rules;  // one per configured rule, in order
  double effective = NAN;            // combined; NaN when all abstained
};

// Computes every rule's threshold and the combined one for a round.
// round_scores: the finite scores of this round's scored updates (any
// order). history: earlier rounds, oldest first; used by round_robust and
// round_ratio to pool.
// calibration: may be null (no detector / no calibration).
RoundThresholds ComputeThresholds(const ThresholdsConfig& config,
                                  std::span<const double> round_scores,
                                  const std::deque<RoundScores>& history,
                                  const Calibration* calibration);

// The multiplier of DownweightConfig for a value `score` above `threshold`
// (see policy_config.h); 1 when score <= threshold. Result in [floor, 1].
double DownweightMultiplier(const DownweightConfig& config, double score,
                            double threshold);

}  // namespace flsentry

#endif  // FLSENTRY_POLICY_THRESHOLDS_H_
