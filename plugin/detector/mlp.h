// mlp.h — the autoencoder's network as plain float arrays: parameters, the
// forward pass, the MSE loss with its gradient, and Adam. Internal to
// detector/ (autoencoder.cc is the public face).
//
// Every number is computed by dense_kernels.h's kernels or by element-wise
// loops in a fixed order, so results depend only on the inputs: not on the
// CPU, the KernelIsa path or the thread count (dense_kernels.h).
//
// Threading: an Mlp is not thread-safe; Forward may run concurrently on one
// Mlp with distinct workspaces.
#ifndef FLSENTRY_DETECTOR_MLP_H_
#define FLSENTRY_DETECTOR_MLP_H_

#include <cstdint>
#include <vector>

#include "detector/activation.h"
#include "detector/dense_kernels.h"

namespace flsentry {

// Where the kernels run: the instruction-set path and the threads.
struct KernelContext {
  KernelIsa isa = KernelIsa::kBaseline;
  WorkerPool* pool = nullptr;  // not owned; REQUIRED non-null
};

// Linear layers sizes[0] -> sizes[1] -> ..., layer l's output passed through
// activations[l] (activation.h). Weights are stored transposed ([in, out], the
// forward pass's operand), so no step of training has to transpose them.
class Mlp {
 public:
  // Zero parameters; empty activations mean DefaultActivations. REQUIRES:
  // sizes.size() >= 2, every size >= 1, activations empty or one per layer
  // (callers validate). Throws std::bad_alloc when memory runs out.
  explicit Mlp(std::vector<int64_t> sizes,
               std::vector<Activation> activations = {});

  const std::vector<int64_t>& sizes() const { return sizes_; }
  size_t num_layers() const { return sizes_.size() - 1; }
  int64_t input_dim() const { return sizes_.front(); }
  int64_t output_dim() const { return sizes_.back(); }
  const std::vector<Activation>& activations() const { return activations_; }
  bool relu(size_t layer) const {
    return activations_[layer] == Activation::kRelu;
  }

  // Every parameter in one array: layer 0's transposed weight ([in, out],
  // row-major), layer 0's bias ([out]), layer 1's transposed weight, ...
  AlignedFloats& params() { return params_; }
  const AlignedFloats& params() const { return params_; }
  int64_t weight_offset(size_t layer) const { return offsets_[2 * layer]; }
  int64_t bias_offset(size_t layer) const { return offsets_[2 * layer + 1]; }
  const float* weight_t(size_t layer) const {
    return params_.data() + weight_offset(layer);
  }
  const float* bias(size_t layer) const {
    return params_.data() + bias_offset(layer);
  }

  // A layer's weight in PyTorch's layout [out, in] (row-major), out of and
  // into the transposed store.
  void GetWeight(size_t layer, float* out_in) const;
  void SetWeight(size_t layer, const float* out_in);

 private:
  std::vector<int64_t> sizes_;
  std::vector<Activation> activations_;  // one per layer
  std::vector<int64_t> offsets_;         // weight, bias offsets per layer
  AlignedFloats params_;
};

// Scratch buffers for batches of up to max_rows rows of one Mlp shape,
// used by Forward and LossAndGradient only.
struct MlpWorkspace {
  MlpWorkspace(const Mlp& net, int64_t max_rows);
  int64_t max_rows;
  std::vector<AlignedFloats> outputs;  // layer l's output, rows x sizes[l+1]
  // Gradient w.r.t. a layer's output (rows x size), its transpose, and the
  // transposed gradient w.r.t. the layer's input.
  AlignedFloats grad, grad_t, grad_in_t;
  std::vector<double> row_errors;
};

// Runs `rows` rows of x (row-major, rows x input_dim) through the network.
// Returns the output (rows x output_dim), valid until the workspace is used
// again. REQUIRES: 0 < rows <= ws.max_rows.
const float* Forward(const Mlp& net, const float* x, int64_t rows,
                     MlpWorkspace& ws, const KernelContext& ctx);

// out[r] = sum over j in increasing order of (double(y[r][j]) -
// double(x[r][j]))^2, in double precision.
void RowSquaredErrors(const float* x, const float* y, int64_t rows, int64_t dim,
                      double* out);

// The mean squared reconstruction error of `rows` rows of x (returned, in
// double: the row sums of RowSquaredErrors added in row order, divided by
// the element count) and its gradient with respect to every parameter
// (written to grad, laid out as params(), computed in float as PyTorch's
// autograd defines it). REQUIRES: input_dim == output_dim,
// 0 < rows <= ws.max_rows.
double LossAndGradient(const Mlp& net, const float* x, int64_t rows,
                       MlpWorkspace& ws, AlignedFloats& grad,
                       const KernelContext& ctx);

// torch.optim.Adam (amsgrad off) over one parameter array: betas 0.9/0.999,
// eps 1e-8, bias correction, weight_decay added to the gradient as L2.
class Adam {
 public:
  Adam(size_t num_params, double learning_rate, double weight_decay);
  // One step (dense_kernels.h AdamUpdate), element by element in float.
  // REQUIRES: sizes match num_params.
  void Step(AlignedFloats& params, const AlignedFloats& grad,
            const KernelContext& ctx);

 private:
  double learning_rate_, weight_decay_;
  AlignedFloats m_, v_;
  double beta1_power_ = 1.0, beta2_power_ = 1.0;  // b^t, by multiplication
};

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_MLP_H_
