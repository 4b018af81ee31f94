// local_training.h — what one simulated client does with its data (local
// SGD, optionally on poisoned data) and how the server measures the global
// model (test accuracy, backdoor attack success rate).
//
// Host-side harness code, not part of the plugin. Functions take the model
// by reference and are not thread-safe for the same model. Results depend
// only on the inputs and the seed (given the same LibTorch thread count).
#ifndef FLSENTRY_INTEGRATION_LOCAL_TRAINING_H_
#define FLSENTRY_INTEGRATION_LOCAL_TRAINING_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "fashion_mnist.h"
#include "models.h"
#include "sim_config.h"

namespace flsentry::sim {

struct LocalTrainingOptions {
  int epochs = 1;
  double lr = 0.05;
  double momentum = 0.0;
  int batch_size = 32;
};

// Trains `model` in place with SGD (cross-entropy) on images [N,1,28,28]
// float32 and labels [N] int64, shuffling each epoch with `seed`.
// `gradient_mask` (optional): a flat float32 tensor of 0s and 1s over the
// model's parameters (FlattenParameters order); each gradient is multiplied
// by it before the step, so coordinates where it is 0 never change.
// Returns the mean training loss of the last epoch.
// REQUIRES: N >= 1, options valid (SimConfig validates them), the mask (if
// given) as long as the flattened parameters.
double TrainLocal(Model& model, const torch::Tensor& images,
                  const torch::Tensor& labels,
                  const LocalTrainingOptions& options, uint64_t seed,
                  const torch::Tensor* gradient_mask = nullptr);

struct Evaluation {
  double accuracy = 0.0;  // fraction of examples classified correctly
  double loss = 0.0;      // mean cross-entropy
  // Per class c (kNumClasses entries): the fraction of the test examples of
  // true class c classified correctly; NaN for a class with no example.
  std::vector<double> class_accuracy;
};

// Evaluates without gradients in batches of 1000.
Evaluation Evaluate(Model& model, const torch::Tensor& images,
                    const torch::Tensor& labels);

// ---- data poisoning (trained on honestly by the malicious client) -------

// The backdoor trigger: a trigger_size x trigger_size square of full-white
// pixels in the bottom-right corner, two pixels from the border.
struct BackdoorTrigger {
  int size = 3;
  int64_t target = 0;  // the class triggered images should be taken for
};

// Reads attack.params of a backdoor attack ("target", "trigger_size",
// "poison_fraction"; with `keep_ratio` non-null, a neurotoxin attack's
// "keep_ratio" too, default 0.95, in (0, 1]); kConfig for an unknown key or
// a value out of range.
Result<BackdoorTrigger> BackdoorTriggerFromParams(const Params& params,
                                                  double* poison_fraction,
                                                  double* keep_ratio = nullptr);

// Neurotoxin's gradient mask (Zhang et al., "Neurotoxin: Durable Backdoors
// in Federated Learning", ICML 2022): 1 on the ceil(keep_ratio x d)
// coordinates where the last global step `global_step` ([d] float32, the
// attacker's estimate of what benign clients change) is smallest in
// magnitude (ties: the lower index), 0 on the others; all 1s when
// `global_step` is undefined (no round before). Float32 [d].
torch::Tensor NeurotoxinMask(const torch::Tensor& global_step, int64_t d,
                             double keep_ratio);

// A copy of images with the trigger stamped on every image.
torch::Tensor StampTrigger(const torch::Tensor& images,
                           const BackdoorTrigger& trigger);

// Label flipping. Params: none (y -> 9 - y for every label) or "source" and
// "target" (only source -> target). Returns the flipped copy; kConfig for
// bad params.
Result<torch::Tensor> FlipLabels(const torch::Tensor& labels,
                                 const Params& params);

// Backdoor poisoning of a client's data: a seeded poison_fraction of the
// examples get the trigger and the target label; the rest stay clean.
// Returns {images, labels} copies.
std::pair<torch::Tensor, torch::Tensor> PoisonWithBackdoor(
    const torch::Tensor& images, const torch::Tensor& labels,
    const BackdoorTrigger& trigger, double poison_fraction, uint64_t seed);

// Attack success rate: among test examples whose true label is not the
// target, the fraction classified as the target once the trigger is
// stamped on.
double BackdoorSuccessRate(Model& model, const torch::Tensor& images,
                           const torch::Tensor& labels,
                           const BackdoorTrigger& trigger);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_LOCAL_TRAINING_H_
