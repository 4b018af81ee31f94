#include "models.h"

#include <torch/nn/functional.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace flsentry::sim {
namespace {

namespace F = torch::nn::functional;

class Mlp : public Model {
 public:
  explicit Mlp(int hidden)
      : fc1_(register_module("fc1", torch::nn::Linear(28 * 28, hidden))),
        fc2_(register_module("fc2", torch::nn::Linear(hidden, 10))) {}

  torch::Tensor forward(torch::Tensor images) override {
    auto x = images.reshape({images.size(0), 28 * 28});
    return fc2_->forward(torch::relu(fc1_->forward(x)));
  }

 private:
  torch::nn::Linear fc1_;
  torch::nn::Linear fc2_;
};

// conv5x5(1->16) relu maxpool2 -> conv5x5(16->32) relu maxpool2 -> fc -> fc.
class SmallCnn : public Model {
 public:
  explicit SmallCnn(int hidden)
      : conv1_(register_module(
            "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 5)))),
        conv2_(register_module(
            "conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 5)))),
        fc1_(register_module("fc1", torch::nn::Linear(32 * 4 * 4, hidden))),
        fc2_(register_module("fc2", torch::nn::Linear(hidden, 10))) {}

  torch::Tensor forward(torch::Tensor images) override {
    auto x = F::max_pool2d(torch::relu(conv1_->forward(images)),
                           F::MaxPool2dFuncOptions(2));
    x = F::max_pool2d(torch::relu(conv2_->forward(x)),
                      F::MaxPool2dFuncOptions(2));
    x = x.reshape({x.size(0), 32 * 4 * 4});
    return fc2_->forward(torch::relu(fc1_->forward(x)));
  }

 private:
  torch::nn::Conv2d conv1_;
  torch::nn::Conv2d conv2_;
  torch::nn::Linear fc1_;
  torch::nn::Linear fc2_;
};

}  // namespace

Result<std::shared_ptr<Model>> MakeModel(const ModelSpec& spec) {
  if (spec.hidden < 1 || spec.hidden > 4096) {
    return ConfigError("model hidden units must be in 1..4096, got " +
                       std::to_string(spec.hidden));
  }
  try {
    if (spec.kind == "mlp") return std::shared_ptr<Model>(new Mlp(spec.hidden));
    if (spec.kind == "cnn") {
      return std::shared_ptr<Model>(new SmallCnn(spec.hidden));
    }
  } catch (const std::exception& e) {
    return InternalError(std::string("building the model: ") + e.what());
  }
  return ConfigError("unknown model kind '" + spec.kind +
                     "' (expected mlp or cnn)");
}

ParameterLayout ParameterLayout::Of(torch::nn::Module& model) {
  ParameterLayout layout;
  for (const auto& item : model.named_parameters()) {
    Entry e;
    e.name = item.key();
    e.shape = item.value().sizes().vec();
    e.offset = layout.total;
    e.numel = item.value().numel();
    layout.total += e.numel;
    layout.entries.push_back(std::move(e));
  }
  return layout;
}

torch::Tensor FlattenParameters(torch::nn::Module& model) {
  std::vector<torch::Tensor> pieces;
  for (const auto& p : model.parameters()) {
    pieces.push_back(p.detach().reshape({-1}).to(torch::kFloat32));
  }
  return torch::cat(pieces).contiguous();
}

Status LoadFlatParameters(torch::nn::Module& model, const torch::Tensor& flat) {
  const ParameterLayout layout = ParameterLayout::Of(model);
  if (!flat.defined() || flat.dim() != 1 ||
      flat.scalar_type() != torch::kFloat32 || flat.numel() != layout.total) {
    return InvalidArgument("flat parameters must be float32 [" +
                           std::to_string(layout.total) + "]");
  }
  torch::NoGradGuard no_grad;
  auto params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& e = layout.entries[i];
    params[i].copy_(flat.narrow(0, e.offset, e.numel).view(e.shape));
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, torch::Tensor>> Unflatten(
    const ParameterLayout& layout, const torch::Tensor& flat) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.reserve(layout.entries.size());
  for (const auto& e : layout.entries) {
    out.emplace_back(e.name, flat.narrow(0, e.offset, e.numel).view(e.shape));
  }
  return out;
}

}  // namespace flsentry::sim
