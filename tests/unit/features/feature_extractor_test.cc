#include "features/feature_extractor.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace flsentry {
namespace {

// The documented mapping, written out independently of the fast code.
uint64_t RefSplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t RefFnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}
void RefSketch(const std::string& name, const std::vector<double>& x,
               uint64_t seed, int64_t k, int version,
               std::vector<double>* out) {
  for (size_t i = 0; i < x.size(); ++i) {
    const uint64_t b = i / 64, j = i % 64;
    const uint64_t u = RefSplitMix64((seed ^ RefFnv1a(name)) + b);
    const double sign = (u >> 63) ? -1.0 : 1.0;
    const uint64_t q = version == 2 ? (u >> 32) % 32 : 0;  // pattern
    const uint64_t pattern_bits = RefSplitMix64(seed + q);
    const double p = ((pattern_bits >> j) & 1) ? -1.0 : 1.0;
    uint64_t start = ((u & 0xffffffffULL) * uint64_t(k)) >> 32;
    if (version == 2) start -= start % 64;
    (*out)[(start + j) % k] += sign * p * x[i];
  }
}

// A tiny model: owns its float data and shapes; views borrow them.
struct Model {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<float>> data;
  std::vector<TensorView> Views() const {
    std::vector<TensorView> v;
    for (size_t i = 0; i < names.size(); ++i)
      v.push_back({names[i], DType::kF32, shapes[i], {}, data[i].data()});
    return v;
  }
};

Model MakeModel(float phase) {
  Model m;
  m.names = {"fc1.weight", "fc1.bias", "fc2.weight"};
  m.shapes = {{30, 7}, {30}, {3, 30}};
  for (const auto& s : m.shapes) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = std::sin(0.37f * i + phase) * 0.1f;
    m.data.push_back(std::move(v));
  }
  return m;
}

UpdateInput MakeUpdate(const Model& m, UpdateKind kind = UpdateKind::kDelta) {
  UpdateInput u;
  u.kind = kind;
  u.tensors = m.Views();
  return u;
}

FeatureExtractor MakeExtractor(const FeatureSettings& s, const Model& m) {
  auto views = m.Views();
  auto layout = SelectLayout(s, views);
  REQUIRE(layout.ok());
  auto fx = FeatureExtractor::Create(s, *layout);
  REQUIRE(fx.ok());
  return std::move(fx).value();
}

TEST_CASE("sketch equals the documented mapping, including wrap-around") {
  for (int version : {1, 2}) {
    for (int64_t k : {100, 256}) {  // 100: not a multiple of 64, blocks wrap
      CAPTURE(version);
      CAPTURE(k);
      Model m = MakeModel(0.5f);
      FeatureSettings s;
      s.sketch_dim = k;
      s.seed = 42;
      s.normalize = false;
      s.sketch_version = version;
      FeatureExtractor fx = MakeExtractor(s, m);
      std::vector<float> out(fx.dim());
      auto f = fx.Embed(MakeUpdate(m), {}, out);
      REQUIRE(f.ok());
      std::vector<double> ref(k, 0.0);
      double sq = 0;
      for (size_t t = 0; t < m.names.size(); ++t) {
        std::vector<double> x(m.data[t].begin(), m.data[t].end());
        for (double v : x) sq += v * v;
        RefSketch(m.names[t], x, 42, k, version, &ref);
      }
      for (int i = 0; i < k; ++i)
        CHECK(out[i] == doctest::Approx(ref[i]).epsilon(1e-5));
      CHECK(f->norm == doctest::Approx(std::sqrt(sq)).epsilon(1e-6));
      CHECK(f->numel == 210 + 30 + 90);
      CHECK(f->nonfinite == 0);
      CHECK(f->embedded);
    }
  }
}

