// FeatureExtractor::Create and Embed (feature_extractor.h): the one streaming
// pass over an update's tensors (the delta from the global model, the norm,
// the sketch or identity embedding), its f64 fallback, and the second pass
// over the profiled tensor for its column energies. The settings and
// layout are in feature_extractor.cc.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "features/column_outliers.h"
#include "features/feature_extractor.h"
#include "features/layout_check.h"

namespace flsentry {
namespace {

constexpr int64_t kBlock = 64;  // sketch block: consecutive elements
constexpr int64_t kV2Patterns =
    32;  // sketch_version 2: patterns per tensor seed
constexpr int64_t kChunk = 64 * 64;  // elements converted at a time (slow path)

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Per-tensor state while streaming: where blocks go, and the 64 lanes of the
// sum of squares (f64; a fixed lane order keeps results deterministic).
struct SketchTarget {
  float* acc = nullptr;  // k floats
  int64_t k = 0;
  uint64_t key = 0;  // seed ^ Fnv1a(name)
  // Patterns: pattern q at patterns + 128 q, its negation 64 floats later.
  const float* patterns = nullptr;
  uint64_t pattern_mask = 0;         // q = (u >> 32) & pattern_mask
  int64_t start_mask = ~int64_t{0};  // block start & start_mask
};

// Adds `n` contiguous values (x - g when g is non-null) whose first element
// is element `first` of its tensor (REQUIRES first % 64 == 0) into the
// sketch, and their squares into sq[8] (per block: f32 sums of two squares
// in 32 lanes, folded to 8, then f64 accumulation in a fixed lane order, so
// results are deterministic). The hot loop of the product: compiled for AVX2
// and a baseline, chosen at load time.
__attribute__((target_clones("avx2", "default"))) void SketchRun(
    const float* __restrict x, const float* __restrict g, int64_t n,
    int64_t first, const SketchTarget& t, double* __restrict sq) {
  float delta[kBlock];
  double s[8] = {};
  const uint64_t k = static_cast<uint64_t>(t.k);
  for (int64_t done = 0; done < n; done += kBlock) {
    const int64_t len = std::min<int64_t>(kBlock, n - done);
    const float* v = x + done;
    if (g) {
      const float* gv = g + done;
      for (int64_t j = 0; j < len; ++j) delta[j] = v[j] - gv[j];
      v = delta;
    }
    const uint64_t u =
        SplitMix64(t.key + static_cast<uint64_t>((first + done) / kBlock));
    const int64_t start =
        static_cast<int64_t>(((u & 0xffffffffULL) * k) >> 32) & t.start_mask;
    const float* __restrict p = t.patterns +
                                ((u >> 32) & t.pattern_mask) * 2 * kBlock +
                                ((u >> 63) ? kBlock : 0);
    if (len == kBlock && start + kBlock <= t.k) {
      float* __restrict a = t.acc + start;
#pragma GCC ivdep
      for (int64_t j = 0; j < kBlock; ++j) a[j] += p[j] * v[j];
      // The same sums as the general path below (lane l of chain c holds
      // v[8c+l]^2 + v[32+8c+l]^2), written without a zeroed scratch array:
      // its per-block zeroing and spills cost more than the rest of the block.
      for (int l = 0; l < 8; ++l) {
        const float c0 = v[l] * v[l] + v[l + 32] * v[l + 32];
        const float c1 = v[l + 8] * v[l + 8] + v[l + 40] * v[l + 40];
        const float c2 = v[l + 16] * v[l + 16] + v[l + 48] * v[l + 48];
        const float c3 = v[l + 24] * v[l + 24] + v[l + 56] * v[l + 56];
        s[l] += (c0 + c1) + (c2 + c3);
      }
      continue;
    }
    float b[32] = {};  // four independent chains of 8 lanes
    for (int64_t j = 0; j < len; ++j) {
      int64_t slot = start + j;
      if (slot >= t.k) slot -= t.k;
      t.acc[slot] += p[j] * v[j];
      b[j & 31] += v[j] * v[j];
    }
    for (int l = 0; l < 8; ++l)
      s[l] += (b[l] + b[l + 8]) + (b[l + 16] + b[l + 24]);
  }
  for (int l = 0; l < 8; ++l) sq[l] += s[l];
}

// Identity mode: out[i] = x[i] - g[i]; squares into sq[8] (as SketchRun).
__attribute__((target_clones("avx2", "default"))) void IdentityRun(
    const float* __restrict x, const float* __restrict g, int64_t n,
    float* __restrict out, double* __restrict sq) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = g ? x[i] - g[i] : x[i];
    out[i] = v;
    sq[i & 7] += static_cast<double>(v) * static_cast<double>(v);
  }
}

