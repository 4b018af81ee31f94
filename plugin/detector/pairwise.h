// pairwise.h — each row's highest cosine similarity to another row of the
// same round (UpdateScore::max_similarity: the duplicate guard's signal, a
// term of the policy's suspicion and the audit log's `max_similarity`).
// Internal to detector/.
//
// Shapes and units: `data` holds `rows` rows of `dim` floats, row-major (a
// round's embeddings); the result holds `rows` cosines in [-1, 1] (double),
// NaN for a row with no other row to compare with: fewer than 2 rows, or a
// row whose norm is 0 (and, on the bucketed path, not finite); such a row
// is also no other row's partner. Every reported value is the cosine of a
// real pair, computed for that pair exactly as the exact path computes it:
//   dot = +0.0; for i = 0 .. dim-1: dot += double(x[i]) * double(y[i]);
//   cosine = dot / (norm(x) * norm(y)),   norm(v) = sqrt(sum of v[i]^2)
// with the sums in increasing i (products of two floats are exact in
// double; only the sums round). The maximum over a row's partners is taken
// in increasing partner order, NaN-aware, as the quadratic loop of
// detector.cc did before this module.
//
// Two paths (MaxCosineSimilarity chooses by `rows`):
//  * Exact, rows <= kExactMaxRows (512): every pair. Bit for bit the
//    values of the quadratic loop this module replaced, so every decision
//    and audit line of a round of up to 512 updates is unchanged (every
//    test, replay and benchmark protocol round: at most 100). O(rows^2
//    dim), vectorised across pairs (each pair's sum keeps its order) on the
//    widest of SSE2 / AVX2 / AVX-512 the CPU has. On one core of the build
//    machine (AVX-512, load ~3), rows of 1024: 0.016 s at 512 rows against
//    0.109 s for the scalar loop (0.45 s at 1,000). 512 is where the two
//    paths cost the same (bucketed: 0.019 s); above, the bucketed one wins
//    (0.033 s at 1,000 rows, 0.062 s at 2,000, 0.33 s at 10,000, where the
//    scalar loop would take ~45 s).
//  * Bucketed, rows > kExactMaxRows: random-hyperplane LSH (SimHash) on the
//    rows centred in direction space (each row scaled to unit length, minus
//    the mean of the unit rows, so that a round whose updates share one
//    direction still spreads over the buckets). Each row gets a code of
//    kPoolBits = 256 signs against Gaussian hyperplanes; kTables = 96
//    tables, each keyed by D bits drawn from the code without replacement,
//    D = clamp(floor(log2 rows) - 2, 8, 12) (random rows: 4-8 per bucket).
//    Within a bucket each row is paired with the next kWindow = 16 rows in
//    the order of 8 further bits of the table (all pairs of a bucket of up
//    to 17 rows; a bigger one, from a crowded round, costs no more); in the
//    first table each row is also paired with its successor, so that every
//    row with a usable norm is paired. Of the pairs a table makes, those
//    whose codes differ in at most kMaxSeparatingBits = 96 bits (estimated
//    angle <= 0.375 pi: centred cosine above ~0.38) get the exact double
//    cosine above, and so does each row's paired partner with the fewest
//    differing bits (ties: the smaller index); no other. Cost: O(rows * dim
//    * 256) for the codes, O(kTables * rows * (log rows + kWindow)) for the
//    tables, and dim doubles per computed pair: about rows + (near pairs).
//
// What the bucketed path promises. A reported value is a real pair's
// cosine, so never above the row's true maximum. A pair is computed when it
// shares a bucket in some table, lies within the window there, and its
// codes differ in at most 96 bits. For a pair whose cosine *after
// centring* is c, each code bit separates it with probability q = acos(c) /
// pi; given the number m of bits that separate it (Binomial(256, q)), the
// tables are independent, and the pair is missed with probability
//   sum over m of Binomial(m; 256, q) * (m > 96 ? 1 :
//                                  (1 - C(256 - m, D) / C(256, D))^96)
// (PairwiseMissProbability; the tests check these values):
//   c >= 0.95: miss <= 1e-8 at D = 11 (D = 12: 8e-8; D = 8: 4e-13)
//   c >= 0.90: miss <= 2e-5 at D = 11 (D = 12: 6e-5; D = 8: 4e-9)
//   c >= 0.85: miss <= 5e-4 at D = 11 (D = 12: 2e-3)
// (D = 8 for 513-2,047 rows, 9, 10, 11 for 8,192-16,383, 12 above)
// for a pair in buckets of at most kWindow + 1 rows. Centring changes a
// pair's cosine: for two rows of equal norm whose unit vectors lie equally
// far from the round's mean unit vector m the centred cosine is
// 1 - (1 - c) / (1 - |m|^2). For spread-out updates |m| is near 0 and the
// centred cosine is the raw one: a near-duplicate (c >= 0.99, the shipped
// limit) is all but certain to be found. When every update of the round
// points one way (|m|^2 = 0.9: raw cosines around 0.9 between honest
// updates) a pair at the shipped limit 0.99 is at centred 0.9 (miss <=
// 2e-5 per pair), and honest pairs spread over the buckets instead of
// filling one. A row none of whose near partners is found reports the best
// cosine among the pairs computed for it (at least one when the round has
// two usable rows): a lower bound, so a round with no near-duplicate never
// gets a value above the limit; for unrelated rows it is typically below
// the true maximum (0.04 instead of 0.10 for random rows of 1024), which
// moves a suspicion by the duplicate term's 0.01 / (1 - cosine) only.
//
// Determinism: the hyperplanes and the tables' bits come from a seed that
// is a fingerprint of `data` (base/hash.h; a client cannot shape its update
// against hyperplanes it cannot know before the round), drawn with integer
// arithmetic and a logarithm of this module's own (no libm), and the
// projections use the fixed-order float kernels of dense_kernels.h; pairs
// are sorted before they are computed and reduced. So the result is a
// function of (data, rows, dim) alone: the same on every x86-64 CPU and for
// every thread count.
//
// Threading: up to `threads` plain threads work on disjoint rows, tables
// or blocks of hyperplanes (each block drawn from its own seed, itself
// drawn from the fingerprint's stream); the function is pure and
// thread-safe. Never throws: on memory
// exhaustion inside a worker the error is returned.
#ifndef FLSENTRY_DETECTOR_PAIRWISE_H_
#define FLSENTRY_DETECTOR_PAIRWISE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace flsentry {

