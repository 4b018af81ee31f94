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

double WeightedMedian(const std::vector<double>& values,
                      const std::vector<double>& weights) {
  if (values.empty()) return NAN;
  std::vector<size_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return values[a] < values[b]; });
  double total = 0.0;
  for (double w : weights) total += w;
  const double half = total / 2;
  const double tolerance = 1e-9 * total;
  double cumulative = 0.0;
  for (size_t r = 0; r < order.size(); ++r) {
    cumulative += weights[order[r]];
    if (cumulative < half - tolerance) continue;
    const double value = values[order[r]];
    if (cumulative <= half + tolerance && r + 1 < order.size()) {
      return value + (values[order[r + 1]] - value) / 2;
    }
    return value;
  }
  return values[order.back()];
}

double WeightedRobustUpperLimit(const std::vector<double>& values,
                                const std::vector<double>& weights, double k) {
  const double median = WeightedMedian(values, weights);
  std::vector<double> deviations;
  deviations.reserve(values.size());
  for (double v : values) deviations.push_back(std::fabs(v - median));
  return median + k * kMadToSigma * WeightedMedian(deviations, weights);
}

double RobustLowerLimit(const std::vector<double>& values, double k) {
  const double median = Median(values);
  return median - k * (kMadToSigma * MedianAbsoluteDeviation(values, median));
}

}  // namespace flsentry
