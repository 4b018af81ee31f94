#include "policy/thresholds.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace flsentry;

namespace {

ThresholdRule Rule(ThresholdKind kind) {
  ThresholdRule r;
  r.kind = kind;
  r.name = ThresholdKindName(kind);
  return r;
}

Calibration MakeCalibration() {
  Calibration c;
  c.count = 100;
  c.mean = 1.0;
  c.stddev = 0.5;
  c.quantiles = {{0.5, 1.0}, {0.9, 1.6}, {0.99, 2.0}, {1.0, 3.0}};
  return c;
}

}  // namespace

TEST_CASE("median and MAD") {
  CHECK(Median({3, 1, 2}) == 2);
  CHECK(Median({4, 1, 3, 2}) == 2.5);
  CHECK(std::isnan(Median({})));
  CHECK(MedianAbsoluteDeviation({1, 2, 3, 4, 100}, 3) == 1);
}

TEST_CASE("each rule kind gives its threshold or abstains") {
  const Calibration calib = MakeCalibration();
  const Calibration empty;
  const std::vector<double> scores = {1, 2, 3, 4, 100};  // median 3, MAD 1
  struct Case {
    const char* what;
    ThresholdRule rule;
    const Calibration* calibration;
    std::vector<double> scores;
    double expected;  // NaN: abstains
  };
  ThresholdRule fixed = Rule(ThresholdKind::kStatic);
  fixed.value = 7.5;
  ThresholdRule quantile = Rule(ThresholdKind::kCalibratedQuantile);
  quantile.level = 0.99;
  quantile.scale = 1.5;
  ThresholdRule interpolated = quantile;
  interpolated.level = 0.7;  // halfway 0.5 -> 0.9: 1.3
  interpolated.scale = 1.0;
  ThresholdRule mean_std = Rule(ThresholdKind::kCalibratedMeanStd);
  mean_std.k = 3;
  ThresholdRule robust = Rule(ThresholdKind::kRoundRobust);
  robust.k = 6;
  robust.min_relative_spread = 0;
  ThresholdRule robust_floor = robust;
  robust_floor.min_relative_spread = 0.5;  // spread max(1, 1.5) = 1.5
  const Case cases[] = {
      {"static", fixed, nullptr, scores, 7.5},
      {"quantile", quantile, &calib, scores, 3.0},
      {"quantile interpolated", interpolated, &calib, scores, 1.3},
      {"quantile without calibration", quantile, nullptr, scores, NAN},
      {"quantile with empty calibration", quantile, &empty, scores, NAN},
      {"mean + k std", mean_std, &calib, scores, 2.5},
      {"mean + k std without calibration", mean_std, &empty, scores, NAN},
      {"round robust", robust, nullptr, scores, 9.0},
      {"round robust, relative spread floor", robust_floor, nullptr, scores,
       12.0},
      {"round robust, too few scores", robust, nullptr, {1, 2, 3, 4}, NAN},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    ThresholdsConfig config;
    config.rules = {c.rule};
    RoundThresholds t = ComputeThresholds(config, c.scores, {}, c.calibration);
    REQUIRE(t.rules.size() == 1);
    CHECK(t.rules[0].name == c.rule.name);
    if (std::isnan(c.expected)) {
      CHECK(std::isnan(t.rules[0].value));
      CHECK(std::isnan(t.effective));
    } else {
      CHECK(t.rules[0].value == doctest::Approx(c.expected));
      CHECK(t.effective == doctest::Approx(c.expected));
    }
  }
}

TEST_CASE("round robust below min size pools recent rounds, newest first") {
  ThresholdRule robust = Rule(ThresholdKind::kRoundRobust);
  robust.k = 2;
  robust.min_round_size = 5;
  robust.history_rounds = 2;
  robust.min_relative_spread = 0;
  ThresholdsConfig config;
  config.rules = {robust};
  const std::deque<RoundScores> history = {
      {1, {100, 100, 100}}, {2, {10, 10}}, {3, {1, 1}}};
  // This round {1}: pools round 3 (3 scores), then round 2 (5) -> enough.
  const std::vector<double> round = {1};
  RoundThresholds t = ComputeThresholds(config, round, history, nullptr);
  CHECK(t.rules[0].sample_size == 5);
  // {1,1,1,10,10}: median 1, MAD 0 -> threshold 1.
  CHECK(t.effective == doctest::Approx(1.0));
  // Only 2 history rounds may be used: round 1 never is.
  robust.min_round_size = 7;
  config.rules = {robust};
  t = ComputeThresholds(config, round, history, nullptr);
  CHECK(t.rules[0].sample_size == 5);
  CHECK(std::isnan(t.effective));
  // A round that is big enough ignores history.
  const std::vector<double> big = {2, 2, 2, 2, 2, 2, 2};
  t = ComputeThresholds(config, big, history, nullptr);
  CHECK(t.rules[0].sample_size == 7);
  CHECK(t.effective == doctest::Approx(2.0));
}

