// layout_check.h — the shape-mismatch guard: does an update carry exactly
// the tensors (names and shapes) of the model being trained? The reference
// is the global model when the round has one, otherwise the layout most
// updates of the round share. dtypes may differ (f16 and f32 copies of one
// model are comparable). No LibTorch. Thread-compatible.
#ifndef FLSENTRY_FEATURES_LAYOUT_CHECK_H_
#define FLSENTRY_FEATURES_LAYOUT_CHECK_H_

#include <span>
#include <string>
#include <vector>

#include "features/round_input.h"

namespace flsentry {

// One tensor's name, dtype and shape, owned: what the guards and the
// round's fingerprint need of a tensor once its bytes are gone (a round
// given one update at a time keeps this, not the update).
struct TensorMeta {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
};
std::vector<TensorMeta> MetasOf(std::span<const TensorView> tensors);

// For each update, "" when its layout matches the reference, else a short
// description of the first difference ("missing tensor 'fc.bias'",
// "shape of 'fc.weight' is [3,4], expected [4,4]"). Updates whose
// invalid_reason is set are skipped (their entry is "").
std::vector<std::string> FindLayoutMismatches(const RoundInput& round);
// The same for a round known by its layouts: `global` (empty when the
// round has none) and one entry per update, null for an update to skip
// (its entry is "").
std::vector<std::string> FindLayoutMismatches(
    std::span<const TensorMeta> global,
    std::span<const std::vector<TensorMeta>* const> updates);

// A shape as text, e.g. "[3,4]" ("[]" for a scalar).
std::string ShapeText(std::span<const int64_t> shape);

// A canonical text of a layout, e.g. "fc.bias[4];fc.weight[4,3]" (sorted by
// name), used to compare and to record layouts.
std::string LayoutSignature(std::span<const TensorView> tensors);
std::string LayoutSignature(std::span<const TensorMeta> tensors);

}  // namespace flsentry

#endif  // FLSENTRY_FEATURES_LAYOUT_CHECK_H_