float LoadAsFloat(const unsigned char* p, DType dtype) {
  switch (dtype) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kF64: {
      double v;
      std::memcpy(&v, p, 8);
      return static_cast<float>(v);
    }
    case DType::kF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return HalfToFloat(b);
    }
    case DType::kBF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return BFloat16ToFloat(b);
    }
    default:
      return static_cast<float>(ElementAsDouble(p, dtype, 0));
  }
}

double LoadAsDouble(const unsigned char* p, DType dtype) {
  if (dtype == DType::kF64) {
    double v;
    std::memcpy(&v, p, 8);
    return v;
  }
  return LoadAsFloat(p, dtype);
}

bool IsNonFinite(const unsigned char* p, DType dtype) {
  if (dtype == DType::kF64) {
    double v;
    std::memcpy(&v, p, 8);
    return !std::isfinite(v);
  }
  return !std::isfinite(LoadAsFloat(p, dtype));
}

// Converts elements [start, start + len) of a contiguous tensor to float.
void ConvertContiguous(const TensorView& t, int64_t start, int64_t len,
                       float* out) {
  const auto* base = static_cast<const unsigned char*>(t.data);
  switch (t.dtype) {
    case DType::kF32:
      std::memcpy(out, base + start * 4, static_cast<size_t>(len) * 4);
      return;
    case DType::kF64: {
      const unsigned char* p = base + start * 8;
      for (int64_t i = 0; i < len; ++i) {
        double v;
        std::memcpy(&v, p + i * 8, 8);
        out[i] = static_cast<float>(v);
      }
      return;
    }
    case DType::kBF16: {
      const unsigned char* p = base + start * 2;
      for (int64_t i = 0; i < len; ++i) {
        uint16_t b;
        std::memcpy(&b, p + i * 2, 2);
        const uint32_t bits = static_cast<uint32_t>(b) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      return;
    }
    default: {
      const size_t size = DTypeSize(t.dtype);
      for (int64_t i = 0; i < len; ++i) {
        out[i] = LoadAsFloat(base + (start + i) * size, t.dtype);
      }
    }
  }
}

// Streams the values of `x` (minus `g`, if given) in row-major order as
// float runs of at most kChunk elements: emit(values, global_or_null, n,
// first). Contiguous f32 is passed through without a copy.
template <typename Emit>
void StreamTensor(const TensorView& x, const TensorView* g, int64_t n,
                  Emit&& emit) {
  const bool x_fast = x.dtype == DType::kF32 && x.IsContiguous();
  const bool g_fast = !g || (g->dtype == DType::kF32 && g->IsContiguous());
  if (x_fast && g_fast) {
    emit(static_cast<const float*>(x.data),
         g ? static_cast<const float*>(g->data) : nullptr, n, int64_t{0});
    return;
  }
  float xb[kChunk];
  float gb[kChunk];
  const bool x_contig = x.IsContiguous();
  const bool g_contig = !g || g->IsContiguous();
  OffsetWalker xw(x);
  OffsetWalker gw(g ? *g : x);
  const auto* xd = static_cast<const unsigned char*>(x.data);
  const auto* gd = g ? static_cast<const unsigned char*>(g->data) : nullptr;
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t len = std::min(kChunk, n - start);
    if (x_contig) {
      ConvertContiguous(x, start, len, xb);
    } else {
      for (int64_t i = 0; i < len; ++i, xw.Next())
        xb[i] = LoadAsFloat(xd + xw.offset(), x.dtype);
    }
    if (g) {
      if (g_contig) {
        ConvertContiguous(*g, start, len, gb);
      } else {
        for (int64_t i = 0; i < len; ++i, gw.Next())
          gb[i] = LoadAsFloat(gd + gw.offset(), g->dtype);
      }
    }
    emit(xb, g ? gb : nullptr, len, start);
  }
}

