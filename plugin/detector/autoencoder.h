// autoencoder.h — the MLP autoencoder that scores embeddings by their
// reconstruction error. Layers are Linear, layer i's output passed through
// activations()[i] (activation.h; by default ReLU after every layer but the
// last), sizes layer_sizes = {input, h1, ..., input}; parameters are
// named "layers.<i>.weight" ([out, in]) and "layers.<i>.bias" ([out]).
// Plain C++ (mlp.h, dense_kernels.h); no LibTorch.
//
// Determinism: every random number comes from a generator (SplitMix64)
// seeded by the caller, and every sum has a fixed order with each product
// and sum rounded on its own (dense_kernels.h). So the same inputs and seed
// give bit-identical weights and scores on every x86-64 CPU, for every
// thread count and instruction-set path (FLSENTRY_KERNEL_ISA).
//
// Threading: an Autoencoder is not thread-safe; Score may run concurrently
// with other Score calls only (it does not modify the weights). Each call
// runs on `threads` threads of its own (the caller's included), which end
// with the call.
#ifndef FLSENTRY_DETECTOR_AUTOENCODER_H_
#define FLSENTRY_DETECTOR_AUTOENCODER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "detector/activation.h"
#include "tensor/tensor_view.h"

namespace flsentry {

// An owned float32 tensor, the form weights leave and enter this module in.
struct WeightArray {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  // OWNERSHIP: borrows *this; valid while it lives unmoved.
  TensorView view() const {
    return {name, DType::kF32, shape, {}, data.data()};
  }
};

struct TrainOptions {
  int max_epochs = 300;
  int batch_size = 32;
  double learning_rate = 1e-3;
  double weight_decay = 0.0;
  // Share of rows held out for validation (early stopping); at least one row
  // when there are 2 or more.
  double validation_fraction = 0.2;
  int patience = 20;  // epochs without validation improvement before stopping
  uint64_t seed = 1;
  int threads = 1;
  // Prints "epoch N train L val V" to stderr, redrawn on one line. The
  // caller decides (e.g. only when stderr is a TTY).
  bool progress = false;
};

struct TrainReport {
  int epochs_run = 0;
  int best_epoch = 0;
  double best_validation_loss = 0.0;  // NaN without a validation set
  double final_train_loss = 0.0;
  int64_t train_rows = 0;
  int64_t validation_rows = 0;
  double seconds = 0.0;
  // Indices (into the rows given to Train) of the validation rows, the
  // held-out set calibration uses.
  std::vector<int64_t> validation_indices;
};

class Autoencoder {
 public:
  ~Autoencoder();
  Autoencoder(const Autoencoder&) = delete;
  Autoencoder& operator=(const Autoencoder&) = delete;

  // New network with PyTorch's default initialisation drawn from `seed`;
  // empty activations mean DefaultActivations. Errors: kInvalidArgument
  // unless there are >= 2 sizes, all in [1, 2^24], first == last, and
  // activations are empty or one per layer.
  static Result<std::unique_ptr<Autoencoder>> Create(
      std::vector<int64_t> layer_sizes, uint64_t seed,
      std::vector<Activation> activations = {});

  // A network from named weights (layers.<i>.weight / bias). The layer sizes
  // are inferred from the shapes; empty activations mean DefaultActivations.
  // Errors: kCorrupt naming the missing or ill-shaped tensor, non-float32
  // data, or non-finite values; kInvalidArgument "N activations given for M
  // Linear layers".
  static Result<std::unique_ptr<Autoencoder>> FromWeights(
      std::span<const TensorView> weights,
      std::vector<Activation> activations = {});

  const std::vector<int64_t>& layer_sizes() const;
  // One per layer (layer_sizes().size() - 1 entries).
  const std::vector<Activation>& activations() const;
  int64_t input_dim() const;
  int64_t num_parameters() const;

  // Trains on `rows` rows of `data` (row-major, rows x input_dim()) with
  // Adam (torch.optim.Adam's update) on the MSE (mean over elements), in
  // mini-batches of a seeded shuffle each epoch, holding out a seeded
  // validation split for early stopping and keeping the best weights seen.
  // Errors: kInvalidArgument when rows < 2, sizes disagree, or data holds
  // non-finite values.
  Result<TrainReport> Train(std::span<const float> data, int64_t rows,
                            const TrainOptions& options);

  // Continues training for exactly `epochs` epochs on all rows (no
  // validation): the refresh step. Errors as Train (rows >= 1).
  Status FineTune(std::span<const float> data, int64_t rows, int epochs,
                  double learning_rate, int batch_size, uint64_t seed,
                  int threads);

  // Mean squared reconstruction error of each row (its squared errors
  // summed in double, in column order, divided by input_dim()), from a
  // batched forward pass. Errors: kInvalidArgument on a size mismatch.
  Result<std::vector<double>> Score(std::span<const float> data, int64_t rows,
                                    int threads) const;

  // Copies of the current weights, named layers.<i>.weight / bias.
  std::vector<WeightArray> ExportWeights() const;

 private:
  struct Impl;
  explicit Autoencoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_AUTOENCODER_H_
