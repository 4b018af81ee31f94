// This file is compiled with -ffp-contract=off (plugin/detector/
// CMakeLists.txt): a product and a sum are never fused, so every path and
// instruction set computes a pair's cosine with the same roundings
// (pairwise.h).
#include "detector/pairwise.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <exception>
#include <new>
#include <numbers>
#include <string>

#include "base/hash.h"
#include "base/parallel.h"
#include "detector/dense_kernels.h"
#include "detector/simhash.h"

namespace flsentry {
namespace {

#define FLS_PAIRWISE_INLINE inline __attribute__((always_inline))

// GCC vector types: element-wise IEEE double arithmetic at any width.
typedef double D2 __attribute__((vector_size(16)));
typedef double D4 __attribute__((vector_size(32)));
typedef double D8 __attribute__((vector_size(64)));

constexpr int kPanel = 8;       // partner rows per panel of the exact path
constexpr int kOrderBits = 8;   // bits ordering the rows inside a bucket
constexpr int kCandidates = 8;  // pairs one candidate kernel call computes

// Each row's norm as the quadratic loop computed it: sqrt of the sum of
// squares in increasing order (rows on `threads` threads, each row's sum
// on one: the same bits at any thread count).
Result<std::vector<double>> Norms(std::span<const float> data, int64_t rows,
                                  int64_t dim, int threads) {
  std::vector<double> norms(static_cast<size_t>(rows));
  FLS_RETURN_IF_ERROR(
      ParallelFor(static_cast<size_t>(rows), threads, [&](size_t r) {
        double s = 0;
        for (const float v : data.subspan(r * dim, dim)) s += double{v} * v;
        norms[r] = std::sqrt(s);
      }));
  return norms;
}

// ---- exact path -----------------------------------------------------------

// out[r * kPanel + j] = sum over i in increasing order of
// double(x[r][i]) * panel[i * kPanel + j], for r < MR: each lane one pair's
// sum, in the scalar loop's order.
template <typename V, int MR>
FLS_PAIRWISE_INLINE void PanelTile(const float* const* x, const double* panel,
                                   int64_t dim, double* out) {
  constexpr int kL = static_cast<int>(sizeof(V) / sizeof(double));
  constexpr int kNV = kPanel / kL;
  V acc[MR][kNV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < kNV; ++v) acc[r][v] = V{};
  for (int64_t i = 0; i < dim; ++i) {
    V p[kNV];
#pragma GCC unroll 8
    for (int v = 0; v < kNV; ++v)
      std::memcpy(&p[v], panel + i * kPanel + v * kL, sizeof(V));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const double xr = x[r][i];
#pragma GCC unroll 8
      for (int v = 0; v < kNV; ++v) acc[r][v] += p[v] * xr;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < kNV; ++v)
      std::memcpy(out + r * kPanel + v * kL, &acc[r][v], sizeof(V));
}

// The dots of rows [0, a_end) against one panel, MR rows at a time.
template <typename V, int MR>
FLS_PAIRWISE_INLINE void PanelRows(const float* data, int64_t dim,
                                   int64_t a_end, const double* panel,
                                   double* dots) {
  int64_t a = 0;
  const float* x[MR];
  for (; a + MR <= a_end; a += MR) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) x[r] = data + (a + r) * dim;
    PanelTile<V, MR>(x, panel, dim, dots + a * kPanel);
  }
  for (; a < a_end; ++a) {
    x[0] = data + a * dim;
    PanelTile<V, 1>(x, panel, dim, dots + a * kPanel);
  }
}

void PanelRowsBaseline(const float* data, int64_t dim, int64_t a_end,
                       const double* panel, double* dots) {
  PanelRows<D2, 2>(data, dim, a_end, panel, dots);
}
__attribute__((target("avx2"))) void PanelRowsAvx2(const float* data,
                                                   int64_t dim, int64_t a_end,
                                                   const double* panel,
                                                   double* dots) {
  PanelRows<D4, 4>(data, dim, a_end, panel, dots);
}
__attribute__((target("avx512f"))) void PanelRowsAvx512(const float* data,
                                                        int64_t dim,
                                                        int64_t a_end,
                                                        const double* panel,
                                                        double* dots) {
  PanelRows<D8, 4>(data, dim, a_end, panel, dots);
}

