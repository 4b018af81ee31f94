#include "local_training.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

namespace flsentry::sim {
namespace {

constexpr int64_t kEvalBatch = 1000;

at::Generator SeededGenerator(uint64_t seed) {
  return at::detail::createCPUGenerator(seed);
}

Status OnlyKnownParams(const Params& params, const std::set<std::string>& known,
                       const std::string& attack) {
  for (const auto& [key, value] : params) {
    if (!known.count(key)) {
      return ConfigError("'attack.params." + key + "' is not a parameter of " +
                         attack);
    }
  }
  return Status::Ok();
}

Result<int64_t> ClassParam(const Params& params, const std::string& key,
                           int64_t fallback) {
  auto it = params.find(key);
  if (it == params.end()) return fallback;
  const double v = it->second;
  if (v != std::floor(v) || v < 0 || v >= kNumClasses) {
    return ConfigError("'attack.params." + key + "' must be a class 0..9");
  }
  return static_cast<int64_t>(v);
}

// `flat` (optional, [sum of numel] float32) as views shaped like each of
// the model's parameters, in FlattenParameters order; empty for null.
std::vector<torch::Tensor> PerParameter(Model& model,
                                        const torch::Tensor* flat) {
  std::vector<torch::Tensor> views;
  if (flat == nullptr) return views;
  int64_t offset = 0;
  for (const auto& p : model.parameters()) {
    views.push_back(flat->narrow(0, offset, p.numel()).view_as(p));
    offset += p.numel();
  }
  return views;
}

}  // namespace

double TrainLocal(Model& model, const torch::Tensor& images,
                  const torch::Tensor& labels,
                  const LocalTrainingOptions& options, uint64_t seed,
                  const TrainingConstraint& constraint) {
  model.train();
  const std::vector<torch::Tensor> masks =
      PerParameter(model, constraint.gradient_mask);
  const std::vector<torch::Tensor> anchors =
      PerParameter(model, constraint.anchor);
  torch::optim::SGD optimizer(
      model.parameters(),
      torch::optim::SGDOptions(options.lr).momentum(options.momentum));
  at::Generator gen = SeededGenerator(seed);
  const int64_t n = labels.size(0);
  double last_epoch_loss = 0.0;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    const torch::Tensor order = torch::randperm(n, gen, torch::kInt64);
    double loss_sum = 0.0;
    for (int64_t begin = 0; begin < n; begin += options.batch_size) {
      const int64_t size = std::min<int64_t>(options.batch_size, n - begin);
      const torch::Tensor idx = order.narrow(0, begin, size);
      optimizer.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(
          model.forward(images.index_select(0, idx)),
          labels.index_select(0, idx));
      if (!anchors.empty()) {
        torch::Tensor distance = torch::zeros({});
        size_t k = 0;
        for (const auto& p : model.parameters()) {
          distance = distance + (p - anchors[k++]).pow(2).sum();
        }
        loss = constraint.class_weight * loss +
               (1.0 - constraint.class_weight) * distance;
      }
      loss.backward();
      if (!masks.empty()) {
        size_t k = 0;
        for (auto& p : model.parameters()) {
          if (p.grad().defined()) p.mutable_grad().mul_(masks[k]);
          ++k;
        }
      }
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(size);
    }
    last_epoch_loss = loss_sum / static_cast<double>(n);
  }
  return last_epoch_loss;
}

Evaluation Evaluate(Model& model, const torch::Tensor& images,
                    const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  model.eval();
  const int64_t n = labels.size(0);
  int64_t correct = 0;
  double loss_sum = 0.0;
  torch::Tensor class_total = torch::zeros({kNumClasses}, torch::kInt64);
  torch::Tensor class_correct = torch::zeros({kNumClasses}, torch::kInt64);
  for (int64_t begin = 0; begin < n; begin += kEvalBatch) {
    const int64_t size = std::min(kEvalBatch, n - begin);
    const torch::Tensor logits = model.forward(images.narrow(0, begin, size));
    const torch::Tensor y = labels.narrow(0, begin, size);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(
                        torch::kSum))
                    .item<double>();
    const torch::Tensor hit = logits.argmax(1).eq(y);
    correct += hit.sum().item<int64_t>();
    class_total += torch::bincount(y, {}, kNumClasses);
    class_correct += torch::bincount(y.masked_select(hit), {}, kNumClasses);
  }
  Evaluation e;
  for (int64_t c = 0; c < kNumClasses; ++c) {
    const int64_t total = class_total[c].item<int64_t>();
    e.class_accuracy.push_back(
        total > 0 ? static_cast<double>(class_correct[c].item<int64_t>()) /
                        static_cast<double>(total)
                  : std::nan(""));
  }
  if (n > 0) {
    e.accuracy = static_cast<double>(correct) / static_cast<double>(n);
    e.loss = loss_sum / static_cast<double>(n);
  }
  return e;
}

Result<BackdoorTrigger> BackdoorTriggerFromParams(const Params& params,
                                                  double* poison_fraction) {
  FLS_RETURN_IF_ERROR(OnlyKnownParams(
      params, {"target", "trigger_size", "poison_fraction"}, "backdoor"));
  BackdoorTrigger trigger;
  FLS_ASSIGN_OR_RETURN(trigger.target, ClassParam(params, "target", 0));
  if (auto it = params.find("trigger_size"); it != params.end()) {
    if (it->second != std::floor(it->second) || it->second < 1 ||
        it->second > 10) {
      return ConfigError("'attack.params.trigger_size' must be 1..10 pixels");
    }
    trigger.size = static_cast<int>(it->second);
  }
  *poison_fraction = 0.5;
  if (auto it = params.find("poison_fraction"); it != params.end()) {
    if (!(it->second > 0.0 && it->second <= 1.0)) {
      return ConfigError("'attack.params.poison_fraction' must be in (0, 1]");
    }
    *poison_fraction = it->second;
  }
  return trigger;
}

