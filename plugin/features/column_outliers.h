// column_outliers.h — how much of an update's energy lies in input columns of
// a dense layer that the rest of its round leaves quiet. A pixel-trigger
// backdoor (Bagdasaryan et al., AISTATS 2020; Neurotoxin, Zhang et al., ICML
// 2022) writes into the first layer's weights for the trigger's pixels,
// which honest training barely moves; a coordinate-wise median would
// discard that energy (it never learns such a backdoor), a mean takes it
// in. The policy's column guard (policy_config.h, ColumnGuardConfig) drops
// updates whose outlier share is too high.
//
// Definitions, for the profiled tensor W (ProfiledTensor; rows x cols,
// row-major: a PyTorch Linear weight [out_features, in_features], so a
// column is one input feature) of update i's delta:
//   column energy   e_ic = sum_r W_i[r, c]^2
//   column share    s_ic = e_ic / ||u_i||^2 (u_i: every selected tensor)
//   band            per column c, over the round's profiled updates: the
//                   median m_c and MAD_c of s_.c (weighted: near-copies
//                   count once); column c is an outlier of update i when
//                   s_ic > m_c + kColumnBandK x 1.4826 x MAD_c
//   outlier share   sum of s_ic over update i's outlier columns, in [0, 1].
//   peak share      the same sum over at most kPeakColumns of them, the
//                   largest: a trigger's energy lies in a few columns, the
//                   outlier energy of an honest member with unusual inputs
//                   (a class few others hold) in dozens to hundreds.
// Measured on Fashion-MNIST runs (docs/results/notes.md, "Backdoors"):
// outlier shares of honest updates 0.01-0.03 typical, the 99th percentile
// 0.06-0.27 by shape (Dirichlet 0.1 highest, at most 0.43), their peak
// shares at most 0.147 (MLP) and 0.163 (CNN); a 3 x 3 trigger's updates
// while the backdoor is not yet learned 0.15-0.6, most of it peak share
// (9-68 outlier columns, 16 the median). A 5 x 5 trigger's peak share is
// 0.08-0.28.
// No LibTorch; pure functions, thread-safe.
#ifndef FLSENTRY_FEATURES_COLUMN_OUTLIERS_H_
#define FLSENTRY_FEATURES_COLUMN_OUTLIERS_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "features/feature_extractor.h"

namespace flsentry {

// Widest profiled tensor (columns): bounds what one update's profile holds
// (256 KB) until its round is scored; a wider 2-D tensor is passed over.
inline constexpr int64_t kMaxProfileColumns = int64_t{1} << 16;
// Band half-width, in robust standard deviations (1.4826 x MAD).
inline constexpr double kColumnBandK = 5.0;
// Updates at least this close (cosine of their embeddings) are one voice
// in the band: the duplicate guard's level, which colluders sending one
// vector reach and honest updates do not (at most 0.90 on recorded runs).
// Not known_direction.h's 0.8: honest updates of an IID federation agree
// that closely, and as one group they would give a lone backdoor update
// as much say in the band as all of them.
inline constexpr double kColumnCopyCosine = 0.99;
// Columns summed into the peak share: a 3 x 3 pixel patch.
inline constexpr size_t kPeakColumns = 9;
// Fewer profiled updates in a round: no band, every share NaN.
inline constexpr size_t kMinColumnRound = 5;
// The band is estimated from at most this many profiled updates (every
// ceil(m / kMaxColumnBandRows)-th of m), bounding the round's cost at
// O(cols x kMaxColumnBandRows) plus O(cols) per update.
inline constexpr size_t kMaxColumnBandRows = 1024;

// Index into layout.tensors of the tensor whose input columns are
// profiled: the first qualifying one, of rank 2 with 2 to
// kMaxProfileColumns columns and at least 2 rows; -1 when there is none
// (the guard then abstains).
int ProfiledTensor(const FeatureLayout& layout);

// One update's measures above its round's band, each in [0, 1] or NaN.
struct ColumnOutliers {
  double share = NAN;       // outlier share
  double peak_share = NAN;  // peak share (<= share)
};

// Outlier and peak shares of a round's updates. energies[i]: update i's column
// energies (cols values; null or empty when not profiled), norms[i]: its
// L2 norm (the same selected coordinates), weights[i]: its weight in the
// band (> 0; KnownRowWeights with every update known, grouped at
// kColumnCopyCosine, so that colluders sending one vector are one voice:
// six identical sybils of ten would otherwise be the band, and every
// honest update out of it). Returns
// energies.size() values: NaNs for an update without a profile, a
// non-finite or zero norm, a weight <= 0 or not finite, or a profile of
// another length than the first one's, and for every update when fewer
// than kMinColumnRound have one. REQUIRES: equal lengths.
std::vector<ColumnOutliers> ColumnOutlierShares(
    std::span<const std::vector<float>* const> energies,
    std::span<const double> norms, std::span<const double> weights);

}  // namespace flsentry

#endif  // FLSENTRY_FEATURES_COLUMN_OUTLIERS_H_