TEST_CASE("golden values pin sketch_version 1, the default mapping") {
  Model m = MakeModel(0.0f);
  FeatureSettings s;  // defaults: sketch, k = 1024, seed 0x5eed2024, normalize
  REQUIRE(s.sketch_version == 1);
  FeatureExtractor fx = MakeExtractor(s, m);
  REQUIRE(fx.dim() == 1024);
  std::vector<float> out(fx.dim());
  auto f = fx.Embed(MakeUpdate(m), {}, out);
  REQUIRE(f.ok());
  // Indices with a non-zero entry, and their values, recorded from this
  // implementation. A change here means existing detectors stop matching.
  const std::vector<std::pair<int, float>> golden = {
      {0, 2.375641f},    {1, 1.943038f},    {111, 2.261218f},
      {148, -1.9216f},   {407, -2.168159f}, {444, 0.1696768f},
      {666, -2.399872f}, {703, 1.642181f},  {851, -0.8693061f}};
  for (const auto& [i, v] : golden)
    CHECK(out[i] == doctest::Approx(v).epsilon(1e-4));
  CHECK(f->norm == doctest::Approx(1.2842432911065196).epsilon(1e-9));
  double sq = 0;
  for (float v : out) sq += double(v) * v;
  // Unit-normalised and scaled by sqrt(k): squared length is near k.
  CHECK(sq == doctest::Approx(1050.251037).epsilon(1e-4));
}

TEST_CASE("golden values pin sketch_version 2, the opt-in mapping") {
  Model m = MakeModel(0.0f);
  FeatureSettings s;  // k = 1024, seed 0x5eed2024, normalize
  s.sketch_version = 2;
  FeatureExtractor fx = MakeExtractor(s, m);
  std::vector<float> out(fx.dim());
  auto f = fx.Embed(MakeUpdate(m), {}, out);
  REQUIRE(f.ok());
  // Recorded from this implementation after it matched RefSketch (above).
  // A change here means detectors written with sketch_version 2 stop
  // matching.
  const std::vector<std::pair<int, float>> golden = {
      {64, -2.474396f},   {97, -2.421315f},  {384, 0.5828755f},
      {388, -2.465478f},  {640, 2.337092f},  {679, 2.385666f},
      {776, -0.4499988f}, {960, -2.474396f}, {970, 1.943038f}};
  for (const auto& [i, v] : golden)
    CHECK(out[i] == doctest::Approx(v).epsilon(1e-4));
  CHECK(f->norm == doctest::Approx(1.2842432911065196).epsilon(1e-9));
  double sq = 0;
  for (float v : out) sq += double(v) * v;
  CHECK(sq == doctest::Approx(1035.293797).epsilon(1e-4));
}

TEST_CASE("every float dtype and strided views give the f32 embedding") {
  Model m = MakeModel(1.0f);
  FeatureSettings s;
  s.sketch_dim = 256;
  FeatureExtractor fx = MakeExtractor(s, m);
  std::vector<float> want(fx.dim());
  REQUIRE(fx.Embed(MakeUpdate(m), {}, want).ok());

  SUBCASE("f64") {
    std::vector<std::vector<double>> d64;
    for (const auto& v : m.data) d64.emplace_back(v.begin(), v.end());
    UpdateInput u = MakeUpdate(m);
    for (size_t t = 0; t < u.tensors.size(); ++t) {
      u.tensors[t].dtype = DType::kF64;
      u.tensors[t].data = d64[t].data();
    }
    std::vector<float> got(fx.dim());
    REQUIRE(fx.Embed(u, {}, got).ok());
    for (int64_t i = 0; i < fx.dim(); ++i)
      CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
  }
  SUBCASE("bf16 is read in place (values exactly representable)") {
    Model r = m;  // round the f32 values to bf16 first
    std::vector<std::vector<uint16_t>> b16;
    for (auto& v : r.data) {
      std::vector<uint16_t> b;
      for (float& x : v) {
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        bits &= 0xffff0000u;
        std::memcpy(&x, &bits, 4);
        b.push_back(uint16_t(bits >> 16));
      }
      b16.push_back(std::move(b));
    }
    std::vector<float> want_r(fx.dim());
    REQUIRE(fx.Embed(MakeUpdate(r), {}, want_r).ok());
    UpdateInput u = MakeUpdate(r);
    for (size_t t = 0; t < u.tensors.size(); ++t) {
      u.tensors[t].dtype = DType::kBF16;
      u.tensors[t].data = b16[t].data();
    }
    std::vector<float> got(fx.dim());
    REQUIRE(fx.Embed(u, {}, got).ok());
    for (int64_t i = 0; i < fx.dim(); ++i)
      CHECK(got[i] == doctest::Approx(want_r[i]).epsilon(1e-5));
  }
  SUBCASE("a transposed (strided) view") {
    // fc1.weight [30,7] stored transposed as [7,30] with strides {1, 30}.
    std::vector<float> t(210);
    for (int r = 0; r < 30; ++r)
      for (int c = 0; c < 7; ++c) t[c * 30 + r] = m.data[0][r * 7 + c];
    const std::vector<int64_t> strides = {1, 30};
    UpdateInput u = MakeUpdate(m);
    u.tensors[0].data = t.data();
    u.tensors[0].strides = strides;
    std::vector<float> got(fx.dim());
    REQUIRE(fx.Embed(u, {}, got).ok());
    for (int64_t i = 0; i < fx.dim(); ++i)
      CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
  }
}

