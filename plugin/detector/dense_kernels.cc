// This file is compiled with -ffp-contract=off (plugin/detector/
// CMakeLists.txt): the compiler must not fuse a product and a sum into one
// FMA, which rounds once instead of twice. Fused or not would depend on the
// instruction set a path is compiled for, and the paths must agree bit for
// bit (dense_kernels.h).
#include "detector/dense_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

namespace flsentry {
namespace {

// GCC vector types. Arithmetic on them is element-wise IEEE single
// precision, the same operations as on float, on any vector width.
typedef float V4 __attribute__((vector_size(16)));
typedef float V8 __attribute__((vector_size(32)));
typedef float V16 __attribute__((vector_size(64)));

#define FLS_INLINE inline __attribute__((always_inline))

// Floats per vector (1 for float itself).
template <typename V>
constexpr int kLanes = static_cast<int>(sizeof(V) / 4);
static_assert(sizeof(float) == 4 && kLanes<V16> == 16);

// Vectors pass by reference only: a vector argument or return value of a
// function compiled without AVX would change the calling convention.
template <typename V>
FLS_INLINE void Load(V& v, const float* p) {
  std::memcpy(&v, p, sizeof(V));
}
template <typename V>
FLS_INLINE void Store(float* p, const V& v) {
  std::memcpy(p, &v, sizeof(V));
}
template <typename V>
FLS_INLINE void Relu(V& x) {
  const V zero = {};  // +0.0 in every lane
  x = x < zero ? zero : x;
}
template <>
FLS_INLINE void Relu<float>(float& x) {
  x = x < 0.0f ? 0.0f : x;
}

// One register tile: rows [0, MR) x NV vectors of C. Every element follows
// the order documented at GemmArgs.
template <typename V, int MR, int NV>
FLS_INLINE void Tile(const GemmArgs& g, int64_t i0, int64_t j0) {
  constexpr int kL = kLanes<V>;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  const float* a = g.a + i0 * g.a_row;
  const float* b = g.b + j0;
  for (int64_t p = 0; p < g.k; ++p) {
    V bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) Load(bv[v], b + p * g.ldb + v * kL);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const float ar = a[r * g.a_row + p * g.a_col];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] += bv[v] * ar;
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    float* c = g.c + (i0 + r) * g.ldc + j0;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      V s = acc[r][v];
      if (g.bias) {
        V bias;
        Load(bias, g.bias + j0 + v * kL);
        s += bias;
      }
      if (g.relu) Relu(s);
      Store(c + v * kL, s);
    }
  }
}

// Rows [i0, i1) of one column strip of width NV * lanes(V), MR rows at a
// time and the rest one by one.
template <typename V, int MR, int NV>
FLS_INLINE void Strip(const GemmArgs& g, int64_t i0, int64_t i1, int64_t j0) {
  int64_t i = i0;
  for (; i + MR <= i1; i += MR) Tile<V, MR, NV>(g, i, j0);
  for (; i < i1; ++i) Tile<V, 1, NV>(g, i, j0);
}

// Block rows [i0, i1) x columns [j0, j1): wide strips, then one-vector
// strips, then single columns.
template <typename V, int MR, int NV>
FLS_INLINE void Block(const GemmArgs& g, int64_t i0, int64_t i1, int64_t j0,
                      int64_t j1) {
  constexpr int kL = kLanes<V>;
  // Rows outer so that MR rows of A stay in L1 while the strips of B
  // (k x block width, sized to stay in L2) pass by.
  for (int64_t i = i0; i < i1; i += MR) {
    const int64_t ie = std::min(i1, i + MR);
    int64_t j = j0;
    for (; j + NV * kL <= j1; j += NV * kL) Strip<V, MR, NV>(g, i, ie, j);
    for (; j + kL <= j1; j += kL) Strip<V, MR, 1>(g, i, ie, j);
    for (; j < j1; ++j) Strip<float, MR, 1>(g, i, ie, j);
  }
}

void BlockBaseline(const GemmArgs& g, int64_t i0, int64_t i1, int64_t j0,
                   int64_t j1) {
  Block<V4, 4, 2>(g, i0, i1, j0, j1);
}

__attribute__((target("avx2"))) void BlockAvx2(const GemmArgs& g, int64_t i0,
                                               int64_t i1, int64_t j0,
                                               int64_t j1) {
  Block<V8, 4, 2>(g, i0, i1, j0, j1);
}

__attribute__((target("avx512f"))) void BlockAvx512(const GemmArgs& g,
                                                    int64_t i0, int64_t i1,
                                                    int64_t j0, int64_t j1) {
  Block<V16, 8, 2>(g, i0, i1, j0, j1);
}

template <bool kDecay>
FLS_INLINE void Adam(const AdamCoefficients& c, int64_t n, const float* grad,
                     float* p, float* m, float* v) {
  // Element-wise (the compiler vectorizes it to the path's width; sqrt and
  // division are exactly rounded at every width).
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i];
    if (kDecay) g = g + c.decay * p[i];
    m[i] = m[i] * c.beta1 + g * c.one_minus_beta1;
    v[i] = v[i] * c.beta2 + c.one_minus_beta2 * g * g;
    const float denom = std::sqrt(v[i]) / c.sqrt_correction2 + c.eps;
    p[i] = p[i] + c.neg_step * (m[i] / denom);
  }
}