void PanelRowsOn(KernelIsa isa, const float* data, int64_t dim, int64_t a_end,
                 const double* panel, double* dots) {
  switch (isa) {
    case KernelIsa::kAvx512:
      return PanelRowsAvx512(data, dim, a_end, panel, dots);
    case KernelIsa::kAvx2:
      return PanelRowsAvx2(data, dim, a_end, panel, dots);
    case KernelIsa::kBaseline:
      break;
  }
  PanelRowsBaseline(data, dim, a_end, panel, dots);
}

// cosines[a * rows + b] for every a < b with both norms nonzero, one panel
// of kPanel partners b per item.
Status ExactCosines(std::span<const float> data, int64_t rows, int64_t dim,
                    const std::vector<double>& norms, int threads,
                    std::vector<double>* cosines) {
  cosines->assign(static_cast<size_t>(rows * rows), 0.0);
  const KernelIsa isa = ChooseKernelIsa();
  const int64_t panels = (rows + kPanel - 1) / kPanel;
  return ParallelFor(static_cast<size_t>(panels), threads, [&](size_t item) {
    const int64_t b0 = static_cast<int64_t>(item) * kPanel;
    const int64_t b_end = std::min(rows, b0 + kPanel);
    std::vector<double> panel(static_cast<size_t>(dim * kPanel), 0.0);
    for (int64_t b = b0; b < b_end; ++b) {
      for (int64_t i = 0; i < dim; ++i)
        panel[i * kPanel + (b - b0)] = data[b * dim + i];
    }
    std::vector<double> dots(static_cast<size_t>(b_end * kPanel));
    PanelRowsOn(isa, data.data(), dim, b_end, panel.data(), dots.data());
    for (int64_t a = 0; a < b_end; ++a) {
      for (int64_t b = std::max(a + 1, b0); b < b_end; ++b) {
        if (norms[a] == 0 || norms[b] == 0) continue;
        (*cosines)[a * rows + b] =
            dots[a * kPanel + (b - b0)] / (norms[a] * norms[b]);
      }
    }
  });
}

// ---- bucketed path: centred rows ------------------------------------------

// The rows in direction space, centred: row / norm - mean of the usable
// unit rows, as float; unusable rows (norm 0 or not finite) stay 0. The
// mean is summed per column over the rows in order (columns in blocks on
// `threads` threads), the same bits at any thread count.
Result<std::vector<float>> CentredRows(std::span<const float> data,
                                       int64_t rows, int64_t dim,
                                       const std::vector<double>& norms,
                                       const std::vector<char>& usable,
                                       int threads) {
  constexpr int64_t kBlock = 64;  // columns per item
  const auto count = static_cast<double>(
      std::max<int64_t>(std::count(usable.begin(), usable.end(), 1), 1));
  std::vector<double> mean(static_cast<size_t>(dim), 0.0);
  FLS_RETURN_IF_ERROR(ParallelFor(
      static_cast<size_t>((dim + kBlock - 1) / kBlock), threads, [&](size_t b) {
        const int64_t first = static_cast<int64_t>(b) * kBlock;
        const int64_t end = std::min(dim, first + kBlock);
        for (int64_t r = 0; r < rows; ++r) {
          if (!usable[r]) continue;
          for (int64_t i = first; i < end; ++i)
            mean[i] += data[r * dim + i] / norms[r];
        }
        for (int64_t i = first; i < end; ++i) mean[i] /= count;
      }));
  std::vector<float> out(static_cast<size_t>(rows * dim), 0.0f);
  FLS_RETURN_IF_ERROR(
      ParallelFor(static_cast<size_t>(rows), threads, [&](size_t r) {
        if (!usable[r]) return;
        for (int64_t i = 0; i < dim; ++i) {
          out[r * dim + i] =
              static_cast<float>(data[r * dim + i] / norms[r] - mean[i]);
        }
      }));
  return out;
}