Result<BackdoorAttack> BackdoorAttackFromParams(const std::string& type,
                                                const Params& params) {
  // The extra parameter of each type: name, default, bounds, field.
  struct Extra {
    const char* name;
    double fallback, low, high;
    bool low_open;
    double BackdoorAttack::*field;
  };
  std::vector<Extra> extras;
  if (type == "neurotoxin") {
    extras = {
        {"keep_ratio", 0.95, 0.0, 1.0, true, &BackdoorAttack::keep_ratio}};
  } else if (type == "constrain_scale") {
    extras = {{"alpha", 0.7, 0.0, 1.0, true, &BackdoorAttack::class_weight},
              {"scale", 2.0, 1.0, 100.0, false, &BackdoorAttack::scale}};
  }
  std::set<std::string> known = {"target", "trigger_size", "poison_fraction"};
  for (const Extra& e : extras) known.insert(e.name);
  FLS_RETURN_IF_ERROR(OnlyKnownParams(params, known, type));
  Params trigger_params;
  BackdoorAttack attack;
  for (const auto& [key, value] : params) {
    const auto extra =
        std::find_if(extras.begin(), extras.end(),
                     [&, &key = key](const Extra& e) { return key == e.name; });
    if (extra == extras.end()) {
      trigger_params[key] = value;
      continue;
    }
    const bool above =
        extra->low_open ? value > extra->low : value >= extra->low;
    if (!(above && value <= extra->high)) {
      return ConfigError("'attack.params." + key + "' must be in " +
                         (extra->low_open ? "(" : "[") +
                         std::to_string(extra->low) + ", " +
                         std::to_string(extra->high) + "]");
    }
  }
  for (const Extra& e : extras) {
    auto it = params.find(e.name);
    attack.*e.field = it == params.end() ? e.fallback : it->second;
  }
  FLS_ASSIGN_OR_RETURN(
      attack.trigger,
      BackdoorTriggerFromParams(trigger_params, &attack.poison_fraction));
  return attack;
}

torch::Tensor NeurotoxinMask(const torch::Tensor& global_step, int64_t d,
                             double keep_ratio) {
  if (!global_step.defined()) return torch::ones({d}, torch::kFloat32);
  const auto keep = std::min<int64_t>(
      d, static_cast<int64_t>(std::ceil(keep_ratio * static_cast<double>(d))));
  // A stable sort by magnitude: among equal magnitudes the lower index first.
  const torch::Tensor order = std::get<1>(
      global_step.abs().sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  torch::Tensor mask = torch::zeros({d}, torch::kFloat32);
  mask.index_fill_(0, order.narrow(0, 0, keep), 1.0f);
  return mask;
}

torch::Tensor StampTrigger(const torch::Tensor& images,
                           const BackdoorTrigger& trigger) {
  torch::Tensor out = images.clone();
  const int64_t end = kImageSide - 2;
  out.narrow(2, end - trigger.size, trigger.size)
      .narrow(3, end - trigger.size, trigger.size)
      .fill_(1.0);
  return out;
}

Result<torch::Tensor> FlipLabels(const torch::Tensor& labels,
                                 const Params& params) {
  FLS_RETURN_IF_ERROR(
      OnlyKnownParams(params, {"source", "target"}, "label_flip"));
  const bool has_source = params.count("source") > 0;
  if (has_source != (params.count("target") > 0)) {
    return ConfigError(
        "label_flip takes both 'source' and 'target' or neither");
  }
  if (!has_source) return (kNumClasses - 1) - labels;
  FLS_ASSIGN_OR_RETURN(int64_t source, ClassParam(params, "source", 0));
  FLS_ASSIGN_OR_RETURN(int64_t target, ClassParam(params, "target", 0));
  return torch::where(labels.eq(source), torch::full_like(labels, target),
                      labels);
}

std::pair<torch::Tensor, torch::Tensor> PoisonWithBackdoor(
    const torch::Tensor& images, const torch::Tensor& labels,
    const BackdoorTrigger& trigger, double poison_fraction, uint64_t seed) {
  const int64_t n = labels.size(0);
  const auto k = static_cast<int64_t>(std::lround(poison_fraction * n));
  at::Generator gen = SeededGenerator(seed);
  const torch::Tensor chosen =
      torch::randperm(n, gen, torch::kInt64).narrow(0, 0, k);
  torch::Tensor out_images = images.clone();
  torch::Tensor out_labels = labels.clone();
  out_images.index_copy_(0, chosen,
                         StampTrigger(images.index_select(0, chosen), trigger));
  out_labels.index_fill_(0, chosen, trigger.target);
  return {out_images, out_labels};
}

double BackdoorSuccessRate(Model& model, const torch::Tensor& images,
                           const torch::Tensor& labels,
                           const BackdoorTrigger& trigger) {
  const torch::Tensor keep = labels.ne(trigger.target).nonzero().reshape({-1});
  if (keep.numel() == 0) return 0.0;
  const torch::Tensor triggered =
      StampTrigger(images.index_select(0, keep), trigger);
  const torch::Tensor target =
      torch::full({keep.numel()}, trigger.target, torch::kInt64);
  return Evaluate(model, triggered, target).accuracy;
}

}  // namespace flsentry::sim
