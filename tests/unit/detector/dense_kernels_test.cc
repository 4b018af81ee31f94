// Tests of dense_kernels.h: every instruction-set path and thread count
// gives exactly the bits of the documented scalar order. Compiled with
// -ffp-contract=off like the kernels (tests/unit/detector/CMakeLists.txt),
// so the reference below rounds every product and sum on its own.
#include "detector/dense_kernels.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace flsentry {
namespace {

std::vector<float> Random(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t s = seed;
  for (float& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<float>(static_cast<int64_t>(s >> 40) - (1 << 23)) /
        static_cast<float>(1 << 22);
  }
  return v;
}

// The order GemmArgs documents, one element at a time.
std::vector<float> Reference(const GemmArgs& g) {
  std::vector<float> c(static_cast<size_t>(g.m * g.ldc), 0.0f);
  for (int64_t i = 0; i < g.m; ++i) {
    for (int64_t j = 0; j < g.n; ++j) {
      float s = 0.0f;
      for (int64_t p = 0; p < g.k; ++p) {
        const float prod = g.a[i * g.a_row + p * g.a_col] * g.b[p * g.ldb + j];
        s = s + prod;
      }
      if (g.bias) s = s + g.bias[j];
      if (g.relu) s = s < 0.0f ? 0.0f : s;
      c[i * g.ldc + j] = s;
    }
  }
  return c;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<KernelIsa> SupportedIsas() {
  std::vector<KernelIsa> isas;
  for (KernelIsa isa :
       {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (KernelIsaSupported(isa)) isas.push_back(isa);
  }
  return isas;
}

TEST_CASE("every path and thread count gives the reference's bits") {
  // Sizes cover full register tiles, one-vector strips, single columns and
  // leftover rows on every path; k = 1 and a long k; A plain and transposed.
  struct Shape {
    int64_t m, n, k;
    bool transposed_a, bias, relu;
  };
  const Shape shapes[] = {
      {1, 1, 1, false, false, false},     {3, 5, 7, false, true, true},
      {32, 256, 1024, false, true, true}, {33, 75, 16, false, true, false},
      {64, 100, 32, true, false, false},  {17, 129, 300, true, true, true},
      {200, 64, 256, false, true, true},
  };
  MESSAGE("paths on this CPU: " << SupportedIsas().size());
  for (const Shape& s : shapes) {
    INFO("m=" << s.m << " n=" << s.n << " k=" << s.k);
    const std::vector<float> a = Random(s.m * s.k, 1 + s.m);
    const std::vector<float> b = Random(s.k * (s.n + 3), 2 + s.n);
    const std::vector<float> bias = Random(s.n, 3);
    GemmArgs g;
    g.m = s.m;
    g.n = s.n;
    g.k = s.k;
    g.a = a.data();
    g.a_row = s.transposed_a ? 1 : s.k;
    g.a_col = s.transposed_a ? s.m : 1;
    g.b = b.data();
    g.ldb = s.n + 3;  // a row stride wider than n
    g.ldc = s.n + 1;
    g.bias = s.bias ? bias.data() : nullptr;
    g.relu = s.relu;
    const std::vector<float> want = Reference(g);
    for (KernelIsa isa : SupportedIsas()) {
      for (int threads : {1, 2, 3}) {
        INFO(KernelIsaName(isa) << " threads=" << threads);
        std::vector<float> c(want.size(), 0.0f);
        g.c = c.data();
        WorkerPool pool(threads);
        Gemm(g, isa, pool);
        CHECK(SameBits(c, want));
      }
    }
  }
}

TEST_CASE("sums keep the documented order: products are not fused") {
  // x = 1 + 2^-23 squared is 1 + 2^-22 + 2^-46. The sum starts at
  // -(1 + 2^-22) (exact); adding x * x rounded alone gives 0, a fused
  // multiply-add would give 2^-46.
  const float x = 1.0f + std::ldexp(1.0f, -23);
  const float a[2] = {-1.0f, x};
  const float b[2] = {x * x, x};
  GemmArgs g;
  g.m = 1;
  g.n = 1;
  g.k = 2;
  g.a = a;
  g.a_row = 2;
  g.b = b;
  g.ldb = 1;
  g.ldc = 1;
  for (KernelIsa isa : SupportedIsas()) {
    float c = -1.0f;
    g.c = &c;
    WorkerPool pool(1);
    Gemm(g, isa, pool);
    CHECK(c == 0.0f);
  }
}

TEST_CASE("ReLU maps negatives to +0 and keeps NaN") {
  const float a[3] = {1.0f, 1.0f, 1.0f};
  const float b[3] = {-2.0f, NAN, 3.0f};
  GemmArgs g;
  g.m = 1;
  g.n = 3;
  g.k = 1;
  g.a = a;
  g.a_row = 1;
  g.b = b;
  g.ldb = 3;
  g.ldc = 3;
  g.relu = true;
  for (KernelIsa isa : SupportedIsas()) {
    float c[3] = {7, 7, 7};
    g.c = c;
    WorkerPool pool(1);
    Gemm(g, isa, pool);
    CHECK(c[0] == 0.0f);
    CHECK_FALSE(std::signbit(c[0]));
    CHECK(std::isnan(c[1]));
    CHECK(c[2] == 3.0f);
  }
}

TEST_CASE("the environment names the path; unsupported ones fall back") {
  const char* saved = std::getenv("FLSENTRY_KERNEL_ISA");
  const std::string keep = saved ? saved : "";
  setenv("FLSENTRY_KERNEL_ISA", "baseline", 1);
  CHECK(ChooseKernelIsa() == KernelIsa::kBaseline);
  setenv("FLSENTRY_KERNEL_ISA", "avx512", 1);
  const KernelIsa best = ChooseKernelIsa();
  CHECK(KernelIsaSupported(best));
  setenv("FLSENTRY_KERNEL_ISA", "nonsense", 1);
  CHECK(ChooseKernelIsa() == best);
  if (saved) {
    setenv("FLSENTRY_KERNEL_ISA", keep.c_str(), 1);
  } else {
    unsetenv("FLSENTRY_KERNEL_ISA");
  }
  CHECK(KernelIsaName(KernelIsa::kAvx2) == "avx2");
}

TEST_CASE("the pool runs every task once, on any thread count") {
  for (int threads : {1, 2, 4}) {
    WorkerPool pool(threads);
    CHECK(pool.threads() >= 1);
    for (int64_t tasks : {0, 1, 5, 100}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(tasks));
      pool.Run(tasks, [&](int64_t t) { hits[t].fetch_add(1); });
      for (const auto& h : hits) CHECK(h.load() == 1);
    }
  }
}

TEST_CASE("AdamUpdate gives the same bits on every path") {
  const int64_t n = 1000 + 13;  // vector bodies and scalar tails
  const std::vector<float> grad = Random(n, 21);
  for (float decay : {0.0f, 0.01f}) {
    std::vector<std::vector<float>> results;
    for (KernelIsa isa : SupportedIsas()) {
      std::vector<float> p = Random(n, 22), m = Random(n, 23), v(n);
      for (int64_t i = 0; i < n; ++i) v[i] = std::fabs(m[i]) * 0.1f;
      AdamCoefficients c;
      c.decay = decay;
      c.sqrt_correction2 = 0.0447f;
      c.neg_step = -0.0123f;
      for (int step = 0; step < 3; ++step)
        AdamUpdate(c, n, grad.data(), p.data(), m.data(), v.data(), isa);
      p.insert(p.end(), m.begin(), m.end());
      p.insert(p.end(), v.begin(), v.end());
      results.push_back(p);
    }
    for (size_t i = 1; i < results.size(); ++i)
      CHECK(SameBits(results[0], results[i]));
  }
}

TEST_CASE("Transpose") {
  const std::vector<float> src = Random(70 * 33, 9);
  std::vector<float> dst(src.size());
  WorkerPool pool(2);
  Transpose(src.data(), 70, 33, dst.data(), pool);
  for (int64_t r = 0; r < 70; ++r)
    for (int64_t c = 0; c < 33; ++c) CHECK(dst[c * 70 + r] == src[r * 33 + c]);
}

}  // namespace
}  // namespace flsentry