TEST_CASE("full weights are embedded as their delta from the global model") {
  Model global = MakeModel(0.0f), delta = MakeModel(2.0f), weights = global;
  for (size_t t = 0; t < weights.data.size(); ++t)
    for (size_t i = 0; i < weights.data[t].size(); ++i)
      weights.data[t][i] += delta.data[t][i];
  FeatureSettings s;
  FeatureExtractor fx = MakeExtractor(s, global);
  std::vector<float> want(fx.dim()), got(fx.dim());
  auto a = fx.Embed(MakeUpdate(delta), {}, want);
  auto gv = global.Views();
  auto b = fx.Embed(MakeUpdate(weights, UpdateKind::kWeights), gv, got);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(b->norm == doctest::Approx(a->norm).epsilon(1e-5));
  for (int64_t i = 0; i < fx.dim(); ++i)
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-3));
  SUBCASE("weights without a global model are refused, naming the tensor") {
    auto r = fx.Embed(MakeUpdate(weights, UpdateKind::kWeights), {}, got);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("global model lacks tensor 'fc1.weight'") !=
          std::string::npos);
  }
}

TEST_CASE("direction only: a scaled update has the same embedding") {
  Model m = MakeModel(0.3f), big = m;
  for (auto& v : big.data)
    for (float& x : v) x *= 8.0f;
  FeatureExtractor fx = MakeExtractor(FeatureSettings{}, m);
  std::vector<float> a(fx.dim()), b(fx.dim());
  auto fa = fx.Embed(MakeUpdate(m), {}, a);
  auto fb = fx.Embed(MakeUpdate(big), {}, b);
  CHECK(fb->norm == doctest::Approx(8 * fa->norm));
  for (int64_t i = 0; i < fx.dim(); ++i)
    CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-5));
}

