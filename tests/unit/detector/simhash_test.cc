// SplitMix64 and SimHashCodes: the stream is the reference SplitMix64, and
// a row's code depends on its direction only, never on the thread count.
#include "detector/simhash.h"

#include <doctest/doctest.h>

#include <vector>

namespace flsentry {
namespace {

constexpr int kWords = kPoolBits / 64;

TEST_CASE("SplitMix64 gives the reference generator's words") {
  SplitMix64 stream(0);  // Vigna's splitmix64.c from x = 0
  CHECK(stream.Next() == 0xe220a8397b1dcdafULL);
  CHECK(stream.Next() == 0x6e789e6aa1b965f4ULL);
  SplitMix64 symmetric(7);
  for (int i = 0; i < 1000; ++i) {
    const double u = symmetric.Symmetric();
    CHECK(u >= -1.0);
    CHECK(u < 1.0);
  }
}

std::vector<float> Rows(int64_t rows, int64_t dim) {
  std::vector<float> data(static_cast<size_t>(rows * dim));
  SplitMix64 values(42);
  for (float& v : data) v = static_cast<float>(values.Symmetric());
  return data;
}

TEST_CASE("codes: the same for every thread count and the same stream") {
  const int64_t rows = 40, dim = 100;
  const std::vector<float> data = Rows(rows, dim);
  SplitMix64 first(9);
  auto one = SimHashCodes(data, rows, dim, first, 1);
  REQUIRE(one.ok());
  REQUIRE(one->size() == static_cast<size_t>(rows * kWords));
  for (const int threads : {2, 3, 8}) {
    SplitMix64 again(9);
    auto more = SimHashCodes(data, rows, dim, again, threads);
    REQUIRE(more.ok());
    CHECK(*more == *one);
  }
  SplitMix64 other(10);
  auto different = SimHashCodes(data, rows, dim, other, 1);
  REQUIRE(different.ok());
  CHECK(*different != *one);  // other hyperplanes
}

TEST_CASE("codes: a scaled row keeps its code, a negated row flips it") {
  const int64_t dim = 64;
  std::vector<float> data = Rows(1, dim);
  data.resize(3 * dim);
  for (int64_t i = 0; i < dim; ++i) {
    data[dim + i] = 3.5f * data[i];
    data[2 * dim + i] = -data[i];
  }
  SplitMix64 stream(1);
  auto codes = SimHashCodes(data, 3, dim, stream, 2);
  REQUIRE(codes.ok());
  for (int w = 0; w < kWords; ++w) {
    CHECK((*codes)[kWords + w] == (*codes)[w]);
    // No product is exactly 0 for these rows, so every sign flips.
    CHECK((*codes)[2 * kWords + w] == ~(*codes)[w]);
  }
}

}  // namespace
}  // namespace flsentry
