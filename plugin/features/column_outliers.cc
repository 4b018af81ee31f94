#include "features/column_outliers.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "base/robust_stats.h"

namespace flsentry {

int ProfiledTensor(const FeatureLayout& layout) {
  for (size_t i = 0; i < layout.tensors.size(); ++i) {
    const std::vector<int64_t>& shape = layout.tensors[i].shape;
    if (shape.size() == 2 && shape[0] >= 2 && shape[1] >= 2 &&
        shape[1] <= kMaxProfileColumns) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::vector<ColumnOutliers> ColumnOutlierShares(
    std::span<const std::vector<float>* const> energies,
    std::span<const double> norms, std::span<const double> weights) {
  const size_t n = energies.size();
  std::vector<ColumnOutliers> out(n);
  // The updates with a usable profile, all of one length.
  std::vector<size_t> rows;
  size_t cols = 0;
  for (size_t i = 0; i < n; ++i) {
    const std::vector<float>* e = energies[i];
    if (!e || e->empty() || !std::isfinite(norms[i]) || norms[i] <= 0 ||
        !(weights[i] > 0) || !std::isfinite(weights[i])) {
      continue;
    }
    if (cols == 0) cols = e->size();
    if (e->size() == cols) rows.push_back(i);
  }
  if (rows.size() < kMinColumnRound) return out;
  const size_t stride =
      (rows.size() + kMaxColumnBandRows - 1) / kMaxColumnBandRows;
  auto share = [&](size_t i, size_t c) {
    return static_cast<double>((*energies[i])[c]) / (norms[i] * norms[i]);
  };
  std::vector<double> band_weights;
  for (size_t r = 0; r < rows.size(); r += stride) {
    band_weights.push_back(weights[rows[r]]);
  }
  std::vector<double> limit(cols);
  std::vector<double> column;
  for (size_t c = 0; c < cols; ++c) {
    column.clear();
    for (size_t r = 0; r < rows.size(); r += stride) {
      column.push_back(share(rows[r], c));
    }
    limit[c] = WeightedRobustUpperLimit(column, band_weights, kColumnBandK);
  }
  std::vector<double> outlying;
  for (size_t i : rows) {
    outlying.clear();
    for (size_t c = 0; c < cols; ++c) {
      const double s = share(i, c);
      if (s > limit[c]) outlying.push_back(s);
    }
    const size_t peak = std::min(kPeakColumns, outlying.size());
    std::partial_sort(outlying.begin(), outlying.begin() + peak, outlying.end(),
                      std::greater<>());
    out[i].share = std::accumulate(outlying.begin(), outlying.end(), 0.0);
    out[i].peak_share =
        std::accumulate(outlying.begin(), outlying.begin() + peak, 0.0);
  }
  return out;
}

}  // namespace flsentry
