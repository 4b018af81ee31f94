// tensor_set.h — an owning set of named tensors read from a file (.pth or
// .safetensors), plus the file's non-tensor scalars. Tensor bytes are read
// once: views point into the backing buffers (usually a read-only mmap of the
// file), never into copies. Move-only; not thread-safe to mutate, safe to
// read from several threads.
#ifndef FLSENTRY_TENSOR_TENSOR_SET_H_
#define FLSENTRY_TENSOR_TENSOR_SET_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tensor/tensor_view.h"

namespace flsentry {

// A non-tensor value found next to the tensors, e.g. {"num_examples": 600}.
using ScalarValue = std::variant<bool, int64_t, double, std::string>;

struct OwnedTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements; empty = contiguous
  const void* data = nullptr;    // points into TensorSet's backing buffers

  // OWNERSHIP: the view borrows this OwnedTensor; valid while it lives
  // unmoved.
  TensorView view() const { return {name, dtype, shape, strides, data}; }
};

class TensorSet {
 public:
  TensorSet() = default;
  TensorSet(TensorSet&&) = default;
  TensorSet& operator=(TensorSet&&) = default;
  TensorSet(const TensorSet&) = delete;
  TensorSet& operator=(const TensorSet&) = delete;

  // Tensors in file order.
  std::vector<OwnedTensor> tensors;
  // Non-tensor scalars, keyed by their dotted key path ("round", "meta.lr").
  std::map<std::string, ScalarValue> scalars;
  // Keeps the memory that tensors point into alive (an mmap, a heap buffer).
  std::vector<std::shared_ptr<const void>> backing;

  // Views of all tensors, in file order. OWNERSHIP: borrow from *this.
  std::vector<TensorView> Views() const;
  // nullptr when absent.
  const OwnedTensor* Find(std::string_view name) const;
};

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_TENSOR_SET_H_
