// view_bytes.h — the bytes of a tensor view in row-major order, produced
// chunk by chunk so strided views are written without a full copy. Used by
// the .pth and .safetensors writers. No LibTorch.
#ifndef FLSENTRY_TENSOR_VIEW_BYTES_H_
#define FLSENTRY_TENSOR_VIEW_BYTES_H_

#include <cstdint>
#include <functional>
#include <span>

#include "base/status.h"
#include "tensor/tensor_view.h"

namespace flsentry {

// Calls `sink` with consecutive chunks that together are the view's elements
// in row-major order (contiguous layout, host byte order). A contiguous view
// is passed through in one call without copying; a strided one is gathered
// through a bounded buffer. Returns ValidateView's error, or the first error
// `sink` returns (and stops).
Status StreamViewBytes(
    const TensorView& view,
    const std::function<Status(std::span<const uint8_t>)>& sink);

// Bytes StreamViewBytes produces for `view`: numel * element size.
// REQUIRES: ValidateView(view) succeeded.
int64_t ContiguousByteSize(const TensorView& view);

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_VIEW_BYTES_H_
