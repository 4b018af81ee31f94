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

// For each update, "" when its layout matches the reference, else a short
// description of the first difference ("missing tensor 'fc.bias'",
// "shape of 'fc.weight' is [3,4], expected [4,4]"). Updates whose
// invalid_reason is set are skipped (their entry is "").
std::vector<std::string> FindLayoutMismatches(const RoundInput& round);

// A shape as text, e.g. "[3,4]" ("[]" for a scalar).
std::string ShapeText(std::span<const int64_t> shape);

// A canonical text of a layout, e.g. "fc.bias[4];fc.weight[4,3]" (sorted by
// name), used to compare and to record layouts.
std::string LayoutSignature(std::span<const TensorView> tensors);

}  // namespace flsentry

#endif  // FLSENTRY_FEATURES_LAYOUT_CHECK_H_
