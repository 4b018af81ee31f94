// feature_extractor.h — turns one client update into the fixed-size vector the
// autoencoder reads, in one streaming pass over the update's tensors:
//   * layer selection (include/exclude fnmatch patterns; integer and bool
//     tensors left out unless asked for),
//   * the delta from the global model, computed on the fly for full weights,
//   * the update's L2 norm and its non-finite count,
//   * an embedding: `identity` (the whole flattened update, the original
//     tool's input; for small models) or `sketch` (a seeded block count-sketch
//     to k dimensions: O(d) time, O(k) extra memory, no d x k matrix).
// With `normalize`, the embedding is of the unit-normalised update, scaled by
// sqrt(dim) so its entries are O(1): direction only; size is a separate
// signal (the norm). No LibTorch. The same code runs in training and in the
// plugin; tests/unit/feature_extractor_test.cc pins the mapping with golden
// values.
//
// The sketch, for coordinate j (0..63) of block b (64 consecutive elements of
// one tensor, in row-major order): u = SplitMix64((seed ^ Fnv1a(name)) + b),
// start = ((u mod 2^32) * k) div 2^32, sign = (bit 63 of u) ? -1 : +1, and
//   embedding[(start + j) mod k] += sign * pattern[j] * x
// where pattern[j] = bit j of SplitMix64(seed) ? -1 : +1. Unbiased for inner
// products (E <Sx, Sy> = <x, y>) when k >= 64.
//
// Arithmetic: the fast path reads values as f32, sums squares of pairs in
// f32 and those sums in f64 (the norm), and accumulates the sketch in f32.
// An update whose f32 sums overflow although its values are finite (values
// beyond ~1e19, f64 values beyond the f32 range, deltas that overflow f32)
// is embedded again in f64 throughout (values, deltas, squares, sketch);
// its norm is then infinite only when the f64 sum of squares overflows
// (values beyond ~1e154), and such an update is not embedded. The fast
// path's results, and so the golden values, are unchanged by this.
#ifndef FLSENTRY_FEATURES_FEATURE_EXTRACTOR_H_
#define FLSENTRY_FEATURES_FEATURE_EXTRACTOR_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "features/round_input.h"
#include "tensor/tensor_view.h"

namespace flsentry {

enum class EmbeddingMode { kIdentity, kSketch };

// "identity" / "sketch".
const char* EmbeddingModeName(EmbeddingMode mode);

// Largest number of coordinates `identity` mode accepts (its autoencoder's
// first layer grows with it).
inline constexpr int64_t kMaxIdentityCoordinates = int64_t{1} << 22;
// Bounds of the sketch dimension.
inline constexpr int64_t kMinSketchDim = 64;
inline constexpr int64_t kMaxSketchDim = int64_t{1} << 16;

// How updates become embeddings. Recorded in the detector file: training and
// scoring must use identical settings.
struct FeatureSettings {
  std::vector<std::string> include;  // fnmatch patterns; empty = all tensors
  std::vector<std::string> exclude;  // fnmatch patterns, applied after include
  bool include_integer = false;      // integer/bool tensors (e.g. BatchNorm's
                                     // num_batches_tracked) are left out
  EmbeddingMode mode = EmbeddingMode::kSketch;
  int64_t sketch_dim = 1024;   // k, for mode kSketch
  uint64_t seed = 0x5eed2024;  // sketch hash seed
  bool normalize = true;       // embed x * sqrt(dim) / ||x||
  // The sketch's block placement (docs/detector.md, "Features"):
  //   1 (default): a block starts at any offset and carries one seeded +-1
  //      pattern;
  //   2 (opt-in): a block starts at a multiple of 64 and carries one of 32
  //      seeded patterns (chosen by its hash): no partial overlaps between
  //      blocks, ~8% faster at d = 1e7, but it caught fewer attackers in
  //      live benchmark runs (docs/performance.md).
  // Documents without the key are 1.
  int sketch_version = 1;
};

// JSON form (keys: include, exclude, include_integer, mode, sketch_dim, seed,
// normalize, sketch_version). FromJson: missing keys take the defaults above;
// a wrong type or out-of-range value is kCorrupt naming the key.
nlohmann::json FeatureSettingsToJson(const FeatureSettings& settings);
Result<FeatureSettings> FeatureSettingsFromJson(const nlohmann::json& json);

// The tensors an embedding reads, in embedding order (the reference model's
// tensor order), with their shapes.
struct FeatureLayout {
  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    int64_t offset = 0;  // first coordinate of this tensor in identity mode
    int64_t numel = 0;
  };
  std::vector<Entry> tensors;
  int64_t num_coordinates = 0;  // sum of numel
  // LayoutSignature of the selected tensors (sorted "name[shape];...").
  std::string signature;
};