inline constexpr int64_t kExactMaxRows = 512;

// The bucketed path's parameters (documented above).
inline constexpr int kPoolBits = 256;
inline constexpr int kTables = 96;
inline constexpr int kWindow = 16;
inline constexpr int kMaxSeparatingBits = 96;

// Bits per table key for `rows` rows: clamp(floor(log2 rows) - 2, 8, 12).
int PairwiseTableBits(int64_t rows);

// Each row's highest cosine to another row (contract above).
// REQUIRES: rows >= 0, dim >= 1, data.size() == rows * dim.
Result<std::vector<double>> MaxCosineSimilarity(std::span<const float> data,
                                                int64_t rows, int64_t dim,
                                                int threads);

// The quadratic reference on every row count, single-threaded: the values
// of the exact path, for tests and benchmarks. O(rows^2 dim).
std::vector<double> MaxCosineSimilarityExact(std::span<const float> data,
                                             int64_t rows, int64_t dim);

// The bucketed path on any row count (MaxCosineSimilarity takes it above
// kExactMaxRows only), so tests can run it on small rounds.
Result<std::vector<double>> MaxCosineSimilarityBucketed(
    std::span<const float> data, int64_t rows, int64_t dim, int threads);

// The probability that the bucketed path's tables miss a pair of centred
// cosine `cosine` with `table_bits` bits per table (formula above).
double PairwiseMissProbability(double cosine, int table_bits);

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_PAIRWISE_H_
