// tensor_view.h — a borrowed, read-only view of one named tensor, the one
// representation every later stage (features, detector, policy) reads,
// whether the bytes come from a file (TensorSet) or from a host's buffers
// (the C interface). No LibTorch.
#ifndef FLSENTRY_TENSOR_TENSOR_VIEW_H_
#define FLSENTRY_TENSOR_TENSOR_VIEW_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"

namespace flsentry {

// OWNERSHIP: borrows name, shape, strides and data; whoever made the view
// keeps them alive for as long as the view is used.
struct TensorView {
  std::string_view name;
  DType dtype = DType::kF32;
  std::span<const int64_t> shape;
  // In elements. Empty means contiguous row-major.
  std::span<const int64_t> strides;
  // Element [0, ..., 0]. May be null only when numel() == 0.
  const void* data = nullptr;

  // REQUIRES: the view passed ValidateView (so the product cannot overflow).
  int64_t numel() const;
  // True when strides are empty or equal to the row-major strides of shape.
  bool IsContiguous() const;
};

// Checks rank <= 8, non-negative sizes and strides, and that numel and the
// largest byte offset touched fit in int64. On success sets *numel and
// *extent_bytes (bytes from data to one past the last element touched; 0 for
// an empty tensor).
Status ValidateView(const TensorView& view, int64_t* numel,
                    int64_t* extent_bytes);

// Walks the byte offsets of a view's elements in row-major order, so that
// strided views are read in place. REQUIRES: ValidateView succeeded.
//   OffsetWalker w(view);
//   for (int64_t i = 0; i < n; ++i) { use(w.offset()); w.Next(); }
class OffsetWalker {
 public:
  explicit OffsetWalker(const TensorView& view);
  // Bytes from view.data to the current element.
  int64_t offset() const { return offset_ * element_size_; }
  void Next() {
    for (size_t d = shape_.size(); d-- > 0;) {
      if (++index_[d] < shape_[d]) {
        offset_ += strides_[d];
        return;
      }
      offset_ -= strides_[d] * (shape_[d] - 1);
      index_[d] = 0;
    }
  }

 private:
  std::vector<int64_t> shape_, strides_, index_;
  int64_t offset_ = 0;  // in elements
  int64_t element_size_;
};

// Calls fn(element_index_in_row_major_order, byte_offset_from_data) for every
// element. REQUIRES: ValidateView succeeded.
template <typename Fn>
void ForEachElementOffset(const TensorView& view, Fn&& fn) {
  const int64_t n = view.numel();
  OffsetWalker walker(view);
  for (int64_t i = 0; i < n; ++i, walker.Next()) fn(i, walker.offset());
}

// Row-major strides for `shape`, in elements.
std::vector<int64_t> ContiguousStrides(std::span<const int64_t> shape);

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_TENSOR_VIEW_H_
