#include "policy/thresholds.h"

#include <algorithm>
#include <cmath>

namespace flsentry {

namespace {

// round_robust and round_ratio: the round's scores, pooled with earlier
// rounds' when the round is small.
RuleThreshold RoundRelative(const ThresholdRule& rule,
                            std::span<const double> round_scores,
                            const std::deque<RoundScores>& history) {
  RuleThreshold out{rule.name, NAN, 0};
  std::vector<double> pool(round_scores.begin(), round_scores.end());
  const size_t needed = static_cast<size_t>(rule.min_round_size);
  int pooled_rounds = 0;
  for (auto it = history.rbegin();
       pool.size() < needed && it != history.rend() &&
       pooled_rounds < rule.history_rounds;
       ++it, ++pooled_rounds) {
    pool.insert(pool.end(), it->scores.begin(), it->scores.end());
  }
  out.sample_size = static_cast<int64_t>(pool.size());
  if (pool.size() < needed) return out;
  const double median = Median(pool);
  if (rule.kind == ThresholdKind::kRoundRatio) {
    out.value = rule.k * median;
    return out;
  }
  const double mad = MedianAbsoluteDeviation(pool, median);
  const double spread =
      std::max(mad, rule.min_relative_spread * std::fabs(median));
  out.value = median + rule.k * spread;
  return out;
}

RuleThreshold Evaluate(const ThresholdRule& rule,
                       std::span<const double> round_scores,
                       const std::deque<RoundScores>& history,
                       const Calibration* calibration) {
  RuleThreshold out{rule.name, NAN, 0};
  switch (rule.kind) {
    case ThresholdKind::kStatic:
      out.value = rule.value;
      break;
    case ThresholdKind::kCalibratedQuantile:
      if (calibration != nullptr) {
        out.value = rule.scale * calibration->Quantile(rule.level);
      }
      break;
    case ThresholdKind::kCalibratedMeanStd:
      if (calibration != nullptr && calibration->count > 0 &&
          std::isfinite(calibration->mean) &&
          std::isfinite(calibration->stddev)) {
        out.value = calibration->mean + rule.k * calibration->stddev;
      }
      break;
    case ThresholdKind::kRoundRobust:
    case ThresholdKind::kRoundRatio:
      out = RoundRelative(rule, round_scores, history);
      break;
  }
  if (!std::isfinite(out.value)) out.value = NAN;
  return out;
}

}  // namespace

RoundThresholds ComputeThresholds(const ThresholdsConfig& config,
                                  std::span<const double> round_scores,
                                  const std::deque<RoundScores>& history,
                                  const Calibration* calibration) {
  RoundThresholds out;
  for (const ThresholdRule& rule : config.rules) {
    RuleThreshold t = Evaluate(rule, round_scores, history, calibration);
    if (!std::isnan(t.value)) {
      if (std::isnan(out.effective)) {
        out.effective = t.value;
      } else if (config.combine == Combine::kAny) {
        out.effective = std::min(out.effective, t.value);
      } else {
        out.effective = std::max(out.effective, t.value);
      }
    }
    out.rules.push_back(std::move(t));
  }
  return out;
}

double DownweightMultiplier(const DownweightConfig& config, double score,
                            double threshold) {
  if (!(score > threshold)) return 1.0;
  const double excess =
      threshold > 0 ? (score - threshold) / threshold : score - threshold;
  double w = config.function == DownweightFunction::kLinear
                 ? 1.0 - config.slope * excess
                 : std::exp(-config.rate * excess);
  if (!std::isfinite(w)) w = 0.0;
  return std::clamp(w, config.floor, 1.0);
}

}  // namespace flsentry
