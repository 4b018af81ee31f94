// column_outliers.h: the profiled tensor, the column energies Embed
// measures, and the outlier shares of a round.
#include "features/column_outliers.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

namespace flsentry {
namespace {

FeatureLayout LayoutOf(const std::vector<std::vector<int64_t>>& shapes) {
  FeatureLayout layout;
  for (size_t i = 0; i < shapes.size(); ++i) {
    FeatureLayout::Entry e;
    e.name = "t" + std::to_string(i);
    e.shape = shapes[i];
    layout.tensors.push_back(e);
  }
  return layout;
}

// A round's column energies, norms and band weights.
struct Round {
  std::vector<std::vector<float>> energies;
  std::vector<double> norms;
  std::vector<double> weights;  // in the band; 1 each unless set
  std::vector<ColumnOutliers> Measures() const {
    std::vector<const std::vector<float>*> ptrs;
    for (const auto& e : energies) ptrs.push_back(&e);
    std::vector<double> w = weights;
    w.resize(energies.size(), 1.0);
    return ColumnOutlierShares(ptrs, norms, w);
  }
  std::vector<double> Shares() const {
    std::vector<double> out;
    for (const ColumnOutliers& m : Measures()) out.push_back(m.share);
    return out;
  }
};

// n updates with energy 1 in each of cols columns and norm^2 2 x cols: the
// other half of each update's energy lies outside the profiled tensor.
Round Uniform(size_t n, size_t cols = 4) {
  Round r;
  for (size_t i = 0; i < n; ++i) {
    r.energies.push_back(std::vector<float>(cols, 1));
    r.norms.push_back(std::sqrt(2.0 * static_cast<double>(cols)));
  }
  return r;
}

}  // namespace

TEST_CASE("the profiled tensor is the first 2-D one with 2+ rows and columns") {
  CHECK(ProfiledTensor(LayoutOf({{64}, {64, 784}, {10, 64}})) == 1);
  CHECK(ProfiledTensor(LayoutOf({{1, 784}, {784, 1}, {3, 2}})) == 2);
  CHECK(ProfiledTensor(LayoutOf({{32, 1, 3, 3}, {128, 1600}})) == 1);
  CHECK(ProfiledTensor(LayoutOf({{2, kMaxProfileColumns + 1}, {4, 4}})) == 1);
  CHECK(ProfiledTensor(LayoutOf({{10}, {3, 3, 3}})) == -1);
}

TEST_CASE("an update's energy in a column the others leave quiet") {
  Round r = Uniform(6);
  // Update 5 puts 8 more into column 2: norm^2 16, column 2's share 9/16.
  r.energies[5][2] = 9;
  r.norms[5] = 4;
  const std::vector<double> s = r.Shares();
  REQUIRE(s.size() == 6);
  for (size_t i = 0; i < 5; ++i) CHECK(s[i] == 0.0);
  // The band of column 2: median 1/8, MAD 0; its other columns' shares
  // (1/16) are below their bands (1/8).
  CHECK(s[5] == doctest::Approx(9.0 / 16));
}

TEST_CASE("the peak share is the outlier share of the 9 largest columns") {
  static_assert(kPeakColumns == 9);
  // 40 columns; update 5 puts 2 + k more into column k for k = 0..11: 12
  // outlier columns, of which columns 3-11 are the 9 largest.
  Round r = Uniform(6, 40);
  double outlier = 0, peak = 0, total = 80;
  for (size_t k = 0; k < 12; ++k) {
    r.energies[5][k] = float(3 + k);
    outlier += 3 + k;
    if (k >= 3) peak += 3 + k;
    total += 2 + k;
  }
  r.norms[5] = std::sqrt(total);
  const std::vector<ColumnOutliers> m = r.Measures();
  CHECK(m[5].share == doctest::Approx(outlier / total));
  CHECK(m[5].peak_share == doctest::Approx(peak / total));
  CHECK(m[0].share == 0.0);
  CHECK(m[0].peak_share == 0.0);
  SUBCASE("fewer outlier columns than 9: the peak is all of the share") {
    Round two = Uniform(6, 40);
    two.energies[5][7] = 9;
    two.energies[5][8] = 5;
    two.norms[5] = std::sqrt(92.0);
    const std::vector<ColumnOutliers> t = two.Measures();
    CHECK(t[5].share == doctest::Approx(14.0 / 92));
    CHECK(t[5].peak_share == t[5].share);
  }
  SUBCASE("no band: both NaN") {
    const std::vector<ColumnOutliers> few =
        Uniform(kMinColumnRound - 1).Measures();
    for (const ColumnOutliers& f : few) {
      CHECK(std::isnan(f.share));
      CHECK(std::isnan(f.peak_share));
    }
  }
}

TEST_CASE("a band wide enough for the round's spread flags nothing") {
  Round r = Uniform(7);
  // Column 0 spread over the round: 1, 2, ..., 7 (shares over norm^2 8).
  for (size_t i = 0; i < 7; ++i) r.energies[i][0] = float(i + 1);
  for (double v : r.Shares()) CHECK(v == 0.0);
}

TEST_CASE("the band of a large round comes from every k-th update") {
  // 2,049 updates: the band from every 3rd (683 of them, all uniform). The
  // other two thirds put 8 more into column 3; against the whole round
  // (their share the median) they would not stand out, against the
  // sample they do.
  Round r = Uniform(2049);
  for (size_t i = 0; i < 2049; ++i) {
    if (i % 3 == 0) continue;
    r.energies[i][3] = 9;
    r.norms[i] = 4;
  }
  const std::vector<double> s = r.Shares();
  CHECK(s[0] == 0.0);
  CHECK(s[1] == doctest::Approx(9.0 / 16));
  CHECK(s[2048] == doctest::Approx(9.0 / 16));
}

TEST_CASE("near-copies are one voice in the band") {
  // Six sybils send the same update, all of its energy in columns 0-1;
  // four honest updates spread theirs over the 4 columns (shares 1/4, the
  // sybils' 1/2 and 0). Counted six times, the sybils are the band, and
  // every honest update stands out of it (columns 2-3); counted once
  // (weight 1/6 each), the honest updates are the band, and the sybils
  // stand out.
  Round r = Uniform(10);
  for (size_t i = 0; i < 6; ++i) {
    r.energies[i] = {4, 4, 0, 0};
    r.norms[i] = std::sqrt(8.0);
  }
  for (size_t i = 6; i < 10; ++i) r.norms[i] = 2;  // norm^2 4: shares 1/4
  const std::vector<double> counted_each = r.Shares();
  for (size_t i = 6; i < 10; ++i) CHECK(counted_each[i] == 0.5);
  r.weights = std::vector<double>(6, 1.0 / 6);
  const std::vector<double> once = r.Shares();
  for (size_t i = 0; i < 6; ++i) CHECK(once[i] == doctest::Approx(1.0));
  for (size_t i = 6; i < 10; ++i) CHECK(once[i] == 0.0);
}

TEST_CASE("outlier shares abstain where they cannot be judged") {
  SUBCASE("fewer than kMinColumnRound profiled updates: every share NaN") {
    Round r = Uniform(kMinColumnRound);
    r.energies[0].clear();  // not profiled
    for (double v : r.Shares()) CHECK(std::isnan(v));
  }
  SUBCASE("a weight of 0 leaves an update out, judged by no band") {
    Round r = Uniform(6);
    r.weights = {0, 1, 1, 1, 1, 1};
    const std::vector<double> s = r.Shares();
    CHECK(std::isnan(s[0]));
    CHECK(s[1] == 0.0);
  }
  SUBCASE("no profile, a zero or non-finite norm, another length: NaN") {
    Round r = Uniform(9);
    r.energies[0].clear();
    r.norms[1] = 0;
    r.norms[2] = NAN;
    r.energies[8] = {1, 1, 1};  // the first usable profile has 4 columns
    const std::vector<double> s = r.Shares();
    for (size_t i : {0, 1, 2, 8}) CHECK(std::isnan(s[i]));
    for (size_t i = 3; i < 8; ++i) CHECK(s[i] == 0.0);
  }
  SUBCASE("a null profile is no profile") {
    Round r = Uniform(6);
    std::vector<const std::vector<float>*> ptrs;
    for (const auto& e : r.energies) ptrs.push_back(&e);
    ptrs[0] = nullptr;
    const std::vector<ColumnOutliers> s =
        ColumnOutlierShares(ptrs, r.norms, std::vector<double>(6, 1.0));
    CHECK(std::isnan(s[0].share));
    CHECK(std::isnan(s[0].peak_share));
    CHECK(s[1].share == 0.0);
  }
}

namespace {

// bias [3], then W [3 x 2] (profiled), then V [2 x 2]; owns its data.
struct SmallModel {
  std::vector<int64_t> bias_shape = {3}, w_shape = {3, 2}, v_shape = {2, 2};
  std::vector<float> bias, w, v;
  std::vector<TensorView> Views() const {
    return {{"bias", DType::kF32, bias_shape, {}, bias.data()},
            {"w", DType::kF32, w_shape, {}, w.data()},
            {"v", DType::kF32, v_shape, {}, v.data()}};
  }
};

}  // namespace

TEST_CASE("Embed measures the column energies of the delta") {
  SmallModel update;
  update.bias = {1, 2, 3};
  update.w = {1, 2, 3, 4, 5, 6};
  update.v = {1, 1, 1, 1};
  FeatureSettings settings;
  auto layout = SelectLayout(settings, update.Views());
  REQUIRE(layout.ok());
  auto fx = FeatureExtractor::Create(settings, *layout);
  REQUIRE(fx.ok());
  std::vector<float> out(fx->dim());
  UpdateInput u;
  u.tensors = update.Views();
  SUBCASE("a delta: sums of squares down each column") {
    auto f = fx->Embed(u, {}, out, true);
    REQUIRE(f.ok());
    CHECK(f->column_energy == std::vector<float>{1 + 9 + 25, 4 + 16 + 36});
  }
  SUBCASE("full weights: of the difference from the global model") {
    SmallModel global;
    global.bias = {0, 0, 0};
    global.w = {1, 1, 1, 1, 1, 1};
    global.v = {0, 0, 0, 0};
    u.kind = UpdateKind::kWeights;
    auto f = fx->Embed(u, global.Views(), out, true);
    REQUIRE(f.ok());
    CHECK(f->column_energy == std::vector<float>{0 + 4 + 16, 1 + 9 + 25});
  }
  SUBCASE("f16 read in chunks that end inside a row") {
    // [100 x 77] f16 (the slow path converts 4,096 values at a time, and
    // 4,096 is not a multiple of 77): value (r + c) % 5 at [r, c].
    const std::vector<int64_t> shape = {100, 77};
    std::vector<uint16_t> halves;
    std::vector<float> want(77, 0.0f);
    const uint16_t kHalf[5] = {0x0000, 0x3c00, 0x4000, 0x4200, 0x4400};
    for (int r = 0; r < 100; ++r) {
      for (int c = 0; c < 77; ++c) {
        const int v = (r + c) % 5;  // 0, 1, 2, 3, 4 exactly in f16
        halves.push_back(kHalf[v]);
        want[c] += float(v * v);
      }
    }
    const std::vector<TensorView> views = {
        {"w", DType::kF16, shape, {}, halves.data()}};
    auto wide_layout = SelectLayout(settings, views);
    REQUIRE(wide_layout.ok());
    auto wide = FeatureExtractor::Create(settings, *wide_layout);
    REQUIRE(wide.ok());
    std::vector<float> row(wide->dim());
    UpdateInput h;
    h.tensors = views;
    auto f = wide->Embed(h, {}, row, true);
    REQUIRE(f.ok());
    CHECK(f->column_energy == want);
  }
  SUBCASE("none unless asked for") {
    auto f = fx->Embed(u, {}, out);
    REQUIRE(f.ok());
    CHECK(f->embedded);
    CHECK(f->column_energy.empty());
  }
  SUBCASE("an update that is not embedded has none") {
    SmallModel zero;
    zero.bias = {0, 0, 0};
    zero.w = {0, 0, 0, 0, 0, 0};
    zero.v = {0, 0, 0, 0};
    u.tensors = zero.Views();
    auto f = fx->Embed(u, {}, out, true);
    REQUIRE(f.ok());
    CHECK_FALSE(f->embedded);
    CHECK(f->column_energy.empty());
  }
}

}  // namespace flsentry
