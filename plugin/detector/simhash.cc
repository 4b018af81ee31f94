// This file is compiled with -ffp-contract=off (plugin/detector/
// CMakeLists.txt): the hyperplanes' Gaussians round the same way on every
// instruction set (simhash.h).
#include "detector/simhash.h"

#include <algorithm>
#include <cmath>

#include "base/parallel.h"
#include "detector/dense_kernels.h"

namespace flsentry {
namespace {

// ln(s) for s > 0 with +, *, / and frexp only (the same bits everywhere,
// unlike a libm's log): ln(m 2^e) = e ln 2 + 2 atanh((m - 1) / (m + 1)),
// m in [sqrt(1/2), sqrt(2)), |z| <= 0.172, the series to z^25 (< 1e-19).
double PortableLog(double s) {
  int e = 0;
  double m = std::frexp(s, &e);
  if (m < 0.70710678118654752) {
    m *= 2;
    --e;
  }
  const double z = (m - 1) / (m + 1), z2 = z * z;
  double term = z, sum = 0;
  for (int k = 1; k <= 25; k += 2) {
    sum += term / k;
    term *= z2;
  }
  return e * 0.69314718055994531 + 2 * sum;
}

// `count` standard normal floats (Marsaglia's polar method).
std::vector<float> Gaussians(size_t count, SplitMix64& stream) {
  std::vector<float> out;
  out.reserve(count + 1);
  while (out.size() < count) {
    const double u = stream.Symmetric(), v = stream.Symmetric();
    const double s = u * u + v * v;
    if (s == 0 || s >= 1) continue;
    const double f = std::sqrt(-2 * PortableLog(s) / s);
    out.push_back(static_cast<float>(u * f));
    out.push_back(static_cast<float>(v * f));
  }
  out.resize(count);
  return out;
}

// The dim x kPoolBits hyperplane matrix, row-major: kPlaneBlocks blocks of
// whole rows, each drawn from its own stream seeded by the next word of
// `stream` (drawn in block order), so that blocks are made in parallel and
// the matrix depends on `stream` alone, never on `threads`.
constexpr int64_t kPlaneBlocks = 16;
Result<std::vector<float>> Hyperplanes(int64_t dim, SplitMix64& stream,
                                       int threads) {
  std::vector<uint64_t> seeds(kPlaneBlocks);
  for (uint64_t& seed : seeds) seed = stream.Next();
  std::vector<float> planes(static_cast<size_t>(dim) * kPoolBits);
  FLS_RETURN_IF_ERROR(ParallelFor(kPlaneBlocks, threads, [&](size_t b) {
    const int64_t first = dim * static_cast<int64_t>(b) / kPlaneBlocks;
    const int64_t end = dim * static_cast<int64_t>(b + 1) / kPlaneBlocks;
    SplitMix64 block(seeds[b]);
    const std::vector<float> values =
        Gaussians(static_cast<size_t>(end - first) * kPoolBits, block);
    std::copy(values.begin(), values.end(), planes.begin() + first * kPoolBits);
  }));
  return planes;
}

}  // namespace

Result<std::vector<uint64_t>> SimHashCodes(const std::vector<float>& centred,
                                           int64_t rows, int64_t dim,
                                           SplitMix64& stream, int threads) {
  FLS_ASSIGN_OR_RETURN(const std::vector<float> planes,
                       Hyperplanes(dim, stream, threads));  // dim x pool
  AlignedFloats projections(static_cast<size_t>(rows) * kPoolBits);
  GemmArgs g;
  g.m = rows;
  g.n = kPoolBits;
  g.k = dim;
  g.a = centred.data();
  g.a_row = dim;
  g.b = planes.data();
  g.ldb = kPoolBits;
  g.c = projections.data();
  g.ldc = kPoolBits;
  WorkerPool pool(threads);
  Gemm(g, ChooseKernelIsa(), pool);
  constexpr int kWords = kPoolBits / 64;
  std::vector<uint64_t> bits(static_cast<size_t>(rows) * kWords, 0);
  FLS_RETURN_IF_ERROR(
      ParallelFor(static_cast<size_t>(rows), threads, [&](size_t r) {
        for (int h = 0; h < kPoolBits; ++h) {
          if (projections[r * kPoolBits + h] > 0.0f)
            bits[r * kWords + h / 64] |= uint64_t{1} << (h % 64);
        }
      }));
  return bits;
}

}  // namespace flsentry
