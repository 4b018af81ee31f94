// known_direction.h — UpdateScore::agreement: how each update of a round
// points against the mean direction of the round's *known* updates (those
// pointing their own clients' usual way), with colluding near-copies
// counted once.
//
// Sybils that send nearly the same update (IPM, min-sum, a filter-aware
// attacker whose step dwarfs its noise) and are counted among the known
// updates would otherwise pull the mean of unit vectors with one vote
// each, in one direction, while honest updates under label skew point in
// many: a few of them turn the "known" direction against the honest
// clients of a round. Each known row therefore weighs 1 / (the number of
// known rows whose cosine with it is at least kNearCopyCosine, itself
// included). 0.8 groups a filter-aware attacker's sybils (0.85-0.92 with
// each other in the benchmark's rounds where they set the direction; 0.9
// left some apart) and few honest
// updates (the largest cosine with another update of the round is above
// 0.8 for at most 4.4% of a shape's honest updates, Dirichlet 0.1 with 10
// a round), which it only reweighs among honest directions
// (docs/results/notes.md, "The oracle attack").
//
// Pure functions; thread-safe. No LibTorch.
#ifndef FLSENTRY_FEATURES_KNOWN_DIRECTION_H_
#define FLSENTRY_FEATURES_KNOWN_DIRECTION_H_

#include <cstdint>
#include <span>
#include <vector>

namespace flsentry {

// Known rows at least this close (cosine) are one group of near-copies.
inline constexpr double kNearCopyCosine = 0.8;
// Above this many known rows the groups are not looked for (every known
// row weighs 1): finding them costs O(known^2 x dim).
inline constexpr int64_t kMaxGroupedRows = 512;

// The weight of each of the n rows of `rows` (row-major, `dim` floats
// each) in the known direction: 0 for a row not known (known[i] == 0) or
// with a zero or non-finite norm; otherwise 1 / (the number of known rows
// with a norm whose cosine with it is >= min_cosine, itself included), or
// 1 when more than kMaxGroupedRows rows are known. (The column band,
// column_outliers.h, groups at its own kColumnCopyCosine.)
// REQUIRES: rows.size() == n * dim, known.size() == n.
std::vector<double> KnownRowWeights(std::span<const float> rows, int64_t n,
                                    int64_t dim, std::span<const uint8_t> known,
                                    double min_cosine = kNearCopyCosine);

// Cosine of each row with the weighted mean of the *other* rows' unit
// vectors (weights from KnownRowWeights; a row leaves its own share out).
// NaN for a row with a zero or non-finite norm, and for every row when
// fewer than 3 rows have a positive weight. Returns n values. f64
// accumulation, O(n x dim) beyond the weights.
// REQUIRES: rows.size() == n * dim, weights.size() == n.
std::vector<double> WeightedLeaveOneOutAgreement(
    std::span<const float> rows, int64_t n, int64_t dim,
    std::span<const double> weights);

}  // namespace flsentry

#endif  // FLSENTRY_FEATURES_KNOWN_DIRECTION_H_