// ---- bucketed path: tables and candidate pairs ----------------------------

uint64_t PairKey(int64_t a, int64_t b) {
  return (static_cast<uint64_t>(std::min(a, b)) << 32) |
         static_cast<uint64_t>(std::max(a, b));
}

// Pool bits that separate rows a and b.
FLS_PAIRWISE_INLINE int Separating(const std::vector<uint64_t>& bits, int64_t a,
                                   int64_t b) {
  constexpr int kWords = kPoolBits / 64;
  int count = 0;
  for (int w = 0; w < kWords; ++w)
    count += std::popcount(bits[a * kWords + w] ^ bits[b * kWords + w]);
  return count;
}

// What some tables found: pairs separated by at most kMaxSeparatingBits
// pool bits, and each row's candidate separated by the fewest (packed as
// bits << 32 | partner, so that the minimum takes the smallest partner among
// equals; ~0 for none).
struct TableFinds {
  std::vector<uint64_t> near;     // PairKey, sorted, distinct
  std::vector<uint64_t> nearest;  // one per row
};

// Adds one table's candidates to *finds: the rows sorted by `table_bits` +
// kOrderBits pool bits drawn for this table; each row paired with the next
// kWindow in its bucket (the same first table_bits bits), and in table 0
// with its successor too.
FLS_PAIRWISE_INLINE void AddTableImpl(const std::vector<uint64_t>& bits,
                                      const std::vector<int64_t>& usable_rows,
                                      int table, int table_bits, uint64_t seed,
                                      TableFinds* finds) {
  constexpr int kWords = kPoolBits / 64;
  const int key_bits = table_bits + kOrderBits;
  int pool[kPoolBits];
  for (int h = 0; h < kPoolBits; ++h) pool[h] = h;
  SplitMix64 stream(seed ^ (0x5851f42d4c957f2dULL * (table + 1)));
  for (int j = 0; j < key_bits; ++j) {  // partial Fisher-Yates
    const int pick = j + static_cast<int>(stream.Next() % (kPoolBits - j));
    std::swap(pool[j], pool[pick]);
  }
  std::vector<std::pair<uint32_t, int64_t>> keyed;
  keyed.reserve(usable_rows.size());
  for (const int64_t r : usable_rows) {
    uint32_t key = 0;
    for (int j = 0; j < key_bits; ++j) {
      const int h = pool[j];
      key = (key << 1) | ((bits[r * kWords + h / 64] >> (h % 64)) & 1);
    }
    keyed.emplace_back(key, r);
  }
  std::sort(keyed.begin(), keyed.end());
  auto offer = [&](int64_t a, int64_t b) {
    const auto separating = static_cast<uint64_t>(Separating(bits, a, b));
    if (separating <= kMaxSeparatingBits) finds->near.push_back(PairKey(a, b));
    uint64_t& na = finds->nearest[a];
    uint64_t& nb = finds->nearest[b];
    na = std::min(na, separating << 32 | static_cast<uint64_t>(b));
    nb = std::min(nb, separating << 32 | static_cast<uint64_t>(a));
  };
  const size_t n = keyed.size();
  for (size_t p = 0; p < n; ++p) {
    const uint32_t bucket = keyed[p].first >> kOrderBits;
    const size_t end = std::min(n, p + 1 + kWindow);
    size_t q = p + 1;
    for (; q < end && (keyed[q].first >> kOrderBits) == bucket; ++q)
      offer(keyed[p].second, keyed[q].second);
    if (table == 0 && q == p + 1 && q < n)
      offer(keyed[p].second, keyed[q].second);
  }
}

