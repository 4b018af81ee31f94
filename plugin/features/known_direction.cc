#include "features/known_direction.h"

#include <algorithm>
#include <cmath>

namespace flsentry {
namespace {

// 1 / ||row||, or 0 for a zero or non-finite norm.
double InverseNorm(const float* row, int64_t dim) {
  double sq = 0.0;
  for (int64_t j = 0; j < dim; ++j) sq += static_cast<double>(row[j]) * row[j];
  return sq > 0.0 && std::isfinite(sq) ? 1.0 / std::sqrt(sq) : 0.0;
}

// <a, b> of two unit vectors in 8 float lanes (which the compiler can
// vectorise), summed in double: the O(known^2 x dim) part of
// KnownRowWeights.
double UnitDot(const float* a, const float* b, int64_t dim) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= dim; j += 8) {
    for (int k = 0; k < 8; ++k) lanes[k] += a[j + k] * b[j + k];
  }
  double dot = 0.0;
  for (float lane : lanes) dot += lane;
  for (; j < dim; ++j) dot += static_cast<double>(a[j]) * b[j];
  return dot;
}

}  // namespace

std::vector<double> KnownRowWeights(std::span<const float> rows, int64_t n,
                                    int64_t dim, std::span<const uint8_t> known,
                                    double min_cosine) {
  std::vector<double> weights(static_cast<size_t>(std::max<int64_t>(n, 0)),
                              0.0);
  if (n <= 0 || dim <= 0 || rows.size() != static_cast<size_t>(n * dim) ||
      known.size() != static_cast<size_t>(n)) {
    return weights;
  }
  std::vector<int64_t> members;  // known rows with a norm
  std::vector<double> inv_norm;
  for (int64_t i = 0; i < n; ++i) {
    if (known[i] == 0) continue;
    const double inv = InverseNorm(rows.data() + i * dim, dim);
    if (inv == 0.0) continue;
    members.push_back(i);
    inv_norm.push_back(inv);
  }
  const size_t m = members.size();
  if (static_cast<int64_t>(m) > kMaxGroupedRows) {
    for (int64_t i : members) weights[i] = 1.0;
    return weights;
  }
  // The members as unit vectors, so that the float lanes hold cosines
  // (whatever the rows' scale).
  const size_t width = static_cast<size_t>(dim);
  std::vector<float> units(m * width);
  for (size_t a = 0; a < m; ++a) {
    const float* r = rows.data() + members[a] * dim;
    for (size_t j = 0; j < width; ++j) {
      units[a * width + j] = static_cast<float>(r[j] * inv_norm[a]);
    }
  }
  std::vector<int> group(m, 1);  // itself
  for (size_t a = 0; a < m; ++a) {
    for (size_t b = a + 1; b < m; ++b) {
      if (UnitDot(&units[a * width], &units[b * width], dim) >= min_cosine) {
        ++group[a];
        ++group[b];
      }
    }
  }
  for (size_t a = 0; a < m; ++a) weights[members[a]] = 1.0 / group[a];
  return weights;
}

std::vector<double> WeightedLeaveOneOutAgreement(
    std::span<const float> rows, int64_t n, int64_t dim,
    std::span<const double> weights) {
  std::vector<double> out(static_cast<size_t>(std::max<int64_t>(n, 0)), NAN);
  if (n <= 0 || dim <= 0 || rows.size() != static_cast<size_t>(n * dim) ||
      weights.size() != static_cast<size_t>(n)) {
    return out;
  }
  std::vector<double> inv_norm(static_cast<size_t>(n));
  std::vector<double> sum(static_cast<size_t>(dim), 0.0);  // weighted units
  int64_t counted = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* r = rows.data() + i * dim;
    inv_norm[i] = InverseNorm(r, dim);
    if (inv_norm[i] == 0.0 || !(weights[i] > 0.0)) continue;
    const double scale = weights[i] * inv_norm[i];
    for (int64_t j = 0; j < dim; ++j) sum[j] += r[j] * scale;
    ++counted;
  }
  if (counted < 3) return out;
  double sum_sq = 0.0;
  for (double v : sum) sum_sq += v * v;
  for (int64_t i = 0; i < n; ++i) {
    if (inv_norm[i] == 0.0) continue;
    const float* r = rows.data() + i * dim;
    double dot = 0.0;  // <u_i, sum>
    for (int64_t j = 0; j < dim; ++j) dot += r[j] * inv_norm[i] * sum[j];
    // A counted row leaves its own share out: others = sum - w_i u_i, so
    // <u_i, others> = dot - w_i and ||others||^2 = sum_sq - 2 w_i dot + w_i^2.
    const double w = weights[i] > 0.0 ? weights[i] : 0.0;
    const double others_sq = sum_sq - 2.0 * w * dot + w * w;
    out[i] = others_sq > 1e-24 ? (dot - w) / std::sqrt(others_sq) : NAN;
  }
  return out;
}

}  // namespace flsentry
