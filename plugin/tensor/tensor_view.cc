#include "tensor/tensor_view.h"

#include <string>

namespace flsentry {
namespace {
constexpr size_t kMaxRank = 8;
}  // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

bool TensorView::IsContiguous() const {
  if (strides.empty()) return true;
  int64_t expected = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

OffsetWalker::OffsetWalker(const TensorView& view)
    : shape_(view.shape.begin(), view.shape.end()),
      strides_(view.strides.empty() ? ContiguousStrides(view.shape)
                                    : std::vector<int64_t>(view.strides.begin(),
                                                           view.strides.end())),
      index_(view.shape.size(), 0),
      element_size_(static_cast<int64_t>(DTypeSize(view.dtype))) {}

std::vector<int64_t> ContiguousStrides(std::span<const int64_t> shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  int64_t running = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    strides[d] = running;
    running *= shape[d];
  }
  return strides;
}

Status ValidateView(const TensorView& view, int64_t* numel,
                    int64_t* extent_bytes) {
  const std::string who = "tensor '" + std::string(view.name) + "'";
  if (view.shape.size() > kMaxRank) {
    return InvalidArgument(who + ": rank " + std::to_string(view.shape.size()) +
                           " exceeds " + std::to_string(kMaxRank));
  }
  if (!view.strides.empty() && view.strides.size() != view.shape.size()) {
    return InvalidArgument(who + ": strides and shape differ in length");
  }
  int64_t n = 1;
  for (size_t d = 0; d < view.shape.size(); ++d) {
    const int64_t size = view.shape[d];
    if (size < 0) {
      return InvalidArgument(who + ": negative size " + std::to_string(size) +
                             " in dimension " + std::to_string(d));
    }
    if (__builtin_mul_overflow(n, size, &n)) {
      return InvalidArgument(who + ": number of elements overflows");
    }
  }
  const int64_t esize = static_cast<int64_t>(DTypeSize(view.dtype));
  int64_t last = 0;  // largest element offset touched
  if (n > 0) {
    for (size_t d = 0; d < view.shape.size(); ++d) {
      const int64_t stride = view.strides.empty() ? 0 : view.strides[d];
      if (stride < 0) {
        return InvalidArgument(who + ": negative stride in dimension " +
                               std::to_string(d));
      }
      int64_t span;
      if (__builtin_mul_overflow(view.shape[d] - 1, stride, &span) ||
          __builtin_add_overflow(last, span, &last)) {
        return InvalidArgument(who + ": strides overflow");
      }
    }
    if (view.strides.empty()) last = n - 1;
  }
  int64_t extent = 0;
  if (n > 0 && (__builtin_add_overflow(last, 1, &extent) ||
                __builtin_mul_overflow(extent, esize, &extent))) {
    return InvalidArgument(who + ": byte size overflows");
  }
  if (n > 0 && view.data == nullptr) {
    return InvalidArgument(who + ": data is null");
  }
  if (n > 0 &&
      reinterpret_cast<uintptr_t>(view.data) % static_cast<uintptr_t>(esize) !=
          0) {
    return InvalidArgument(who + ": data is not aligned to its element size");
  }
  *numel = n;
  *extent_bytes = extent;
  return Status::Ok();
}

}  // namespace flsentry