TEST_CASE("any takes the lowest threshold, all the highest; abstainers skip") {
  ThresholdRule low = Rule(ThresholdKind::kStatic);
  low.name = "low";
  low.value = 1;
  ThresholdRule high = low;
  high.name = "high";
  high.value = 5;
  ThresholdRule abstains = Rule(ThresholdKind::kCalibratedMeanStd);
  struct Case {
    Combine combine;
    std::vector<ThresholdRule> rules;
    double expected;
  };
  const Case cases[] = {
      {Combine::kAny, {low, high}, 1},      {Combine::kAll, {low, high}, 5},
      {Combine::kAny, {abstains, high}, 5}, {Combine::kAll, {low, abstains}, 1},
      {Combine::kAll, {abstains}, NAN},     {Combine::kAny, {}, NAN},
  };
  for (const Case& c : cases) {
    ThresholdsConfig config;
    config.combine = c.combine;
    config.rules = c.rules;
    RoundThresholds t = ComputeThresholds(config, {}, {}, nullptr);
    CHECK(t.rules.size() == c.rules.size());
    if (std::isnan(c.expected)) {
      CHECK(std::isnan(t.effective));
    } else {
      CHECK(t.effective == c.expected);
    }
  }
}

TEST_CASE("down-weight multiplier: linear, exponential, floor") {
  DownweightConfig linear;
  linear.function = DownweightFunction::kLinear;
  linear.slope = 0.5;
  linear.floor = 0.2;
  DownweightConfig expo;
  expo.function = DownweightFunction::kExponential;
  expo.rate = 2;
  expo.floor = 0.1;
  struct Case {
    const DownweightConfig* config;
    double score, threshold, expected;
  };
  const Case cases[] = {
      {&linear, 1.0, 2.0, 1.0},   // below the threshold
      {&linear, 2.0, 2.0, 1.0},   // at the threshold
      {&linear, 3.0, 2.0, 0.75},  // excess 0.5
      {&linear, 4.0, 2.0, 0.5},   // excess 1
      {&linear, 20.0, 2.0, 0.2},  // floor
      {&expo, 3.0, 2.0, std::exp(-1.0)},
      {&expo, 1e300, 2.0, 0.1},
      {&expo, 1.0, -1.0, 0.1},  // t <= 0: absolute excess 2 -> e^-4 < floor
      {&expo, 0.25, 0.0, std::exp(-0.5)},
  };
  for (const Case& c : cases) {
    CAPTURE(c.score);
    CHECK(DownweightMultiplier(*c.config, c.score, c.threshold) ==
          doctest::Approx(c.expected));
  }
}

TEST_CASE("round_ratio: k times the round's median, unmoved by a minority") {
  ThresholdRule rule = Rule(ThresholdKind::kRoundRatio);
  rule.k = 2.0;
  ThresholdsConfig config;
  config.rules = {rule};
  const std::deque<RoundScores> none;
  // Four of ten far off do not move the median.
  const std::vector<double> scores = {1, 1, 1, 1.1, 0.9, 1, 50, 60, 70, 80};
  CHECK(ComputeThresholds(config, scores, none, nullptr).effective ==
        doctest::Approx(2.0 * 1.05));
  // Small rounds pool earlier rounds like round_robust; else abstain.
  const std::vector<double> small = {4, 4};
  CHECK(std::isnan(ComputeThresholds(config, small, none, nullptr).effective));
  const std::deque<RoundScores> history = {{1, {1, 1, 1}}};
  CHECK(ComputeThresholds(config, small, history, nullptr).effective ==
        doctest::Approx(2.0));
}
