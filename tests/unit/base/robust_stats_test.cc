// RobustLowerLimit / RobustUpperLimit: the median -/+ k robust standard
// deviations (1.4826 x MAD), and NaN for no values.
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

}  // namespace
}  // namespace flsentry
