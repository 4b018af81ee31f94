#include "base/robust_stats.h"

#include <algorithm>
#include <cmath>

namespace flsentry {
namespace {

// MAD x this estimates the standard deviation of a normal distribution.
constexpr double kMadToSigma = 1.4826;

}  // namespace

double Median(std::vector<double> values) {
  if (values.empty()) return NAN;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + mid);
  return lower + (upper - lower) / 2;
}

double MedianAbsoluteDeviation(const std::vector<double>& values,
                               double median) {
  std::vector<double> deviations;
  deviations.reserve(values.size());
  for (double v : values) deviations.push_back(std::fabs(v - median));
  return Median(std::move(deviations));
}

double RobustUpperLimit(const std::vector<double>& values, double k,
                        double min_width) {
  const double median = Median(values);
  const double mad = MedianAbsoluteDeviation(values, median);
  return median +
         std::max(k * kMadToSigma * mad, min_width * std::fabs(median));
}

double RobustLowerLimit(const std::vector<double>& values, double k) {
  const double median = Median(values);
  return median - k * (kMadToSigma * MedianAbsoluteDeviation(values, median));
}

}  // namespace flsentry
