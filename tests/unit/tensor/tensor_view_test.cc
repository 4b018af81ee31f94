#include "tensor/tensor_view.h"

#include <doctest/doctest.h>

#include <vector>

using namespace flsentry;

TEST_CASE("ValidateView computes numel and byte extent") {
  float data[6] = {};
  std::vector<int64_t> shape = {2, 3};
  TensorView v{"w", DType::kF32, shape, {}, data};
  int64_t numel = 0, extent = 0;
  REQUIRE(ValidateView(v, &numel, &extent).ok());
  CHECK(numel == 6);
  CHECK(extent == 24);
  std::vector<int64_t> strides = {1, 2};  // transposed view of a 3x2 buffer
  v.strides = strides;
  REQUIRE(ValidateView(v, &numel, &extent).ok());
  CHECK(extent == 24);
  CHECK_FALSE(v.IsContiguous());
}

TEST_CASE("ValidateView refuses overflow, negatives, high rank and null data") {
  int64_t numel, extent;
  float one = 0;
  std::vector<int64_t> huge = {int64_t{1} << 62, 4};
  CHECK(ValidateView({"h", DType::kF32, huge, {}, &one}, &numel, &extent)
            .code() == ErrorCode::kInvalidArgument);
  std::vector<int64_t> negative = {-1};
  CHECK_FALSE(
      ValidateView({"n", DType::kF32, negative, {}, &one}, &numel, &extent)
          .ok());
  std::vector<int64_t> rank9(9, 1);
  CHECK_FALSE(
      ValidateView({"r", DType::kF32, rank9, {}, &one}, &numel, &extent).ok());
  std::vector<int64_t> shape = {2};
  CHECK_FALSE(
      ValidateView({"z", DType::kF32, shape, {}, nullptr}, &numel, &extent)
          .ok());
  std::vector<int64_t> empty_shape = {0, 5};
  CHECK(ValidateView({"e", DType::kF32, empty_shape, {}, nullptr}, &numel,
                     &extent)
            .ok());
  CHECK(numel == 0);
  CHECK(extent == 0);
  std::vector<int64_t> big_stride = {2};
  std::vector<int64_t> stride = {int64_t{1} << 62};
  CHECK_FALSE(ValidateView({"s", DType::kF64, big_stride, stride, &one}, &numel,
                           &extent)
                  .ok());
}

TEST_CASE("OffsetWalker visits strided elements in row-major order") {
  // A 2x2 view starting at element 1 of a 2x4 buffer with row stride 4.
  float buffer[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<int64_t> shape = {2, 2}, strides = {4, 1};
  TensorView v{"w", DType::kF32, shape, strides, buffer + 1};
  std::vector<float> seen;
  ForEachElementOffset(v, [&](int64_t, int64_t offset) {
    seen.push_back(*reinterpret_cast<const float*>(
        static_cast<const char*>(v.data) + offset));
  });
  CHECK(seen == std::vector<float>{1, 2, 5, 6});
  TensorView scalar{"s", DType::kF32, {}, {}, buffer + 3};
  int64_t count = 0;
  int64_t last_offset = -1;
  ForEachElementOffset(scalar, [&](int64_t, int64_t off) {
    ++count;
    last_offset = off;
  });
  CHECK(last_offset == 0);
  CHECK(count == 1);
}
