// RobustLowerLimit / RobustUpperLimit: the median -/+ k robust standard
// deviations (1.4826 x MAD), and NaN for no values; their weighted forms.
#include "base/robust_stats.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace flsentry {
namespace {

const std::vector<double> kValues = {1, 2, 3, 4, 100};  // median 3, MAD 1

TEST_CASE("robust limits: median -/+ k x 1.4826 x MAD") {
  CHECK(RobustLowerLimit(kValues, 2) == doctest::Approx(3 - 2 * 1.4826));
  CHECK(RobustUpperLimit(kValues, 2, 0) == doctest::Approx(3 + 2 * 1.4826));
  CHECK(RobustLowerLimit({5, 5, 5}, 4) == 5);  // no spread: the median
}

TEST_CASE("robust limits: min_width floors the upper limit's width") {
  CHECK(RobustUpperLimit(kValues, 1, 2) == doctest::Approx(3 + 2 * 3));
}

TEST_CASE("robust limits of nothing are NaN") {
  CHECK(std::isnan(RobustLowerLimit({}, 1)));
  CHECK(std::isnan(RobustUpperLimit({}, 1, 0)));
}

TEST_CASE("weighted median: unit weights give the median") {
  CHECK(WeightedMedian(kValues, {1, 1, 1, 1, 1}) == 3);
  CHECK(WeightedMedian({4, 1, 3, 2}, {1, 1, 1, 1}) == 2.5);
  CHECK(WeightedRobustUpperLimit(kValues, {1, 1, 1, 1, 1}, 2) ==
        RobustUpperLimit(kValues, 2, 0));
}

TEST_CASE("weighted median: a heavy value pulls it, light ones do not") {
  // Weight 3 of 5 on 100: the median is 100; spread as 1/3 each over three
  // copies of 100 among four values of weight 1, it is the middle value.
  CHECK(WeightedMedian({1, 2, 100}, {1, 1, 3}) == 100);
  CHECK(WeightedMedian({1, 2, 3, 4, 100, 100, 100},
                       {1, 1, 1, 1, 1.0 / 3, 1.0 / 3, 1.0 / 3}) == 3);
  // Exactly half the weight below: the mean of the two middle values.
  CHECK(WeightedMedian({1, 5}, {0.5, 0.5}) == 3);
  CHECK(std::isnan(WeightedMedian({}, {})));
}

}  // namespace
}  // namespace flsentry