nlohmann::json FeatureLayoutToJson(const FeatureLayout& layout);
// kCorrupt on a malformed document (names the field).
Result<FeatureLayout> FeatureLayoutFromJson(const nlohmann::json& json);

// Selects the tensors of `reference` (a model's or an update's tensors) that
// `settings` keeps. Errors: kInvalidArgument when nothing is selected, a
// pattern is malformed, or identity mode would exceed
// kMaxIdentityCoordinates; ValidateView's errors.
Result<FeatureLayout> SelectLayout(const FeatureSettings& settings,
                                   std::span<const TensorView> reference);

// What one pass over an update measured.
struct UpdateFeatures {
  double norm = 0.0;      // L2 norm of the selected (delta) coordinates
  int64_t nonfinite = 0;  // NaN/Inf elements among them
  int64_t numel = 0;      // coordinates visited
  // False when the embedding could not be normalised (norm zero or not
  // finite); the embedding is then all zeros.
  bool embedded = false;
  // Column energies of the layout's profiled tensor (column_outliers.h):
  // cols values, each the sum over rows of the squared delta (f32); empty
  // when not asked for (Embed's column_energy), the layout has no such
  // tensor, the update was not embedded or was embedded by the f64
  // fallback (EmbedWide), or a sum is not finite.
  std::vector<float> column_energy;
};

// Embeds updates. Immutable after Create; Embed may run concurrently from
// several threads on different outputs.
class FeatureExtractor {
 public:
  // Errors: kInvalidArgument for settings out of range (sketch_dim outside
  // [kMinSketchDim, kMaxSketchDim]) or an empty layout.
  static Result<FeatureExtractor> Create(FeatureSettings settings,
                                         FeatureLayout layout);

  const FeatureSettings& settings() const { return settings_; }
  const FeatureLayout& layout() const { return layout_; }
  // Length of the embedding: sketch_dim, or layout().num_coordinates.
  int64_t dim() const;

  // Embeds `update` into `out` (REQUIRES out.size() == dim()). When
  // update.kind is kWeights, each selected tensor of `global` (same name) is
  // subtracted element-wise. Reads every tensor in place: any float dtype,
  // any strides. Errors: kInvalidArgument naming the tensor when the update
  // (or global, for weights) lacks a selected tensor, its shape differs from
  // the layout, or its dtype is not floating; ValidateView's errors. With
  // `column_energy`, also measures UpdateFeatures::column_energy: one more
  // pass over the profiled tensor (a model whose first Linear holds all of
  // its 1e7 parameters embeds in ~1.6 x the time).
  Result<UpdateFeatures> Embed(const UpdateInput& update,
                               std::span<const TensorView> global,
                               std::span<float> out,
                               bool column_energy = false) const;

 private:
  FeatureExtractor(FeatureSettings settings, FeatureLayout layout);
  // Embed in f64 throughout, for updates whose values overflow the fast
  // path's f32 sums (see the header comment). xs / gs: the update's (and
  // global model's, or null) tensor per layout entry.
  UpdateFeatures EmbedWide(const std::vector<const TensorView*>& xs,
                           const std::vector<const TensorView*>& gs,
                           std::span<float> out) const;

  FeatureSettings settings_;
  FeatureLayout layout_;
  int profiled_ = -1;                  // ProfiledTensor(layout_)
  std::vector<uint64_t> name_hashes_;  // per layout entry
  // kPatterns(sketch_version) patterns of 64 entries +-1, each followed by
  // its negation.
  std::vector<float> pattern_;
};

// How central each update's direction is in its round: the cosine between
// row i of `rows` (n rows of `dim` floats, row-major: a round's embeddings)
// and the mean of the unit-normalised *other* rows. Near 1 for an update
// crafted from the round's mean (ALIE, min-max with a small deviation),
// around the benign level for honest non-IID updates, negative for updates
// pointing against the others (sign flip, IPM). O(n * dim) time, O(dim)
// extra memory, f64 accumulation. Returns n values; NaN for a row with zero
// or non-finite norm (it is also left out of the others' means) and for
// every row when fewer than 2 other rows have a norm. Pure; thread-safe.
// (The mean over some rows only, near-copies counted once: known_direction.h.)
// REQUIRES: rows.size() == n * dim.
std::vector<double> LeaveOneOutCentrality(std::span<const float> rows,
                                          int64_t n, int64_t dim);

}  // namespace flsentry

#endif  // FLSENTRY_FEATURES_FEATURE_EXTRACTOR_H_
