#include "tensor/dtype.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

using namespace flsentry;

TEST_CASE("names round-trip for every dtype") {
  for (DType d :
       {DType::kF32, DType::kF64, DType::kF16, DType::kBF16, DType::kI64,
        DType::kI32, DType::kI16, DType::kI8, DType::kU8, DType::kBool}) {
    CHECK(FromTorchName(TorchName(d)) == d);
    CHECK(FromSafetensorsName(SafetensorsName(d)) == d);
  }
  CHECK(TorchName(DType::kBF16) == "bfloat16");
  CHECK(SafetensorsName(DType::kBool) == "BOOL");
  CHECK_FALSE(FromTorchName("complex64").has_value());
  CHECK(DTypeSize(DType::kF16) == 2);
  CHECK(DTypeSize(DType::kI64) == 8);
  CHECK(IsFloating(DType::kBF16));
  CHECK_FALSE(IsFloating(DType::kI8));
}

TEST_CASE(
    "half precision converts exactly, including subnormals and specials") {
  CHECK(HalfToFloat(0x3c00) == 1.0f);
  CHECK(HalfToFloat(0xc000) == -2.0f);
  CHECK(HalfToFloat(0x7bff) == 65504.0f);
  CHECK(HalfToFloat(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(HalfToFloat(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(std::isinf(HalfToFloat(0x7c00)));
  CHECK(std::isnan(HalfToFloat(0x7e00)));
  CHECK(std::signbit(HalfToFloat(0x8000)));
  CHECK(BFloat16ToFloat(0x3f80) == 1.0f);
  CHECK(BFloat16ToFloat(0xc040) == -3.0f);
}

TEST_CASE("ElementAsDouble reads every dtype") {
  const int64_t i64[] = {-5, 1LL << 40};
  CHECK(ElementAsDouble(i64, DType::kI64, 1) == 1099511627776.0);
  const uint8_t b[] = {0, 2};
  CHECK(ElementAsDouble(b, DType::kBool, 1) == 1.0);
  const int8_t i8[] = {-128};
  CHECK(ElementAsDouble(i8, DType::kI8, 0) == -128.0);
  const double f64[] = {0.1};
  CHECK(ElementAsDouble(f64, DType::kF64, 0) == 0.1);
}
