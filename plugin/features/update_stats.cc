#include "features/update_stats.h"

#include <cmath>
#include <cstring>

namespace flsentry {
namespace {

template <typename T>
double Load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return static_cast<double>(v);
}

double LoadAny(const unsigned char* p, DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return Load<float>(p);
    case DType::kF64:
      return Load<double>(p);
    case DType::kF16: {
      uint16_t bits;
      std::memcpy(&bits, p, 2);
      return HalfToFloat(bits);
    }
    case DType::kBF16: {
      uint16_t bits;
      std::memcpy(&bits, p, 2);
      return BFloat16ToFloat(bits);
    }
    default:
      return ElementAsDouble(p, dtype, 0);
  }
}

// Contiguous f32 without a global model: the common fast path.
void AccumulateF32(const float* x, int64_t n, UpdateStats* stats) {
  double sum = 0.0;
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (!std::isfinite(v)) {
      ++bad;
      continue;
    }
    sum += v * v;
  }
  stats->l2_norm += sum;  // squared until the end
  stats->nonfinite += bad;
}

const TensorView* FindByName(const std::vector<TensorView>& tensors,
                             std::string_view name) {
  for (const TensorView& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace

UpdateStats ComputeUpdateStats(const UpdateInput& update,
                               const std::vector<TensorView>& global) {
  UpdateStats stats;
  for (const TensorView& t : update.tensors) {
    const TensorView* base = update.kind == UpdateKind::kWeights
                                 ? FindByName(global, t.name)
                                 : nullptr;
    const int64_t n = t.numel();
    stats.numel += n;
    if (!base && t.dtype == DType::kF32 && t.IsContiguous()) {
      AccumulateF32(static_cast<const float*>(t.data), n, &stats);
      continue;
    }
    const auto* x = static_cast<const unsigned char*>(t.data);
    const auto* g =
        base ? static_cast<const unsigned char*>(base->data) : nullptr;
    OffsetWalker xw(t);
    OffsetWalker gw(base ? *base : t);
    for (int64_t i = 0; i < n; ++i, xw.Next(), gw.Next()) {
      double v = LoadAny(x + xw.offset(), t.dtype);
      if (g) v -= LoadAny(g + gw.offset(), base->dtype);
      if (!std::isfinite(v)) {
        ++stats.nonfinite;
        continue;
      }
      stats.l2_norm += v * v;
    }
  }
  stats.l2_norm = std::sqrt(stats.l2_norm);
  return stats;
}

}  // namespace flsentry
