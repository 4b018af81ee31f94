// known_direction.h: the known rows' weights (near-copies counted once) and
// the weighted leave-one-out agreement.
#include "features/known_direction.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace flsentry;

TEST_CASE("known row weights: a group of near-copies weighs one row") {
  // Rows (dim 2): three near-copies of e1 (cosine >= 0.8 with each other),
  // e2, -e2, and a copy of e1 that is not known.
  const std::vector<float> rows = {1, 0, 1, 0.1f, 1, -0.1f, 0, 1, 0, -1, 1, 0};
  const std::vector<uint8_t> known = {1, 1, 1, 1, 1, 0};
  const std::vector<double> w = KnownRowWeights(rows, 6, 2, known);
  REQUIRE(w.size() == 6);
  CHECK(w[0] == doctest::Approx(1.0 / 3));
  CHECK(w[1] == doctest::Approx(1.0 / 3));
  CHECK(w[2] == doctest::Approx(1.0 / 3));
  CHECK(w[3] == 1.0);
  CHECK(w[4] == 1.0);
  CHECK(w[5] == 0.0);  // not known
  // A zero row is not counted, known or not; a wrong-sized mask: all 0.
  const std::vector<float> zero = {0, 0, 1, 0, 0, 1};
  CHECK(KnownRowWeights(zero, 3, 2, std::vector<uint8_t>{1, 1, 1}) ==
        std::vector<double>{0, 1, 1});
  CHECK(KnownRowWeights(zero, 3, 2, std::vector<uint8_t>{1, 1}) ==
        std::vector<double>{0, 0, 0});
}

TEST_CASE("known row weights: grouped from cosine 0.8, at any scale") {
  // Rows of dim 19 (the 8-float lanes and a tail): a, a row at cosine
  // ~0.85 with a, and one at ~0.75 with a; scaled by 1e20 (their products
  // would overflow a float) the groups are the same.
  const int64_t dim = 19;
  auto row = [&](double along, double across) {
    std::vector<float> r(dim, 0.0f);
    r[0] = static_cast<float>(along);
    r[dim - 1] = static_cast<float>(across);  // in the tail
    r[9] = static_cast<float>(across);        // in the lanes
    return r;
  };
  // cos = along / sqrt(along^2 + 2 across^2).
  const std::vector<std::vector<float>> three = {
      row(1, 0), row(1, std::sqrt((1 / (0.85 * 0.85) - 1) / 2)),
      row(1, -std::sqrt((1 / (0.75 * 0.75) - 1) / 2))};
  for (double scale : {1.0, 1e20}) {
    CAPTURE(scale);
    std::vector<float> rows;
    for (const auto& r : three) {
      for (float v : r) rows.push_back(static_cast<float>(v * scale));
    }
    const std::vector<double> w =
        KnownRowWeights(rows, 3, dim, std::vector<uint8_t>{1, 1, 1});
    // 0 and 1 group (0.85); 2 is at 0.75 with 0 and below with 1.
    CHECK(w[0] == doctest::Approx(0.5));
    CHECK(w[1] == doctest::Approx(0.5));
    CHECK(w[2] == 1.0);
  }
}

TEST_CASE("known row weights: past kMaxGroupedRows every known row weighs 1") {
  const int64_t n = kMaxGroupedRows + 1;
  const std::vector<float> rows(static_cast<size_t>(n * 2), 1.0f);  // copies
  const std::vector<uint8_t> known(static_cast<size_t>(n), 1);
  for (double w : KnownRowWeights(rows, n, 2, known)) CHECK(w == 1.0);
  const std::vector<uint8_t> fewer(static_cast<size_t>(n - 1), 1);
  std::vector<float> less(rows.begin(), rows.end() - 2);
  CHECK(KnownRowWeights(less, n - 1, 2, fewer)[0] ==
        doctest::Approx(1.0 / (n - 1)));
}

TEST_CASE("weighted agreement: the others counted by their weights") {
  // Rows (dim 2): e1, e1, e1 weighted 1; -e1 and e2 weighted 0. The
  // weighted mean is e1: a counted row leaves itself out (cos 1 with the
  // other two), an uncounted one is compared with all three.
  const std::vector<float> rows = {1, 0, 1, 0, 1, 0, -1, 0, 0, 1};
  const std::vector<double> c =
      WeightedLeaveOneOutAgreement(rows, 5, 2, {{1, 1, 1, 0, 0}});
  REQUIRE(c.size() == 5);
  CHECK(c[0] == doctest::Approx(1.0));
  CHECK(c[3] == doctest::Approx(-1.0));
  CHECK(c[4] == doctest::Approx(0.0));
  // Fewer than 3 counted rows: NaN for every row; a wrong-sized `weights`
  // too.
  for (double v : WeightedLeaveOneOutAgreement(rows, 5, 2, {{1, 1, 0, 0, 0}}))
    CHECK(std::isnan(v));
  CHECK(std::isnan(WeightedLeaveOneOutAgreement(rows, 5, 2, {{1, 1, 1}})[0]));
}

TEST_CASE("weighted agreement: a row leaves its own share out") {
  // e1, e1 at weight 0.5 each, e2, e2 at 1: the sum is (1, 2). Row 0's
  // others are (1, 2) - 0.5 e1 = (0.5, 2); row 2's are (1, 1).
  const std::vector<float> rows = {1, 0, 1, 0, 0, 1, 0, 1};
  const std::vector<double> c =
      WeightedLeaveOneOutAgreement(rows, 4, 2, {{0.5, 0.5, 1, 1}});
  CHECK(c[0] == doctest::Approx(0.5 / std::sqrt(4.25)));
  CHECK(c[2] == doctest::Approx(1 / std::sqrt(2.0)));
}

TEST_CASE("weighted agreement: sybils weighed as one no longer set the way") {
  // Four honest rows around e1 (spread over e2..e5) and four sybils at
  // -e1, all known. Counted one vote each, the sybils' direction wins for
  // the honest rows; weighed as one group, it does not.
  std::vector<float> rows;
  const int64_t dim = 6;
  for (int h = 0; h < 4; ++h) {
    std::vector<float> r(dim, 0.0f);
    r[0] = 1.0f;
    r[1 + h] = 2.0f;  // skew: each honest row mostly its own way
    rows.insert(rows.end(), r.begin(), r.end());
  }
  for (int s = 0; s < 4; ++s) {
    std::vector<float> r(dim, 0.0f);
    r[0] = -1.0f;
    r[5] = 0.01f * static_cast<float>(s);  // noise: not exact copies
    rows.insert(rows.end(), r.begin(), r.end());
  }
  const std::vector<uint8_t> known(8, 1);
  const std::vector<double> one_vote_each =
      WeightedLeaveOneOutAgreement(rows, 8, dim, std::vector<double>(8, 1.0));
  const std::vector<double> grouped = WeightedLeaveOneOutAgreement(
      rows, 8, dim, KnownRowWeights(rows, 8, dim, known));
  CHECK(one_vote_each[0] < 0.0);
  CHECK(grouped[0] > 0.0);
  CHECK(grouped[4] < 0.0);  // a sybil against the honest rows
}
