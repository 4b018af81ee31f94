// pairwise.h: the exact path against the quadratic loop it replaced, the
// bucketed path's planted near-duplicates, its values against the truth,
// determinism across thread counts, and the edges.
#include "detector/pairwise.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace flsentry {
namespace {

// n rows of dim standard normal floats.
std::vector<float> RandomRows(int64_t n, int64_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> rows(static_cast<size_t>(n * dim));
  for (float& v : rows) v = normal(rng);
  return rows;
}

// The cosine of rows a < b as the exact path computes it.
double PairCosine(const std::vector<float>& rows, int64_t dim, int64_t a,
                  int64_t b) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < dim; ++i) {
    na += double{rows[a * dim + i]} * rows[a * dim + i];
    nb += double{rows[b * dim + i]} * rows[b * dim + i];
  }
  for (int64_t i = 0; i < dim; ++i)
    dot += double{rows[a * dim + i]} * rows[b * dim + i];
  return dot / (std::sqrt(na) * std::sqrt(nb));
}

// Row b := cosine * row a + sqrt(1 - cosine^2) * (a random direction
// orthogonalised against row a), scaled by `scale`: cosine(a, b) is
// `cosine` up to float rounding.
void Plant(std::vector<float>& rows, int64_t dim, int64_t a, int64_t b,
           double cosine, double scale, uint64_t seed) {
  std::vector<float> noise = RandomRows(1, dim, seed);
  double aa = 0, an = 0;
  for (int64_t i = 0; i < dim; ++i) {
    aa += double{rows[a * dim + i]} * rows[a * dim + i];
    an += double{rows[a * dim + i]} * noise[i];
  }
  std::vector<double> ortho(static_cast<size_t>(dim));
  double oo = 0;
  for (int64_t i = 0; i < dim; ++i) {
    ortho[i] = noise[i] - an / aa * rows[a * dim + i];
    oo += ortho[i] * ortho[i];
  }
  const double s = std::sqrt(1 - cosine * cosine);
  for (int64_t i = 0; i < dim; ++i) {
    rows[b * dim + i] =
        static_cast<float>(scale * (cosine * rows[a * dim + i] / std::sqrt(aa) +
                                    s * ortho[i] / std::sqrt(oo)));
  }
}

bool SameBits(const std::vector<double>& x, const std::vector<double>& y) {
  return x.size() == y.size() &&
         std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
}

TEST_CASE("the exact path gives the quadratic loop's bits") {
  for (const int64_t dim : {1, 3, 64, 1024}) {
    for (const int64_t n : {2, 3, 7, 8, 9, 17, 100}) {
      std::vector<float> rows = RandomRows(n, dim, 7 + n + dim);
      if (n > 3) {  // a zero row, an exact duplicate, a sign flip
        std::copy(rows.begin(), rows.begin() + dim, rows.begin() + 2 * dim);
        for (int64_t i = 0; i < dim; ++i) rows[3 * dim + i] = -rows[i];
        std::fill(rows.begin() + dim, rows.begin() + 2 * dim, 0.0f);
      }
      const std::vector<double> want = MaxCosineSimilarityExact(rows, n, dim);
      for (const int threads : {1, 2, 3}) {
        auto got = MaxCosineSimilarity(rows, n, dim, threads);
        REQUIRE(got.ok());
        CAPTURE(dim);
        CAPTURE(n);
        CHECK(SameBits(*got, want));
      }
    }
  }
  // At the largest row count the exact path takes.
  const std::vector<float> rows = RandomRows(kExactMaxRows, 16, 3);
  auto got = MaxCosineSimilarity(rows, kExactMaxRows, 16, 2);
  REQUIRE(got.ok());
  CHECK(SameBits(*got, MaxCosineSimilarityExact(rows, kExactMaxRows, 16)));
}

TEST_CASE("edges: no rows, one row, zero rows, a bad shape") {
  for (const bool bucketed : {false, true}) {
    CAPTURE(bucketed);
    auto run = [&](const std::vector<float>& rows, int64_t n, int64_t dim) {
      return bucketed ? MaxCosineSimilarityBucketed(rows, n, dim, 2)
                      : MaxCosineSimilarity(rows, n, dim, 2);
    };
    auto none = run({}, 0, 4);
    REQUIRE(none.ok());
    CHECK(none->empty());
    auto one = run({1, 2, 3, 4}, 1, 4);
    REQUIRE(one.ok());
    REQUIRE(one->size() == 1);
    CHECK(std::isnan((*one)[0]));
    // A zero row has no similarity and is no one's partner.
    auto zero = run({1, 0, 0, 0, 2, 0}, 3, 2);
    REQUIRE(zero.ok());
    CHECK((*zero)[0] == 1.0);
    CHECK(std::isnan((*zero)[1]));
    CHECK((*zero)[2] == 1.0);
    auto all_zero = run(std::vector<float>(6, 0.0f), 3, 2);
    REQUIRE(all_zero.ok());
    for (double v : *all_zero) CHECK(std::isnan(v));
    CHECK(!run({1, 2, 3}, 2, 2).ok());
    CHECK(!run({1, 2}, 1, 0).ok());
  }
}