// AddTableImpl compiled twice, chosen as the exact path's kernels are
// (ChooseKernelIsa, so FLSENTRY_KERNEL_ISA=baseline runs the baseline
// one): with the POPCNT instruction for the pool-bit distances on the AVX2
// and AVX-512 paths (every AVX2 CPU has it), and for baseline x86-64,
// where std::popcount is a library call. Same results.
__attribute__((target("popcnt"))) void AddTablePopcnt(
    const std::vector<uint64_t>& bits, const std::vector<int64_t>& usable_rows,
    int table, int table_bits, uint64_t seed, TableFinds* finds) {
  AddTableImpl(bits, usable_rows, table, table_bits, seed, finds);
}
void AddTableBaseline(const std::vector<uint64_t>& bits,
                      const std::vector<int64_t>& usable_rows, int table,
                      int table_bits, uint64_t seed, TableFinds* finds) {
  AddTableImpl(bits, usable_rows, table, table_bits, seed, finds);
}
void AddTableOn(KernelIsa isa, const std::vector<uint64_t>& bits,
                const std::vector<int64_t>& usable_rows, int table,
                int table_bits, uint64_t seed, TableFinds* finds) {
  if (isa == KernelIsa::kBaseline) {
    return AddTableBaseline(bits, usable_rows, table, table_bits, seed, finds);
  }
  AddTablePopcnt(bits, usable_rows, table, table_bits, seed, finds);
}

// The sorted, distinct pairs to compute: every near pair of every table and
// every row's nearest candidate.
Result<std::vector<uint64_t>> CandidatePairs(
    const std::vector<uint64_t>& bits, int64_t rows,
    const std::vector<int64_t>& usable_rows, int table_bits, uint64_t seed,
    int threads) {
  // Part p takes the tables t = p, p + parts, ...: the union and the
  // minimum do not depend on how the tables are split.
  const int parts = std::clamp(threads, 1, kTables);
  const KernelIsa isa = ChooseKernelIsa();
  std::vector<TableFinds> finds(static_cast<size_t>(parts));
  FLS_RETURN_IF_ERROR(ParallelFor(parts, threads, [&](size_t part) {
    TableFinds& f = finds[part];
    f.nearest.assign(static_cast<size_t>(rows), ~uint64_t{0});
    for (int t = static_cast<int>(part); t < kTables; t += parts)
      AddTableOn(isa, bits, usable_rows, t, table_bits, seed, &f);
    std::sort(f.near.begin(), f.near.end());
    f.near.erase(std::unique(f.near.begin(), f.near.end()), f.near.end());
  }));
  std::vector<uint64_t> pairs;
  for (int64_t r = 0; r < rows; ++r) {
    uint64_t nearest = ~uint64_t{0};
    for (const TableFinds& f : finds) nearest = std::min(nearest, f.nearest[r]);
    if (nearest != ~uint64_t{0})
      pairs.push_back(PairKey(r, static_cast<int64_t>(nearest & 0xffffffffu)));
  }
  for (TableFinds& f : finds) {
    pairs.insert(pairs.end(), f.near.begin(), f.near.end());
    std::vector<uint64_t>().swap(f.near);
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  return pairs;
}

// out[j] = dot(x, y[j]) for j < J, each in the exact path's order; J
// independent sums interleaved.
template <int J>
void CandidateDots(const float* x, const float* const* y, int64_t dim,
                   double* out) {
  double acc[J] = {};
  for (int64_t i = 0; i < dim; ++i) {
    const double xi = x[i];
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j) acc[j] += xi * y[j][i];
  }
  for (int j = 0; j < J; ++j) out[j] = acc[j];
}