int64_t CountNonFinite(const TensorView& x, const TensorView* g, int64_t n) {
  int64_t bad = 0;
  const auto* xd = static_cast<const unsigned char*>(x.data);
  const auto* gd = g ? static_cast<const unsigned char*>(g->data) : nullptr;
  OffsetWalker xw(x);
  OffsetWalker gw(g ? *g : x);
  for (int64_t i = 0; i < n; ++i, xw.Next(), gw.Next()) {
    bool nonfinite = IsNonFinite(xd + xw.offset(), x.dtype);
    if (!nonfinite && g) nonfinite = IsNonFinite(gd + gw.offset(), g->dtype);
    if (!nonfinite && g) {
      const double d =
          static_cast<double>(LoadAsFloat(xd + xw.offset(), x.dtype)) -
          LoadAsFloat(gd + gw.offset(), g->dtype);
      nonfinite = !std::isfinite(d);
    }
    bad += nonfinite;
  }
  return bad;
}

// Column energies of `x` (minus `g`) read as [rows, cols] (column_energy
// in feature_extractor.h); empty when a sum is not finite. Sums in f32 (a
// share judged against a limit of 0.3 needs no more), in one vectorised
// loop per row.
std::vector<float> ColumnEnergy(const TensorView& x, const TensorView* g,
                                const FeatureLayout::Entry& e) {
  const int64_t cols = e.shape[1];
  std::vector<float> sums(static_cast<size_t>(cols), 0.0f);
  // A run is cut where rows end, so that each piece adds one row's values
  // into consecutive columns.
  auto add = [&](const float* xs, const float* gs, int64_t n, int64_t first) {
    int64_t c = first % cols;
    for (int64_t j = 0; j < n; c = 0) {
      const int64_t len = std::min(n - j, cols - c);
      float* sum = sums.data() + c;
      const float* xr = xs + j;
      if (gs) {
        const float* gr = gs + j;
        for (int64_t q = 0; q < len; ++q) {
          const float v = xr[q] - gr[q];
          sum[q] += v * v;
        }
      } else {
        for (int64_t q = 0; q < len; ++q) sum[q] += xr[q] * xr[q];
      }
      j += len;
    }
  };
  StreamTensor(x, g, e.numel, add);
  for (float v : sums) {
    if (!std::isfinite(v)) return {};
  }
  return sums;
}