FLS_INLINE void AdamAny(const AdamCoefficients& c, int64_t n, const float* g,
                        float* p, float* m, float* v) {
  if (c.decay != 0.0f) {
    Adam<true>(c, n, g, p, m, v);
  } else {
    Adam<false>(c, n, g, p, m, v);
  }
}

void AdamBaseline(const AdamCoefficients& c, int64_t n, const float* g,
                  float* p, float* m, float* v) {
  AdamAny(c, n, g, p, m, v);
}
__attribute__((target("avx2"))) void AdamAvx2(const AdamCoefficients& c,
                                              int64_t n, const float* g,
                                              float* p, float* m, float* v) {
  AdamAny(c, n, g, p, m, v);
}
__attribute__((target("avx512f"))) void AdamAvx512(const AdamCoefficients& c,
                                                   int64_t n, const float* g,
                                                   float* p, float* m,
                                                   float* v) {
  AdamAny(c, n, g, p, m, v);
}

}  // namespace

void AdamUpdate(const AdamCoefficients& c, int64_t n, const float* grad,
                float* p, float* m, float* v, KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512:
      AdamAvx512(c, n, grad, p, m, v);
      break;
    case KernelIsa::kAvx2:
      AdamAvx2(c, n, grad, p, m, v);
      break;
    case KernelIsa::kBaseline:
      AdamBaseline(c, n, grad, p, m, v);
      break;
  }
}

std::string_view KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kBaseline:
      return "baseline";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kAvx512:
      return "avx512";
  }
  return "baseline";
}

bool KernelIsaSupported(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kBaseline:
      return true;
    case KernelIsa::kAvx2:
      return __builtin_cpu_supports("avx2");
    case KernelIsa::kAvx512:
      return __builtin_cpu_supports("avx512f");
  }
  return false;
}

KernelIsa ChooseKernelIsa() {
  KernelIsa want = KernelIsa::kAvx512;
  if (const char* env = std::getenv("FLSENTRY_KERNEL_ISA")) {
    for (KernelIsa isa :
         {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
      if (KernelIsaName(isa) == env) want = isa;
    }
  }
  while (!KernelIsaSupported(want))
    want = static_cast<KernelIsa>(static_cast<int>(want) - 1);
  return want;
}

// ---- WorkerPool -----------------------------------------------------------

WorkerPool::WorkerPool(int threads) {
  // A thread that cannot be started (or no room to hold it) leaves the pool
  // with fewer: the same results, less parallelism. Started threads are
  // always joined by the destructor.
  try {
    workers_.reserve(static_cast<size_t>(std::max(0, threads - 1)));
    for (int t = 1; t < threads; ++t)
      workers_.emplace_back([this] { WorkerLoop(); });
  } catch (...) {
  }
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void WorkerPool::Drain() {
  for (;;) {
    int64_t t;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_ >= tasks_) return;
      t = next_++;
    }
    (*task_)(t);
  }
}

void WorkerPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    Drain();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++finished_;
    }
    done_.notify_one();
  }
}

void WorkerPool::Run(int64_t tasks, const std::function<void(int64_t)>& task) {
  if (tasks <= 0) return;
  if (workers_.empty() || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) task(t);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    task_ = &task;
    tasks_ = tasks;
    next_ = 0;
    finished_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  Drain();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock,
             [&] { return finished_ == static_cast<int>(workers_.size()); });
  task_ = nullptr;
}

// ---- Gemm -----------------------------------------------------------------

void Gemm(const GemmArgs& g, KernelIsa isa, WorkerPool& pool) {
  if (g.m <= 0 || g.n <= 0) return;
  // Column blocks whose k x width strip of B stays in L2 (256 KiB), in
  // multiples of 64 columns; row chunks of 64 (multiples of every MR).
  const int64_t width =
      std::max<int64_t>(64, (65536 / std::max<int64_t>(1, g.k)) / 64 * 64);
  const int64_t height = 64;
  const int64_t col_blocks = (g.n + width - 1) / width;
  const int64_t row_blocks = (g.m + height - 1) / height;
  auto block = [&](int64_t t) {
    const int64_t i0 = (t / col_blocks) * height;
    const int64_t j0 = (t % col_blocks) * width;
    const int64_t i1 = std::min(g.m, i0 + height);
    const int64_t j1 = std::min(g.n, j0 + width);
    switch (isa) {
      case KernelIsa::kAvx512:
        BlockAvx512(g, i0, i1, j0, j1);
        break;
      case KernelIsa::kAvx2:
        BlockAvx2(g, i0, i1, j0, j1);
        break;
      case KernelIsa::kBaseline:
        BlockBaseline(g, i0, i1, j0, j1);
        break;
    }
  };
  pool.Run(row_blocks * col_blocks, block);
}

void Transpose(const float* src, int64_t rows, int64_t cols, float* dst,
               WorkerPool& pool) {
  constexpr int64_t kTile = 32;
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  pool.Run(row_tiles, [&](int64_t t) {
    const int64_t r0 = t * kTile, r1 = std::min(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
    }
  });
}

}  // namespace flsentry