// The cosine of each pair of `pairs` (sorted by their first row).
Result<std::vector<double>> PairCosines(std::span<const float> data,
                                        int64_t rows, int64_t dim,
                                        const std::vector<double>& norms,
                                        const std::vector<uint64_t>& pairs,
                                        int threads) {
  // start[a]: the first pair whose first row is a or later.
  std::vector<size_t> start(static_cast<size_t>(rows) + 1);
  for (int64_t a = 0; a <= rows; ++a) {
    start[a] =
        static_cast<size_t>(std::lower_bound(pairs.begin(), pairs.end(),
                                             static_cast<uint64_t>(a) << 32) -
                            pairs.begin());
  }
  std::vector<double> cosines(pairs.size());
  FLS_RETURN_IF_ERROR(
      ParallelFor(static_cast<size_t>(rows), threads, [&](size_t a) {
        const float* x = data.data() + a * dim;
        const float* y[kCandidates];
        double dots[kCandidates];
        for (size_t p = start[a]; p < start[a + 1]; p += kCandidates) {
          const size_t m = std::min<size_t>(kCandidates, start[a + 1] - p);
          for (size_t j = 0; j < m; ++j)
            y[j] = data.data() + (pairs[p + j] & 0xffffffffu) * dim;
          if (m == kCandidates) {
            CandidateDots<kCandidates>(x, y, dim, dots);
          } else {
            for (size_t j = 0; j < m; ++j)
              CandidateDots<1>(x, y + j, dim, dots + j);
          }
          for (size_t j = 0; j < m; ++j) {
            const size_t b = pairs[p + j] & 0xffffffffu;
            cosines[p + j] = dots[j] / (norms[a] * norms[b]);
          }
        }
      }));
  return cosines;
}

// Keeps, for row r, the largest cosine and among equal ones the smallest
// partner, NaN-aware: the value the exact path's in-order scan ends with.
void Offer(std::vector<double>& best, std::vector<int64_t>& partner, int64_t r,
           int64_t other, double cosine) {
  if (std::isnan(best[r]) || cosine > best[r] ||
      (cosine == best[r] && other < partner[r])) {
    best[r] = cosine;
    partner[r] = other;
  }
}

Result<std::vector<double>> Bucketed(std::span<const float> data, int64_t rows,
                                     int64_t dim, int threads) {
  std::vector<double> best(static_cast<size_t>(rows), NAN);
  if (rows < 2) return best;
  FLS_ASSIGN_OR_RETURN(const std::vector<double> norms,
                       Norms(data, rows, dim, threads));
  std::vector<char> usable(static_cast<size_t>(rows));
  std::vector<int64_t> usable_rows;
  for (int64_t r = 0; r < rows; ++r) {
    usable[r] = norms[r] > 0 && std::isfinite(norms[r]);
    if (usable[r]) usable_rows.push_back(r);
  }
  if (usable_rows.size() < 2) return best;
  Hasher fingerprint;
  fingerprint.Add(static_cast<uint64_t>(rows));
  fingerprint.AddBytes(data.data(), data.size() * sizeof(float));
  SplitMix64 stream(fingerprint.value());
  FLS_ASSIGN_OR_RETURN(const std::vector<float> centred,
                       CentredRows(data, rows, dim, norms, usable, threads));
  FLS_ASSIGN_OR_RETURN(const std::vector<uint64_t> bits,
                       SimHashCodes(centred, rows, dim, stream, threads));
  FLS_ASSIGN_OR_RETURN(
      const std::vector<uint64_t> pairs,
      CandidatePairs(bits, rows, usable_rows, PairwiseTableBits(rows),
                     stream.Next(), threads));
  FLS_ASSIGN_OR_RETURN(const std::vector<double> cosines,
                       PairCosines(data, rows, dim, norms, pairs, threads));
  std::vector<int64_t> partner(static_cast<size_t>(rows), -1);
  for (size_t p = 0; p < pairs.size(); ++p) {
    const auto a = static_cast<int64_t>(pairs[p] >> 32);
    const auto b = static_cast<int64_t>(pairs[p] & 0xffffffffu);
    Offer(best, partner, a, b, cosines[p]);
    Offer(best, partner, b, a, cosines[p]);
  }
  return best;
}

Status CheckShape(std::span<const float> data, int64_t rows, int64_t dim) {
  if (rows < 0 || dim < 1 || rows > (int64_t{1} << 31) ||
      data.size() != static_cast<size_t>(rows) * static_cast<size_t>(dim)) {
    return InvalidArgument("pairwise similarity: " + std::to_string(rows) +
                           " rows of " + std::to_string(dim) + " in " +
                           std::to_string(data.size()) + " values");
  }
  return Status::Ok();
}