TEST_CASE(
    "values too large for the f32 sums are embedded in f64: the documented "
    "mapping and the right norm") {
  for (int version : {1, 2}) {
    for (EmbeddingMode mode :
         {EmbeddingMode::kSketch, EmbeddingMode::kIdentity}) {
      CAPTURE(version);
      Model m = MakeModel(0.5f), huge = m;
      for (auto& v : huge.data)
        for (float& x : v) x *= 1e25f;  // squares overflow f32, not f64
      FeatureSettings s;
      s.sketch_dim = 100;
      s.seed = 42;
      s.sketch_version = version;
      s.mode = mode;
      FeatureExtractor fx = MakeExtractor(s, m);
      std::vector<float> a(fx.dim()), b(fx.dim());
      auto fa = fx.Embed(MakeUpdate(m), {}, a);
      auto fb = fx.Embed(MakeUpdate(huge), {}, b);
      REQUIRE(fb.ok());
      CHECK(fb->embedded);
      CHECK(fb->nonfinite == 0);
      CHECK(fb->norm == doctest::Approx(1e25 * fa->norm).epsilon(1e-6));
      for (int64_t i = 0; i < fx.dim(); ++i)
        CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-4));
      if (mode == EmbeddingMode::kIdentity) continue;
      s.normalize = false;  // the raw sketch, against the reference
      FeatureExtractor raw = MakeExtractor(s, m);
      REQUIRE(raw.Embed(MakeUpdate(huge), {}, b).ok());
      std::vector<double> ref(100, 0.0);
      for (size_t t = 0; t < huge.names.size(); ++t) {
        std::vector<double> x(huge.data[t].begin(), huge.data[t].end());
        RefSketch(huge.names[t], x, 42, 100, version, &ref);
      }
      for (int i = 0; i < 100; ++i)
        CHECK(b[i] == doctest::Approx(ref[i]).epsilon(1e-5));
    }
  }
}

TEST_CASE(
    "f64 values: beyond f32 are embedded, beyond 1e154 overflow the norm") {
  std::vector<double> values(70, 0.25);
  const std::vector<int64_t> shape = {70};
  TensorView view{"w", DType::kF64, shape, {}, values.data()};
  FeatureSettings s;
  s.sketch_dim = 64;
  auto layout = SelectLayout(s, std::vector<TensorView>{view});
  REQUIRE(layout.ok());
  auto fx = FeatureExtractor::Create(s, *layout);
  REQUIRE(fx.ok());
  UpdateInput u;
  u.tensors = {view};
  std::vector<float> out(64);
  values[3] = 1e100;
  auto big = fx->Embed(u, {}, out);
  REQUIRE(big.ok());
  CHECK(big->embedded);
  CHECK(big->norm == doctest::Approx(1e100));
  values[3] = 2e154;
  auto over = fx->Embed(u, {}, out);
  REQUIRE(over.ok());
  CHECK_FALSE(over->embedded);
  CHECK(over->nonfinite == 0);
  CHECK(std::isinf(over->norm));
}

TEST_CASE("inner products are preserved on average (sketch of large vectors)") {
  Model m;
  m.names = {"w"};
  m.shapes = {{200000}};
  m.data.emplace_back(200000);
  uint64_t st = 9;
  for (float& x : m.data[0])
    x = float(int64_t(RefSplitMix64(st++) % 2001) - 1000) / 1000.0f;
  FeatureSettings s;
  s.normalize = false;
  FeatureExtractor fx = MakeExtractor(s, m);
  std::vector<float> out(fx.dim());
  auto f = fx.Embed(MakeUpdate(m), {}, out);
  double sq = 0;
  for (float v : out) sq += double(v) * v;
  CHECK(sq / (f->norm * f->norm) == doctest::Approx(1.0).epsilon(0.15));
}

TEST_CASE("identity mode is the flattened update in layout order") {
  Model m = MakeModel(0.0f);
  FeatureSettings s;
  s.mode = EmbeddingMode::kIdentity;
  s.normalize = false;
  FeatureExtractor fx = MakeExtractor(s, m);
  REQUIRE(fx.dim() == 330);
  std::vector<float> out(fx.dim());
  REQUIRE(fx.Embed(MakeUpdate(m), {}, out).ok());
  CHECK(out[0] == m.data[0][0]);
  CHECK(out[209] == m.data[0][209]);
  CHECK(out[210] == m.data[1][0]);
  CHECK(out[329] == m.data[2][89]);
}