TEST_CASE("the bucketed path finds planted near-duplicates and their cosine") {
  const int64_t n = 3000, dim = 1024;
  std::vector<float> rows = RandomRows(n, dim, 11);
  const double cosines[] = {0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999};
  std::vector<std::pair<int64_t, int64_t>> planted;
  for (int p = 0; p < 28; ++p) {
    const int64_t a = 37 + 53 * p, b = 1511 + 53 * p;  // all distinct
    Plant(rows, dim, a, b, cosines[p % 7], 0.5 + p, 100 + p);
    planted.emplace_back(std::min(a, b), std::max(a, b));
  }
  auto got = MaxCosineSimilarity(rows, n, dim, 2);  // n > kExactMaxRows
  REQUIRE(got.ok());
  for (const auto& [a, b] : planted) {
    const double truth = PairCosine(rows, dim, a, b);
    CAPTURE(truth);
    CHECK(truth > 0.949);
    CHECK((*got)[a] == truth);  // the same bits as the exact path's
    CHECK((*got)[b] == truth);
  }
  // Every other row has a finite value, far from the duplicate region.
  int finite = 0;
  for (double v : *got) finite += std::isfinite(v) && v < 1.0;
  CHECK(finite == n);
}

TEST_CASE("a round crowded in one direction: the planted pair is found") {
  // Like flsentry-benchmark's rounds: a shared direction plus noise, raw
  // cosine about 0.92 between every two rows; one pair at 0.995.
  const int64_t n = 2000, dim = 256;
  const std::vector<float> direction = RandomRows(1, dim, 5);
  std::vector<float> rows = RandomRows(n, dim, 6);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < dim; ++i)
      rows[r * dim + i] = direction[i] + 0.29f * rows[r * dim + i];
  }
  Plant(rows, dim, 400, 1500, 0.995, 1.0, 9);
  auto got = MaxCosineSimilarity(rows, n, dim, 1);
  REQUIRE(got.ok());
  const double truth = PairCosine(rows, dim, 400, 1500);
  CHECK((*got)[400] == truth);
  CHECK((*got)[1500] == truth);
  CHECK((*got)[0] > 0.85);  // an honest row gets an honest neighbour
  CHECK((*got)[0] < 0.99);
}

TEST_CASE("the bucketed path reports real pairs' cosines, never above truth") {
  const int64_t n = 1500, dim = 32;
  std::vector<float> rows = RandomRows(n, dim, 21);
  for (int p = 0; p < 10; ++p) Plant(rows, dim, p, n - 1 - p, 0.97, 1, p);
  auto got = MaxCosineSimilarityBucketed(rows, n, dim, 2);
  REQUIRE(got.ok());
  const std::vector<double> truth = MaxCosineSimilarityExact(rows, n, dim);
  int exact = 0;
  for (int64_t r = 0; r < n; ++r) {
    REQUIRE(std::isfinite((*got)[r]));
    CHECK((*got)[r] <= truth[r]);
    exact += (*got)[r] == truth[r];
    bool real = false;  // the cosine of some pair (r, b)
    for (int64_t b = 0; b < n && !real; ++b) {
      if (b != r)
        real =
            PairCosine(rows, dim, std::min(r, b), std::max(r, b)) == (*got)[r];
    }
    CHECK(real);
  }
  for (int p = 0; p < 10; ++p) CHECK((*got)[p] == truth[p]);
  MESSAGE("rows whose maximum the bucketed path found: ", exact, " of ", n);
}

TEST_CASE("the bucketed path is the same for every thread count") {
  const int64_t n = 1200, dim = 100;
  std::vector<float> rows = RandomRows(n, dim, 31);
  Plant(rows, dim, 5, 6, 0.99, 2, 1);
  auto one = MaxCosineSimilarityBucketed(rows, n, dim, 1);
  REQUIRE(one.ok());
  for (const int threads : {2, 3, 8}) {
    auto more = MaxCosineSimilarityBucketed(rows, n, dim, threads);
    REQUIRE(more.ok());
    CHECK(SameBits(*more, *one));
  }
  // A different round (one value changed) draws other hyperplanes, but a
  // planted pair is still found.
  rows[7 * dim] += 1.0f;
  auto other = MaxCosineSimilarityBucketed(rows, n, dim, 2);
  REQUIRE(other.ok());
  CHECK((*other)[5] == (*one)[5]);
}

TEST_CASE("table bits and the documented miss probabilities") {
  CHECK(PairwiseTableBits(kExactMaxRows + 1) == 8);
  CHECK(PairwiseTableBits(2047) == 8);
  CHECK(PairwiseTableBits(4096) == 10);
  CHECK(PairwiseTableBits(10000) == 11);
  CHECK(PairwiseTableBits(1 << 20) == 12);
  // The table of pairwise.h.
  CHECK(PairwiseMissProbability(0.95, 11) < 1e-8);
  CHECK(PairwiseMissProbability(0.95, 12) < 1e-7);
  CHECK(PairwiseMissProbability(0.95, 8) < 1e-12);
  CHECK(PairwiseMissProbability(0.90, 11) < 2e-5);
  CHECK(PairwiseMissProbability(0.90, 12) < 1e-4);
  CHECK(PairwiseMissProbability(0.90, 8) < 1e-8);
  CHECK(PairwiseMissProbability(0.85, 11) < 5e-4);
  CHECK(PairwiseMissProbability(0.99, 12) < 1e-14);
  CHECK(PairwiseMissProbability(1.0, 12) == 0.0);
  // Unrelated rows (cosine 0) are rarely paired: most of them are missed.
  CHECK(PairwiseMissProbability(0.0, 11) > 0.9);
}

}  // namespace
}  // namespace flsentry
