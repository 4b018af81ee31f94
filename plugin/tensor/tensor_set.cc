#include "tensor/tensor_set.h"

namespace flsentry {

std::vector<TensorView> TensorSet::Views() const {
  std::vector<TensorView> views;
  views.reserve(tensors.size());
  for (const OwnedTensor& t : tensors) views.push_back(t.view());
  return views;
}

const OwnedTensor* TensorSet::Find(std::string_view name) const {
  for (const OwnedTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace flsentry