TEST_CASE("non-finite and all-zero updates are counted, not embedded") {
  Model m = MakeModel(0.0f);
  FeatureExtractor fx = MakeExtractor(FeatureSettings{}, m);
  std::vector<float> out(fx.dim());
  SUBCASE("NaN and Inf") {
    m.data[1][3] = NAN;
    m.data[2][7] = INFINITY;
    auto f = fx.Embed(MakeUpdate(m), {}, out);
    REQUIRE(f.ok());
    CHECK(f->nonfinite == 2);
    CHECK_FALSE(f->embedded);
    for (float v : out) CHECK(v == 0.0f);
  }
  SUBCASE("all zeros") {
    for (auto& v : m.data) std::fill(v.begin(), v.end(), 0.0f);
    auto f = fx.Embed(MakeUpdate(m), {}, out);
    REQUIRE(f.ok());
    CHECK(f->norm == 0.0);
    CHECK(f->nonfinite == 0);
    CHECK_FALSE(f->embedded);
  }
}

TEST_CASE("layer selection: patterns, integer tensors, errors") {
  Model m = MakeModel(0.0f);
  std::vector<int64_t> count = {5};
  const std::vector<int64_t> scalar_shape;
  auto views = m.Views();
  views.push_back(
      {"bn.num_batches_tracked", DType::kI64, scalar_shape, {}, count.data()});
  FeatureSettings s;
  auto all = SelectLayout(s, views);
  REQUIRE(all.ok());
  CHECK(all->tensors.size() == 3);  // the int64 counter is left out
  CHECK(all->signature == "fc1.bias[30];fc1.weight[30,7];fc2.weight[3,30]");
  s.include = {"fc1.*"};
  s.exclude = {"*.bias"};
  auto some = SelectLayout(s, views);
  REQUIRE(some.ok());
  REQUIRE(some->tensors.size() == 1);
  CHECK(some->tensors[0].name == "fc1.weight");
  s.include = {"nothing*"};
  auto none = SelectLayout(s, views);
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message().find("keeps no tensor") != std::string::npos);

  FeatureExtractor fx = MakeExtractor(FeatureSettings{}, m);
  std::vector<float> out(fx.dim());
  UpdateInput u = MakeUpdate(m);
  u.tensors.erase(u.tensors.begin() + 1);
  auto missing = fx.Embed(u, {}, out);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() == "update lacks tensor 'fc1.bias'");
  u = MakeUpdate(m);
  const std::vector<int64_t> wrong = {10, 21};
  u.tensors[0].shape = wrong;
  auto shape = fx.Embed(u, {}, out);
  REQUIRE_FALSE(shape.ok());
  CHECK(shape.status().message() ==
        "update tensor 'fc1.weight' has shape [10,21], expected [30,7]");
}

TEST_CASE("settings and layout round-trip through JSON; bad JSON is refused") {
  FeatureSettings s;
  s.include = {"a*"};
  s.exclude = {"*.b"};
  s.mode = EmbeddingMode::kIdentity;
  s.sketch_dim = 512;
  s.seed = 99;
  s.normalize = false;
  auto back = FeatureSettingsFromJson(FeatureSettingsToJson(s));
  REQUIRE(back.ok());
  CHECK(FeatureSettingsToJson(*back) == FeatureSettingsToJson(s));
  CHECK_FALSE(FeatureSettingsFromJson({{"mode", "pca"}}).ok());
  CHECK_FALSE(FeatureSettingsFromJson({{"sketch_dim", 3}}).ok());
  CHECK_FALSE(FeatureSettingsFromJson({{"include", "x"}}).ok());
  CHECK_FALSE(FeatureSettingsFromJson(nlohmann::json::array()).ok());
  // Documents written before sketch_version existed mean version 1.
  s.sketch_version = 2;
  back = FeatureSettingsFromJson(FeatureSettingsToJson(s));
  CHECK(back->sketch_version == 2);
  CHECK(FeatureSettingsFromJson(nlohmann::json::object())->sketch_version == 1);
  CHECK_FALSE(FeatureSettingsFromJson({{"sketch_version", 3}}).ok());
  CHECK_FALSE(FeatureSettingsFromJson({{"sketch_version", "2"}}).ok());
  FeatureSettings unknown_version;
  unknown_version.sketch_version = 0;
  auto refused = FeatureExtractor::Create(unknown_version, FeatureLayout{});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("sketch_version") != std::string::npos);

  Model m = MakeModel(0.0f);
  auto views = m.Views();
  auto layout = SelectLayout(FeatureSettings{}, views);
  REQUIRE(layout.ok());
  auto lb = FeatureLayoutFromJson(FeatureLayoutToJson(*layout));
  REQUIRE(lb.ok());
  CHECK(lb->signature == layout->signature);
  CHECK(lb->num_coordinates == 330);
  CHECK(lb->tensors[2].offset == 240);
  nlohmann::json bad = FeatureLayoutToJson(*layout);
  bad["tensors"][0]["shape"] = {-1};
  CHECK_FALSE(FeatureLayoutFromJson(bad).ok());
  bad = FeatureLayoutToJson(*layout);
  bad["signature"] = "x[1]";
  CHECK_FALSE(FeatureLayoutFromJson(bad).ok());
}

