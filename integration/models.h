// models.h — the models the reference server trains on Fashion-MNIST, and
// their parameters as one flat float32 vector (what clients send and
// aggregators average) or as named tensors (what the filter and the round
// archive see: "fc1.weight", "fc1.bias", ...).
//
// Host-side harness code, not part of the plugin. A Model is not
// thread-safe; the server trains clients one after another on one instance.
#ifndef FLSENTRY_INTEGRATION_MODELS_H_
#define FLSENTRY_INTEGRATION_MODELS_H_

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "sim_config.h"  // ModelSpec

namespace flsentry::sim {

// A classifier of [N, 1, 28, 28] images into 10 logits.
class Model : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor images) = 0;
};

// Builds a freshly initialised model; initialisation draws from LibTorch's
// global generator (seed it with torch::manual_seed first for
// reproducibility). Returns kConfig for an unknown kind or hidden outside
// 1..4096.
Result<std::shared_ptr<Model>> MakeModel(const ModelSpec& spec);

// Where each named parameter lives in the flat vector, in the order of
// Module::named_parameters().
struct ParameterLayout {
  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    int64_t offset = 0;  // in elements
    int64_t numel = 0;
  };
  std::vector<Entry> entries;
  int64_t total = 0;  // elements in the flat vector

  static ParameterLayout Of(torch::nn::Module& model);
};

// A detached, contiguous float32 copy of all parameters, concatenated in
// layout order: shape [layout.total].
torch::Tensor FlattenParameters(torch::nn::Module& model);

// Overwrites the model's parameters from a flat vector.
// REQUIRES: flat is 1-D float32 with ParameterLayout::Of(model).total
// elements (checked; kInvalidArgument otherwise).
Status LoadFlatParameters(torch::nn::Module& model, const torch::Tensor& flat);

// Named views into `flat` with the parameters' shapes. OWNERSHIP: the
// tensors share flat's storage.
// REQUIRES: flat is contiguous with layout.total elements.
std::vector<std::pair<std::string, torch::Tensor>> Unflatten(
    const ParameterLayout& layout, const torch::Tensor& flat);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_MODELS_H_
