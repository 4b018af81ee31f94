#include "features/update_stats.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace flsentry;

TEST_CASE("norm of a delta over several tensors and dtypes") {
  std::vector<int64_t> s2 = {2}, s1 = {1};
  float a[2] = {3, 0};
  uint16_t half_four[1] = {0x4400};  // 4.0 in binary16
  UpdateInput u;
  u.tensors = {{"a", DType::kF32, s2, {}, a},
               {"h", DType::kF16, s1, {}, half_four}};
  UpdateStats s = ComputeUpdateStats(u, {});
  CHECK(s.l2_norm == doctest::Approx(5.0));
  CHECK(s.nonfinite == 0);
  CHECK(s.numel == 3);
}

TEST_CASE("full weights are compared with the global model, strides honoured") {
  std::vector<int64_t> shape = {2}, strides = {2};
  double w[4] = {4, -1, 5, -1};  // strided view: 4, 5
  float g[2] = {1, 1};
  UpdateInput u;
  u.kind = UpdateKind::kWeights;
  u.tensors = {{"w", DType::kF64, shape, strides, w}};
  std::vector<TensorView> global = {{"w", DType::kF32, shape, {}, g}};
  CHECK(ComputeUpdateStats(u, global).l2_norm == doctest::Approx(5.0));
}

TEST_CASE("non-finite values are counted, not summed") {
  std::vector<int64_t> shape = {4};
  float x[4] = {3, std::numeric_limits<float>::quiet_NaN(), 4,
                -std::numeric_limits<float>::infinity()};
  UpdateInput u;
  u.tensors = {{"x", DType::kF32, shape, {}, x}};
  UpdateStats s = ComputeUpdateStats(u, {});
  CHECK(s.nonfinite == 2);
  CHECK(s.l2_norm == doctest::Approx(5.0));
}