TEST_CASE(
    "leave-one-out centrality: cosine with the mean direction of the others") {
  // Rows (dim 2): e1, 5*e1, e2. Row 0's others are e1 + e2 -> cos 1/sqrt(2);
  // row 2's others are 2*e1 -> cos 0. Scale does not matter.
  const std::vector<float> rows = {1, 0, 5, 0, 0, 1};
  const std::vector<double> c = LeaveOneOutCentrality(rows, 3, 2);
  REQUIRE(c.size() == 3);
  CHECK(c[0] == doctest::Approx(1 / std::sqrt(2.0)));
  CHECK(c[1] == doctest::Approx(1 / std::sqrt(2.0)));
  CHECK(c[2] == doctest::Approx(0.0));

  // An update crafted as the mean of the others is perfectly central; a
  // flipped one is at -1; honest spread-out ones lie in between.
  const std::vector<float> round = {1, 0, 0, 0, 1,  0,  0, 0,
                                    1, 1, 1, 1, -1, -1, -1};
  const std::vector<double> r = LeaveOneOutCentrality(round, 5, 3);
  CHECK(r[0] > -1.0);
  CHECK(r[0] < 0.7);
  CHECK(r[3] > r[0]);
  CHECK(r[4] < r[0]);
  const std::vector<float> mean_row = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
  CHECK(LeaveOneOutCentrality(mean_row, 4, 3)[3] == doctest::Approx(1.0));
  CHECK(LeaveOneOutCentrality(
            std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1, -1, -1, -1}, 4,
            3)[3] == doctest::Approx(-1.0));
}

TEST_CASE("leave-one-out centrality: zero rows and too few rows give NaN") {
  // Row 1 is all zeros: NaN, and left out of the others' means.
  const std::vector<float> rows = {1, 0, 0, 0, 0, 1, 0, 1};
  const std::vector<double> c = LeaveOneOutCentrality(rows, 4, 2);
  CHECK(std::isnan(c[1]));
  CHECK(c[0] == doctest::Approx(0.0));  // others: 2 * e2
  CHECK(c[2] == doctest::Approx(1 / std::sqrt(2.0)));
  // Two usable rows: no row has two others.
  for (double v :
       LeaveOneOutCentrality(std::vector<float>{1, 0, 0, 1, 0, 0}, 3, 2))
    CHECK(std::isnan(v));
  // Size mismatch and empty input.
  for (double v : LeaveOneOutCentrality(std::vector<float>{1, 0, 0}, 2, 2))
    CHECK(std::isnan(v));
  CHECK(LeaveOneOutCentrality({}, 0, 4).empty());
  const float inf = INFINITY;
  const std::vector<double> d =
      LeaveOneOutCentrality(std::vector<float>{inf, 0, 1, 0, 0, 1, 1, 1}, 4, 2);
  CHECK(std::isnan(d[0]));
  CHECK(std::isfinite(d[3]));
}

}  // namespace
}  // namespace flsentry
