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

// What an attacker that trains adds to its local training (neurotoxin,
// constrain_scale). Tensors are flat float32 over the model's parameters
// (FlattenParameters order), borrowed for the call.
struct TrainingConstraint {
  // Each gradient is multiplied by it (0s and 1s) before the step, so
  // coordinates where it is 0 never change. Null: none.
  const torch::Tensor* gradient_mask = nullptr;
  // With an anchor the loss is class_weight x cross-entropy + (1 -
  // class_weight) x ||parameters - anchor||^2 (Bagdasaryan et al.'s
  // alpha L_class + (1 - alpha) L_ano, with a distance as L_ano). Null: none.
  const torch::Tensor* anchor = nullptr;
  double class_weight = 1.0;
};

// Trains `model` in place with SGD (cross-entropy, and `constraint`) on
// images [N,1,28,28] float32 and labels [N] int64, shuffling each epoch with
// `seed`. Returns the mean training loss of the last epoch.
// REQUIRES: N >= 1, options valid (SimConfig validates them), the
// constraint's tensors as long as the flattened parameters.
double TrainLocal(Model& model, const torch::Tensor& images,
                  const torch::Tensor& labels,
                  const LocalTrainingOptions& options, uint64_t seed,
                  const TrainingConstraint& constraint = {});

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
// "poison_fraction"); kConfig for an unknown key or a value out of range.
Result<BackdoorTrigger> BackdoorTriggerFromParams(const Params& params,
                                                  double* poison_fraction);

// A trigger backdoor's parameters (IsBackdoorAttack types).
struct BackdoorAttack {
  BackdoorTrigger trigger;
  double poison_fraction = 0.5;
  double keep_ratio = 1.0;    // neurotoxin: share of coordinates trained
  double class_weight = 1.0;  // constrain_scale: alpha
  double scale = 1.0;         // constrain_scale: gamma, the update's factor
};

// Reads attack.params of `type`: "backdoor" (target, trigger_size,
// poison_fraction, as BackdoorTriggerFromParams), "neurotoxin" (and
// keep_ratio, default 0.95, in (0, 1]) or "constrain_scale" (and alpha,
// default 0.7, in (0, 1], and scale, default 2, in [1, 100]). kConfig for an
// unknown key or a value out of range.
Result<BackdoorAttack> BackdoorAttackFromParams(const std::string& type,
                                                const Params& params);

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
