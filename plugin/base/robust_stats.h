// robust_stats.h — the robust statistics every layer uses: median, median
// absolute deviation and robust limits, plain and weighted. One
// implementation for the whole plugin. Pure functions; thread-safe.
#ifndef FLSENTRY_BASE_ROBUST_STATS_H_
#define FLSENTRY_BASE_ROBUST_STATS_H_

#include <vector>

namespace flsentry {

// Median of `values` (the mean of the middle two for an even count); NaN
// when empty. Takes a copy: reorders it.
double Median(std::vector<double> values);

// Median absolute deviation of `values` from `median` (unscaled); NaN when
// empty.
double MedianAbsoluteDeviation(const std::vector<double>& values,
                               double median);

// median + max(k robust standard deviations (1.4826 x MAD, the normal
// distribution's scale), min_width x |median|) of `values`; NaN when empty.
double RobustUpperLimit(const std::vector<double>& values, double k,
                        double min_width);

// median - k robust standard deviations (1.4826 x MAD) of `values`; NaN
// when empty.
double RobustLowerLimit(const std::vector<double>& values, double k);

// The weighted median of `values` (weights[i] > 0 each; a value of weight
// w counts as w values): the value at which the cumulative weight of the
// sorted values first reaches half the total, or the mean of it and the
// next one when it reaches exactly half (within 1e-9 of the total), so
// that unit weights give Median's result. NaN when empty. Reorders
// nothing it is given (sorts copies). REQUIRES: equal lengths.
double WeightedMedian(const std::vector<double>& values,
                      const std::vector<double>& weights);

// RobustUpperLimit(values, k, 0) with the median and the MAD weighted
// (WeightedMedian of the values, then of their absolute deviations).
double WeightedRobustUpperLimit(const std::vector<double>& values,
                                const std::vector<double>& weights, double k);

}  // namespace flsentry

#endif  // FLSENTRY_BASE_ROBUST_STATS_H_