const TensorView* FindTensor(std::span<const TensorView> tensors,
                             std::string_view name) {
  for (const TensorView& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// Checks that `t` can stand for layout entry `e`.
Status CheckTensor(const FeatureLayout::Entry& e, const TensorView* t,
                   const char* what) {
  if (!t)
    return InvalidArgument(std::string(what) + " lacks tensor '" + e.name +
                           "'");
  if (!std::equal(t->shape.begin(), t->shape.end(), e.shape.begin(),
                  e.shape.end())) {
    return InvalidArgument(std::string(what) + " tensor '" + e.name +
                           "' has shape " + ShapeText(t->shape) +
                           ", expected " + ShapeText(e.shape));
  }
  if (!IsFloating(t->dtype)) {
    return InvalidArgument(std::string(what) + " tensor '" + e.name +
                           "' has dtype " + std::string(TorchName(t->dtype)) +
                           ", expected a floating type");
  }
  int64_t numel = 0, extent = 0;
  FLS_RETURN_IF_ERROR(
      ValidateView(*t, &numel, &extent)
          .WithContext(std::string(what) + " tensor '" + e.name + "'"));
  if (numel > 0 && !t->data) {
    return InvalidArgument(std::string(what) + " tensor '" + e.name +
                           "' has no data");
  }
  return Status::Ok();
}

}  // namespace

FeatureExtractor::FeatureExtractor(FeatureSettings settings,
                                   FeatureLayout layout)
    : settings_(std::move(settings)), layout_(std::move(layout)) {}

Result<FeatureExtractor> FeatureExtractor::Create(FeatureSettings settings,
                                                  FeatureLayout layout) {
  if (settings.sketch_version != 1 && settings.sketch_version != 2) {
    return InvalidArgument("sketch_version " +
                           std::to_string(settings.sketch_version) +
                           ": expected 1 or 2");
  }
  if (settings.sketch_dim < kMinSketchDim ||
      settings.sketch_dim > kMaxSketchDim) {
    return InvalidArgument("sketch_dim " + std::to_string(settings.sketch_dim) +
                           " is outside [" + std::to_string(kMinSketchDim) +
                           ", " + std::to_string(kMaxSketchDim) + "]");
  }
  if (layout.tensors.empty() || layout.num_coordinates <= 0) {
    return InvalidArgument("the feature layout selects no tensor");
  }
  if (settings.mode == EmbeddingMode::kIdentity &&
      layout.num_coordinates > kMaxIdentityCoordinates) {
    return InvalidArgument("identity mode limited to " +
                           std::to_string(kMaxIdentityCoordinates) +
                           " coordinates");
  }
  FeatureExtractor fx(std::move(settings), std::move(layout));
  fx.profiled_ = ProfiledTensor(fx.layout_);
  for (const auto& e : fx.layout_.tensors) {
    fx.name_hashes_.push_back(fx.settings_.seed ^ Fnv1a(e.name));
  }
  const int64_t patterns = fx.settings_.sketch_version == 2 ? kV2Patterns : 1;
  fx.pattern_.resize(static_cast<size_t>(patterns * 2 * kBlock));
  for (int64_t q = 0; q < patterns; ++q) {
    const uint64_t bits =
        SplitMix64(fx.settings_.seed + static_cast<uint64_t>(q));
    for (int64_t j = 0; j < kBlock; ++j) {
      const float p = ((bits >> j) & 1) ? -1.0f : 1.0f;
      fx.pattern_[q * 2 * kBlock + j] = p;
      fx.pattern_[q * 2 * kBlock + kBlock + j] = -p;
    }
  }
  return fx;
}

int64_t FeatureExtractor::dim() const {
  return settings_.mode == EmbeddingMode::kSketch ? settings_.sketch_dim
                                                  : layout_.num_coordinates;
}

Result<UpdateFeatures> FeatureExtractor::Embed(
    const UpdateInput& update, std::span<const TensorView> global,
    std::span<float> out, bool column_energy) const {
  if (static_cast<int64_t>(out.size()) != dim()) {
    return InternalError("embedding buffer has " + std::to_string(out.size()) +
                         " floats, expected " + std::to_string(dim()));
  }
  const bool weights = update.kind == UpdateKind::kWeights;
  std::vector<const TensorView*> xs, gs;
  for (const auto& e : layout_.tensors) {
    const TensorView* x = FindTensor(update.tensors, e.name);
    FLS_RETURN_IF_ERROR(CheckTensor(e, x, "update"));
    const TensorView* g = nullptr;
    if (weights) {
      g = FindTensor(global, e.name);
      FLS_RETURN_IF_ERROR(CheckTensor(e, g, "global model"));
    }
    xs.push_back(x);
    gs.push_back(g);
  }

  std::fill(out.begin(), out.end(), 0.0f);
  UpdateFeatures f;
  double total_sq = 0.0;
  for (size_t i = 0; i < layout_.tensors.size(); ++i) {
    const auto& e = layout_.tensors[i];
    double sq[8] = {};
    if (settings_.mode == EmbeddingMode::kSketch) {
      const bool v2 = settings_.sketch_version == 2;
      SketchTarget target{out.data(),
                          settings_.sketch_dim,
                          name_hashes_[i],
                          pattern_.data(),
                          v2 ? static_cast<uint64_t>(kV2Patterns - 1) : 0,
                          v2 ? ~(kBlock - 1) : ~int64_t{0}};
      StreamTensor(
          *xs[i], gs[i], e.numel,
          [&](const float* x, const float* g, int64_t n, int64_t first) {
            SketchRun(x, g, n, first, target, sq);
          });
    } else {
      float* dst = out.data() + e.offset;
      StreamTensor(
          *xs[i], gs[i], e.numel,
          [&](const float* x, const float* g, int64_t n, int64_t first) {
            IdentityRun(x, g, n, dst + first, sq);
          });
    }
    double tensor_sq = 0.0;
    for (double s : sq) tensor_sq += s;
    if (!std::isfinite(tensor_sq))
      f.nonfinite += CountNonFinite(*xs[i], gs[i], e.numel);
    total_sq += tensor_sq;
    f.numel += e.numel;
  }
  const bool sums_finite = std::isfinite(total_sq) &&
                           std::all_of(out.begin(), out.end(), [](float v) {
                             return std::isfinite(v);
                           });
  if (f.nonfinite == 0 && !sums_finite) return EmbedWide(xs, gs, out);
  f.norm = std::sqrt(total_sq);
  if (!std::isfinite(f.norm) || (settings_.normalize && f.norm == 0.0)) {
    std::fill(out.begin(), out.end(), 0.0f);
    return f;
  }
  if (settings_.normalize) {
    const float scale =
        static_cast<float>(std::sqrt(static_cast<double>(dim())) / f.norm);
    for (float& v : out) v *= scale;
  }
  f.embedded = true;
  if (column_energy && profiled_ >= 0) {
    f.column_energy =
        ColumnEnergy(*xs[profiled_], gs[profiled_], layout_.tensors[profiled_]);
  }
  return f;
}

UpdateFeatures FeatureExtractor::EmbedWide(
    const std::vector<const TensorView*>& xs,
    const std::vector<const TensorView*>& gs, std::span<float> out) const {
  const bool sketch = settings_.mode == EmbeddingMode::kSketch;
  const bool v2 = settings_.sketch_version == 2;
  const int64_t k = settings_.sketch_dim;
  std::vector<double> acc(out.size(), 0.0);
  UpdateFeatures f;
  double total_sq = 0.0;
  for (size_t i = 0; i < layout_.tensors.size(); ++i) {
    const auto& e = layout_.tensors[i];
    const TensorView& x = *xs[i];
    const TensorView* g = gs[i];
    const auto* xd = static_cast<const unsigned char*>(x.data);
    const auto* gd = g ? static_cast<const unsigned char*>(g->data) : nullptr;
    OffsetWalker xw(x);
    OffsetWalker gw(g ? *g : x);
    int64_t start = 0;
    const float* p = nullptr;
    for (int64_t n = 0; n < e.numel; ++n, xw.Next(), gw.Next()) {
      double v = LoadAsDouble(xd + xw.offset(), x.dtype);
      if (g) v -= LoadAsDouble(gd + gw.offset(), g->dtype);
      total_sq += v * v;
      if (!sketch) {
        acc[static_cast<size_t>(e.offset + n)] = v;
        continue;
      }
      if (n % kBlock == 0) {  // the block's placement, as in SketchRun
        const uint64_t u =
            SplitMix64(name_hashes_[i] + static_cast<uint64_t>(n / kBlock));
        start = static_cast<int64_t>(
                    ((u & 0xffffffffULL) * static_cast<uint64_t>(k)) >> 32) &
                (v2 ? ~(kBlock - 1) : ~int64_t{0});
        p = pattern_.data() +
            ((u >> 32) & (v2 ? static_cast<uint64_t>(kV2Patterns - 1) : 0)) *
                2 * kBlock +
            ((u >> 63) ? kBlock : 0);
      }
      int64_t slot = start + n % kBlock;
      if (slot >= k) slot -= k;
      acc[static_cast<size_t>(slot)] += p[n % kBlock] * v;
    }
    f.numel += e.numel;
  }
  std::fill(out.begin(), out.end(), 0.0f);
  f.norm = std::sqrt(total_sq);
  if (!std::isfinite(f.norm) || (settings_.normalize && f.norm == 0.0)) {
    return f;
  }
  const double scale = settings_.normalize
                           ? std::sqrt(static_cast<double>(dim())) / f.norm
                           : 1.0;
  for (size_t j = 0; j < out.size(); ++j) {
    out[j] = static_cast<float>(acc[j] * scale);
    if (!std::isfinite(out[j])) {  // unnormalised values beyond f32
      std::fill(out.begin(), out.end(), 0.0f);
      return f;
    }
  }
  f.embedded = true;
  return f;
}

}  // namespace flsentry
