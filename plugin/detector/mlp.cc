// Compiled with -ffp-contract=off like dense_kernels.cc (see there): the
// element-wise loops below must round every product and sum on its own.
#include "detector/mlp.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace flsentry {

Mlp::Mlp(std::vector<int64_t> sizes, std::vector<Activation> activations)
    : sizes_(std::move(sizes)), activations_(std::move(activations)) {
  if (activations_.empty()) activations_ = DefaultActivations(num_layers());
  int64_t offset = 0;
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    offsets_.push_back(offset);
    offset += sizes_[l] * sizes_[l + 1];
    offsets_.push_back(offset);
    offset += sizes_[l + 1];
  }
  params_.assign(static_cast<size_t>(offset), 0.0f);
}

void Mlp::GetWeight(size_t layer, float* out_in) const {
  const int64_t in = sizes_[layer], out = sizes_[layer + 1];
  const float* wt = weight_t(layer);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) out_in[o * in + i] = wt[i * out + o];
}

void Mlp::SetWeight(size_t layer, const float* out_in) {
  const int64_t in = sizes_[layer], out = sizes_[layer + 1];
  float* wt = params_.data() + weight_offset(layer);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) wt[i * out + o] = out_in[o * in + i];
}

MlpWorkspace::MlpWorkspace(const Mlp& net, int64_t rows) : max_rows(rows) {
  const auto& s = net.sizes();
  const int64_t widest = *std::max_element(s.begin(), s.end());
  for (size_t l = 0; l < net.num_layers(); ++l)
    outputs.emplace_back(static_cast<size_t>(rows * s[l + 1]));
  grad.resize(static_cast<size_t>(rows * widest));
  grad_t.resize(static_cast<size_t>(rows * widest));
  grad_in_t.resize(static_cast<size_t>(rows * widest));
  row_errors.resize(static_cast<size_t>(rows));
}

const float* Forward(const Mlp& net, const float* x, int64_t rows,
                     MlpWorkspace& ws, const KernelContext& ctx) {
  const auto& s = net.sizes();
  const float* in = x;
  for (size_t l = 0; l < net.num_layers(); ++l) {
    GemmArgs g;
    g.m = rows;
    g.n = s[l + 1];
    g.k = s[l];
    g.a = in;
    g.a_row = s[l];
    g.a_col = 1;
    g.b = net.weight_t(l);
    g.ldb = s[l + 1];
    g.c = ws.outputs[l].data();
    g.ldc = s[l + 1];
    g.bias = net.bias(l);
    g.relu = net.relu(l);
    Gemm(g, ctx.isa, *ctx.pool);
    in = ws.outputs[l].data();
  }
  return in;
}

void RowSquaredErrors(const float* x, const float* y, int64_t rows, int64_t dim,
                      double* out) {
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (int64_t j = 0; j < dim; ++j) {
      const double d = static_cast<double>(y[r * dim + j]) -
                       static_cast<double>(x[r * dim + j]);
      sum += d * d;
    }
    out[r] = sum;
  }
}

namespace {

// The gradient of one layer's transposed weight, x_in^T dz ([in, out]), and
// of its bias, the column sums of dz (rows added in order).
void WeightGradient(const float* dz, const float* x_in, int64_t rows,
                    int64_t in, int64_t out, float* grad_wt, float* grad_b,
                    const KernelContext& ctx) {
  GemmArgs g;
  g.m = in;
  g.n = out;
  g.k = rows;
  g.a = x_in;
  g.a_row = 1;
  g.a_col = in;
  g.b = dz;
  g.ldb = out;
  g.c = grad_wt;
  g.ldc = out;
  Gemm(g, ctx.isa, *ctx.pool);
  std::fill(grad_b, grad_b + out, 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) grad_b[o] += dz[r * out + o];
}

// The transposed gradient w.r.t. the previous layer's pre-activation output
// whose activation gave x_in: W^T dz^T ([in, rows]), kept where x_in > 0
// when that activation is a ReLU.
void InputGradientT(const float* dz_t, const float* weight_t, const float* x_in,
                    int64_t rows, int64_t in, int64_t out, bool relu,
                    float* dx_t, const KernelContext& ctx) {
  GemmArgs g;
  g.m = in;
  g.n = rows;
  g.k = out;
  g.a = weight_t;
  g.a_row = out;
  g.a_col = 1;
  g.b = dz_t;
  g.ldb = rows;
  g.c = dx_t;
  g.ldc = rows;
  Gemm(g, ctx.isa, *ctx.pool);
  if (!relu) return;
  for (int64_t i = 0; i < in; ++i) {
    for (int64_t r = 0; r < rows; ++r) {
      if (!(x_in[r * in + i] > 0.0f)) dx_t[i * rows + r] = 0.0f;
    }
  }
}

}  // namespace

