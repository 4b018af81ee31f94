// dense_kernels.h — the float32 arithmetic of the autoencoder: a matrix
// product with a fixed summation order, a small pool of worker threads, and
// 64-byte aligned buffers. Internal to detector/.
//
// Reproducibility contract: every value these kernels compute is the same
// sequence of IEEE-754 single-precision operations, each rounded on its own
// (no fused multiply-add), whatever the CPU, the instruction set path
// (KernelIsa) and the thread count. Vector paths only compute several
// independent outputs at once; threads only split the outputs among them,
// never one output's sum. So a result is a function of the inputs alone.
//
// Threading: the functions are thread-safe on disjoint outputs; a
// WorkerPool is used by one caller at a time.
#ifndef FLSENTRY_DETECTOR_DENSE_KERNELS_H_
#define FLSENTRY_DETECTOR_DENSE_KERNELS_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <string_view>
#include <thread>
#include <vector>

namespace flsentry {

// Instruction-set paths of the kernels. Each gives bit-identical results;
// they differ in speed only.
enum class KernelIsa { kBaseline, kAvx2, kAvx512 };

// "baseline" (x86-64 SSE2), "avx2", "avx512".
std::string_view KernelIsaName(KernelIsa isa);

// Whether this CPU can run `isa` (kBaseline always).
bool KernelIsaSupported(KernelIsa isa);

// The path to use: the fastest one this CPU supports, or the one named by
// the environment variable FLSENTRY_KERNEL_ISA (baseline|avx2|avx512) when
// set, lowered to the fastest supported one at or below it. Any other value
// is ignored. A diagnostic knob: the results do not depend on it.
KernelIsa ChooseKernelIsa();

// std::vector's allocator with 64-byte (cache line) alignment.
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}  // NOLINT
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), kAlign));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
};
using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

// Runs tasks on the calling thread plus threads - 1 workers that live as
// long as the pool. If a worker cannot be started the pool runs with fewer
// (results never depend on the thread count); the constructor never
// throws. Not copyable. (base/parallel.h's ParallelFor starts its threads
// per call; a training step runs about 15 parallel sections of well under
// a millisecond each, so the autoencoder keeps one pool per call instead.)
class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls task(t) exactly once for every t in [0, tasks), spread over the
  // threads, and returns when all calls have returned. REQUIRES: task does
  // not throw and does not call Run.
  void Run(int64_t tasks, const std::function<void(int64_t)>& task);

 private:
  void WorkerLoop();
  void Drain();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;  // workers: a new generation or stop
  std::condition_variable done_;  // caller: a worker finished its part
  uint64_t generation_ = 0;       // guarded by mu_
  int finished_ = 0;              // workers done with generation_; mu_
  bool stop_ = false;             // guarded by mu_
  const std::function<void(int64_t)>* task_ = nullptr;  // during Run only
  int64_t tasks_ = 0;
  int64_t next_ = 0;  // next unclaimed task; guarded by mu_
};

// C = epilogue(A x B) for row-major C [m x n] (row stride ldc), B [k x n]
// (row stride ldb) and A [m x k] read as A(i, p) = a[i * a_row + p * a_col]
// (so A may be a transpose). Every C(i, j) is computed as
//   s = +0.0f; for p = 0 .. k-1 in increasing order: s = s + A(i,p) * B(p,j)
// with the product and the sum each rounded to float; then, when `bias` is
// set, s = s + bias[j]; then, when `relu`, s = (s < 0 ? 0 : s) (NaN stays
// NaN). C must not overlap A, B or bias.
struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t a_row = 0, a_col = 1;
  const float* b = nullptr;
  int64_t ldb = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  const float* bias = nullptr;  // n values, or null
  bool relu = false;
};

// Computes the product on `isa` (REQUIRES: KernelIsaSupported(isa)) with the
// pool's threads, each thread taking whole blocks of C.
void Gemm(const GemmArgs& args, KernelIsa isa, WorkerPool& pool);

// One step of torch.optim.Adam's element-wise update, its scalars as float
// (as ATen's CPU kernels use them on float tensors).
struct AdamCoefficients {
  float beta1 = 0.9f, beta2 = 0.999f;
  float one_minus_beta1 = 0.1f, one_minus_beta2 = 0.001f;
  float eps = 1e-8f;
  float decay = 0.0f;             // weight decay; 0: none
  float sqrt_correction2 = 1.0f;  // sqrt(1 - beta2^t)
  float neg_step = 0.0f;          // -learning_rate / (1 - beta1^t)
};

// For each i in [0, n), each operation rounded to float:
//   g = grad[i], plus decay * p[i] when decay != 0
//   m[i] = m[i] * beta1 + g * one_minus_beta1
//   v[i] = v[i] * beta2 + one_minus_beta2 * g * g
//   p[i] = p[i] + neg_step * (m[i] / (sqrt(v[i]) / sqrt_correction2 + eps))
// REQUIRES: KernelIsaSupported(isa).
void AdamUpdate(const AdamCoefficients& c, int64_t n, const float* grad,
                float* p, float* m, float* v, KernelIsa isa);

// dst [cols x rows] = transpose of src [rows x cols] (both row-major, dense).
void Transpose(const float* src, int64_t rows, int64_t cols, float* dst,
               WorkerPool& pool);

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_DENSE_KERNELS_H_
