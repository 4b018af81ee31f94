#include "features/layout_check.h"

#include <doctest/doctest.h>

using namespace flsentry;

namespace {
std::vector<int64_t> kShape23 = {2, 3}, kShape3 = {3}, kShape32 = {3, 2};
float kData[6] = {};
UpdateInput Update(std::vector<TensorView> tensors) {
  UpdateInput u;
  u.tensors = std::move(tensors);
  return u;
}
}  // namespace

TEST_CASE("signature is sorted by name and includes shapes") {
  std::vector<TensorView> t = {{"w", DType::kF32, kShape23, {}, kData},
                               {"b", DType::kF16, kShape3, {}, kData}};
  CHECK(LayoutSignature(t) == "b[3];w[2,3]");
}

TEST_CASE("majority layout wins without a global model; ties go to the first") {
  RoundInput r;
  TensorView w{"w", DType::kF32, kShape23, {}, kData};
  TensorView w_t{"w", DType::kF32, kShape32, {}, kData};
  r.updates = {Update({w}), Update({w_t}), Update({w}), Update({w})};
  auto m = FindLayoutMismatches(r);
  CHECK(m[0].empty());
  CHECK(m[1] == "shape of 'w' is [3,2], expected [2,3]");
  r.updates = {Update({w_t}), Update({w})};
  m = FindLayoutMismatches(r);
  CHECK(m[0].empty());
  CHECK_FALSE(m[1].empty());
}

TEST_CASE("global model is the reference; dtypes may differ") {
  RoundInput r;
  r.global = {{"w", DType::kF32, kShape23, {}, kData}};
  r.updates = {Update({{"w", DType::kBF16, kShape23, {}, kData}}),
               Update({{"v", DType::kF32, kShape23, {}, kData}}),
               Update({{"w", DType::kF32, kShape23, {}, kData},
                       {"b", DType::kF32, kShape3, {}, kData}})};
  r.updates.push_back(Update({}));
  r.updates.back().invalid_reason = "broken";
  auto m = FindLayoutMismatches(r);
  CHECK(m[0].empty());
  CHECK(m[1] == "missing tensor 'w'");
  CHECK(m[2] == "unexpected tensor 'b'");
  CHECK(m[3].empty());  // invalid updates are skipped
}