// Runs `body`, turning an exception (memory) into a Status.
template <typename F>
Result<std::vector<double>> Guarded(F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return InternalError("pairwise similarity: out of memory");
  } catch (const std::exception& e) {
    return InternalError(std::string("pairwise similarity: ") + e.what());
  }
}

}  // namespace

int PairwiseTableBits(int64_t rows) {
  const int log2 =
      rows > 1 ? std::bit_width(static_cast<uint64_t>(rows)) - 1 : 0;
  return std::clamp(log2 - 2, 8, 12);
}

std::vector<double> MaxCosineSimilarityExact(std::span<const float> data,
                                             int64_t rows, int64_t dim) {
  std::vector<double> norms(rows), best(rows, NAN);
  auto row = [&](int64_t r) { return data.subspan(r * dim, dim); };
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (float v : row(r)) s += double{v} * v;
    norms[r] = std::sqrt(s);
  }
  for (int64_t a = 0; a < rows; ++a) {
    for (int64_t b = a + 1; b < rows; ++b) {
      if (norms[a] == 0 || norms[b] == 0) continue;
      const auto x = row(a), y = row(b);
      double dot = 0;
      for (int64_t k = 0; k < dim; ++k) dot += double{x[k]} * y[k];
      const double cosine = dot / (norms[a] * norms[b]);
      if (!(cosine <= best[a])) best[a] = cosine;  // NaN-aware max
      if (!(cosine <= best[b])) best[b] = cosine;
    }
  }
  return best;
}

Result<std::vector<double>> MaxCosineSimilarity(std::span<const float> data,
                                                int64_t rows, int64_t dim,
                                                int threads) {
  FLS_RETURN_IF_ERROR(CheckShape(data, rows, dim));
  if (rows > kExactMaxRows)
    return MaxCosineSimilarityBucketed(data, rows, dim, threads);
  return Guarded([&]() -> Result<std::vector<double>> {
    FLS_ASSIGN_OR_RETURN(const std::vector<double> norms,
                         Norms(data, rows, dim, std::max(1, threads)));
    std::vector<double> cosines;
    FLS_RETURN_IF_ERROR(
        ExactCosines(data, rows, dim, norms, std::max(1, threads), &cosines));
    // The quadratic loop's updates, in its order.
    std::vector<double> best(static_cast<size_t>(rows), NAN);
    for (int64_t a = 0; a < rows; ++a) {
      for (int64_t b = a + 1; b < rows; ++b) {
        if (norms[a] == 0 || norms[b] == 0) continue;
        const double cosine = cosines[a * rows + b];
        if (!(cosine <= best[a])) best[a] = cosine;  // NaN-aware max
        if (!(cosine <= best[b])) best[b] = cosine;
      }
    }
    return best;
  });
}

Result<std::vector<double>> MaxCosineSimilarityBucketed(
    std::span<const float> data, int64_t rows, int64_t dim, int threads) {
  FLS_RETURN_IF_ERROR(CheckShape(data, rows, dim));
  return Guarded(
      [&] { return Bucketed(data, rows, dim, std::max(1, threads)); });
}

double PairwiseMissProbability(double cosine, int table_bits) {
  const double q = std::acos(std::clamp(cosine, -1.0, 1.0)) / std::numbers::pi;
  auto log_choose = [](int n, int k) {
    return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) -
           std::lgamma(n - k + 1.0);
  };
  double miss = 0;
  for (int m = 0; m <= kPoolBits; ++m) {
    double p_m;
    if (q == 0) {
      p_m = m == 0 ? 1.0 : 0.0;
    } else if (q == 1) {
      p_m = m == kPoolBits ? 1.0 : 0.0;
    } else {
      p_m = std::exp(log_choose(kPoolBits, m) + m * std::log(q) +
                     (kPoolBits - m) * std::log1p(-q));
    }
    const double together =
        m <= kMaxSeparatingBits && kPoolBits - m >= table_bits
            ? std::exp(log_choose(kPoolBits - m, table_bits) -
                       log_choose(kPoolBits, table_bits))
            : 0.0;
    miss += p_m * std::pow(1.0 - together, kTables);
  }
  return miss;
}

}  // namespace flsentry