double LossAndGradient(const Mlp& net, const float* x, int64_t rows,
                       MlpWorkspace& ws, AlignedFloats& grad,
                       const KernelContext& ctx) {
  const auto& s = net.sizes();
  const int64_t dim = net.input_dim();
  const float* y = Forward(net, x, rows, ws, ctx);
  RowSquaredErrors(x, y, rows, dim, ws.row_errors.data());
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) total += ws.row_errors[r];
  const double count = static_cast<double>(rows) * static_cast<double>(dim);

  // d(mean (y - x)^2)/dy = (y - x) * 2 / count, as torch's mse_loss.
  const float scale = static_cast<float>(2.0 / count);
  float* dz = ws.grad.data();
  float* dz_t = ws.grad_t.data();
  float* dx_t = ws.grad_in_t.data();
  for (int64_t i = 0; i < rows * dim; ++i) dz[i] = (y[i] - x[i]) * scale;
  if (net.relu(net.num_layers() - 1)) {
    for (int64_t i = 0; i < rows * dim; ++i) {
      if (!(y[i] > 0.0f)) dz[i] = 0.0f;
    }
  }
  Transpose(dz, rows, dim, dz_t, *ctx.pool);
  for (size_t l = net.num_layers(); l-- > 0;) {
    const float* x_in = l == 0 ? x : ws.outputs[l - 1].data();
    WeightGradient(dz, x_in, rows, s[l], s[l + 1],
                   grad.data() + net.weight_offset(l),
                   grad.data() + net.bias_offset(l), ctx);
    if (l == 0) break;
    // The previous layer's output gradient, transposed, then plain.
    InputGradientT(dz_t, net.weight_t(l), x_in, rows, s[l], s[l + 1],
                   net.relu(l - 1), dx_t, ctx);
    std::swap(dz_t, dx_t);
    Transpose(dz_t, s[l], rows, dz, *ctx.pool);
  }
  return total / count;
}

Adam::Adam(size_t num_params, double learning_rate, double weight_decay)
    : learning_rate_(learning_rate),
      weight_decay_(weight_decay),
      m_(num_params, 0.0f),
      v_(num_params, 0.0f) {}

void Adam::Step(AlignedFloats& params, const AlignedFloats& grad,
                const KernelContext& ctx) {
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
  beta1_power_ *= kBeta1;
  beta2_power_ *= kBeta2;
  AdamCoefficients c;
  c.beta1 = static_cast<float>(kBeta1);
  c.beta2 = static_cast<float>(kBeta2);
  c.one_minus_beta1 = static_cast<float>(1.0 - kBeta1);
  c.one_minus_beta2 = static_cast<float>(1.0 - kBeta2);
  c.eps = static_cast<float>(kEps);
  c.decay = static_cast<float>(weight_decay_);
  c.sqrt_correction2 = static_cast<float>(std::sqrt(1.0 - beta2_power_));
  c.neg_step = static_cast<float>(-learning_rate_ / (1.0 - beta1_power_));
  const int64_t n = static_cast<int64_t>(params.size());
  constexpr int64_t kChunk = 32768;
  ctx.pool->Run((n + kChunk - 1) / kChunk, [&](int64_t t) {
    const int64_t first = t * kChunk;
    AdamUpdate(c, std::min(kChunk, n - first), grad.data() + first,
               params.data() + first, m_.data() + first, v_.data() + first,
               ctx.isa);
  });
}

}  // namespace flsentry
