#include "detector/autoencoder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <numeric>
#include <optional>

#include "detector/mlp.h"

namespace flsentry {

struct Autoencoder::Impl {
  Impl(std::vector<int64_t> sizes, std::vector<Activation> activations)
      : net(std::move(sizes), std::move(activations)) {}
  Mlp net;
};

namespace {

constexpr int64_t kMaxLayerSize = int64_t{1} << 24;
// Rows per forward pass when scoring or validating (bounds the scratch
// memory; rows are independent, so the split does not change a result).
constexpr int64_t kScoreChunk = 256;

// SplitMix64 (Steele, Lea, Flood 2014): the generator behind every random
// number here, seeded by the caller; `stream` separates the uses of a seed.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream)
      : state_(seed ^ (stream * 0xd1342543de82ef95ULL)) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n), n >= 1 (multiply-shift; bias below n / 2^64).
  int64_t Below(int64_t n) {
    return static_cast<int64_t>(
        (static_cast<unsigned __int128>(Next()) * static_cast<uint64_t>(n)) >>
        64);
  }
  // A random permutation of 0..n-1 (Fisher-Yates).
  std::vector<int64_t> Permutation(int64_t n) {
    std::vector<int64_t> p(static_cast<size_t>(n));
    std::iota(p.begin(), p.end(), int64_t{0});
    for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[Below(i + 1)]);
    return p;
  }

 private:
  uint64_t state_;
};

// OK when `activations` is empty or has one entry per layer.
Status CheckActivationCount(const std::vector<Activation>& activations,
                            size_t layers) {
  if (activations.empty() || activations.size() == layers) return Status::Ok();
  return InvalidArgument(std::to_string(activations.size()) +
                         " activations given for " + std::to_string(layers) +
                         " Linear layers");
}

constexpr uint64_t kInitStream = 1;
constexpr uint64_t kTrainStream = 2;

// Runs `fn` and converts any exception (std::bad_alloc above all) into a
// Status.
template <typename Fn>
Status Guarded(const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return InternalError(std::string(what) + ": " + e.what());
  }
}

// Whether data holds exactly rows x dim floats (without overflowing).
bool SizeMatches(std::span<const float> data, int64_t rows, int64_t dim) {
  return rows >= 0 && dim > 0 && data.size() % static_cast<size_t>(dim) == 0 &&
         data.size() / static_cast<size_t>(dim) == static_cast<size_t>(rows);
}

Status CheckData(std::span<const float> data, int64_t rows, int64_t dim,
                 int64_t min_rows) {
  if (rows < min_rows) {
    return InvalidArgument("need at least " + std::to_string(min_rows) +
                           " rows to train, got " + std::to_string(rows));
  }
  if (!SizeMatches(data, rows, dim)) {
    return InvalidArgument("data holds " + std::to_string(data.size()) +
                           " floats, expected " + std::to_string(rows) + " x " +
                           std::to_string(dim));
  }
  for (float v : data) {
    if (!std::isfinite(v))
      return InvalidArgument("training data holds non-finite values");
  }
  return Status::Ok();
}

// Rows `index` of data (dim floats each), gathered in that order.
AlignedFloats Gather(std::span<const float> data, int64_t dim,
                     std::span<const int64_t> index) {
  AlignedFloats out(index.size() * static_cast<size_t>(dim));
  for (size_t r = 0; r < index.size(); ++r) {
    std::copy_n(data.begin() + index[r] * dim, dim,
                out.begin() + static_cast<int64_t>(r) * dim);
  }
  return out;
}

// Per-row squared reconstruction errors of `rows` rows of x, forward passes
// of at most kScoreChunk rows.
void RowErrors(const Mlp& net, const float* x, int64_t rows,
               const KernelContext& ctx, double* out) {
  const int64_t dim = net.input_dim();
  MlpWorkspace ws(net, std::min(rows, kScoreChunk));
  for (int64_t r = 0; r < rows; r += kScoreChunk) {
    const int64_t n = std::min(kScoreChunk, rows - r);
    const float* y = Forward(net, x + r * dim, n, ws, ctx);
    RowSquaredErrors(x + r * dim, y, n, dim, out + r);
  }
}

// Mean squared error over every element of x's rows (row sums in order).
double MeanLoss(const Mlp& net, const AlignedFloats& x, int64_t rows,
                const KernelContext& ctx) {
  std::vector<double> errors(static_cast<size_t>(rows));
  RowErrors(net, x.data(), rows, ctx, errors.data());
  double total = 0.0;
  for (double e : errors) total += e;
  return total /
         (static_cast<double>(rows) * static_cast<double>(net.input_dim()));
}

// Minibatch training state shared by Train and FineTune.
class Trainer {
 public:
  Trainer(Mlp& net, double learning_rate, double weight_decay, int batch_size,
          const KernelContext& ctx)
      : net_(net),
        ctx_(ctx),
        batch_size_(batch_size),
        adam_(net.params().size(), learning_rate, weight_decay),
        grad_(net.params().size()) {}

  // One epoch of Adam over the rows of x (rows x dim) in the order of a
  // fresh permutation drawn from rng; returns the mean training loss (each
  // batch's loss weighted by its row count).
  double Epoch(const AlignedFloats& x, int64_t rows, Rng& rng) {
    const int64_t dim = net_.input_dim();
    const int64_t batch = std::min<int64_t>(batch_size_, rows);
    if (!ws_ || ws_->max_rows < batch) {
      ws_.emplace(net_, batch);
      batch_.resize(static_cast<size_t>(batch * dim));
    }
    const std::vector<int64_t> order = rng.Permutation(rows);
    double total = 0.0;
    for (int64_t start = 0; start < rows; start += batch) {
      const int64_t n = std::min(batch, rows - start);
      for (int64_t r = 0; r < n; ++r) {
        std::copy_n(x.begin() + order[start + r] * dim, dim,
                    batch_.begin() + r * dim);
      }
      const double loss =
          LossAndGradient(net_, batch_.data(), n, *ws_, grad_, ctx_);
      adam_.Step(net_.params(), grad_, ctx_);
      total += loss * static_cast<double>(n);
    }
    return total / static_cast<double>(rows);
  }

 private:
  Mlp& net_;
  KernelContext ctx_;
  int batch_size_;
  Adam adam_;
  AlignedFloats grad_;
  AlignedFloats batch_;
  std::optional<MlpWorkspace> ws_;
};

}  // namespace

Autoencoder::Autoencoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Autoencoder::~Autoencoder() = default;

Result<std::unique_ptr<Autoencoder>> Autoencoder::Create(
    std::vector<int64_t> layer_sizes, uint64_t seed,
    std::vector<Activation> activations) {
  if (layer_sizes.size() < 2 || layer_sizes.front() != layer_sizes.back()) {
    return InvalidArgument(
        "autoencoder layer sizes must start and end with the input size");
  }
  for (int64_t s : layer_sizes) {
    if (s < 1 || s > kMaxLayerSize) {
      return InvalidArgument("autoencoder layer size " + std::to_string(s) +
                             " is outside [1, 2^24]");
    }
  }
  FLS_RETURN_IF_ERROR(
      CheckActivationCount(activations, layer_sizes.size() - 1));
  std::unique_ptr<Impl> impl;
  Status st = Guarded("creating the autoencoder", [&]() -> Status {
    impl =
        std::make_unique<Impl>(std::move(layer_sizes), std::move(activations));
    Mlp& net = impl->net;
    Rng rng(seed, kInitStream);
    for (size_t l = 0; l < net.num_layers(); ++l) {
      // PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for both,
      // the weight first, drawn in its [out, in] row-major order.
      const int64_t in = net.sizes()[l], out = net.sizes()[l + 1];
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      auto draw = [&] {
        return static_cast<float>(-bound + 2.0 * bound * rng.Uniform());
      };
      std::vector<float> weight(static_cast<size_t>(in * out));
      for (float& w : weight) w = draw();
      net.SetWeight(l, weight.data());
      float* bias = net.params().data() + net.bias_offset(l);
      for (int64_t o = 0; o < out; ++o) bias[o] = draw();
    }
    return Status::Ok();
  });
  FLS_RETURN_IF_ERROR(st);
  return std::unique_ptr<Autoencoder>(new Autoencoder(std::move(impl)));
}

Result<std::unique_ptr<Autoencoder>> Autoencoder::FromWeights(
    std::span<const TensorView> weights, std::vector<Activation> activations) {
  auto find = [&](const std::string& name) -> const TensorView* {
    for (const TensorView& t : weights)
      if (t.name == name) return &t;
    return nullptr;
  };
  std::vector<int64_t> sizes;
  std::vector<const TensorView*> tensors;  // weight, bias per layer
  for (size_t i = 0;; ++i) {
    const std::string w_name = "layers." + std::to_string(i) + ".weight";
    const std::string b_name = "layers." + std::to_string(i) + ".bias";
    const TensorView* w = find(w_name);
    if (!w) {
      if (i == 0) return Corrupt("autoencoder weights lack '" + w_name + "'");
      break;
    }
    const TensorView* b = find(b_name);
    if (!b) return Corrupt("autoencoder weights lack '" + b_name + "'");
    if (w->dtype != DType::kF32 || b->dtype != DType::kF32) {
      return Corrupt("autoencoder weights must be float32 ('" + w_name + "')");
    }
    if (w->shape.size() != 2 || b->shape.size() != 1 ||
        b->shape[0] != w->shape[0] || w->shape[0] < 1 || w->shape[1] < 1 ||
        w->shape[0] > kMaxLayerSize || w->shape[1] > kMaxLayerSize) {
      return Corrupt("autoencoder layer " + std::to_string(i) +
                     " has ill-shaped weight or bias");
    }
    if (i == 0) {
      sizes.push_back(w->shape[1]);
    } else if (w->shape[1] != sizes.back()) {
      return Corrupt("autoencoder layer " + std::to_string(i) + " expects " +
                     std::to_string(w->shape[1]) +
                     " inputs, previous layer gives " +
                     std::to_string(sizes.back()));
    }
    sizes.push_back(w->shape[0]);
    for (const TensorView* t : {w, b}) {
      int64_t numel = 0, extent = 0;
      FLS_RETURN_IF_ERROR(
          ValidateView(*t, &numel, &extent).WithContext(std::string(t->name)));
      if (!t->IsContiguous() || !t->data)
        return Corrupt("autoencoder tensor '" + std::string(t->name) +
                       "' is not contiguous");
      const float* p = static_cast<const float*>(t->data);
      for (int64_t k = 0; k < numel; ++k) {
        if (!std::isfinite(p[k]))
          return Corrupt("autoencoder tensor '" + std::string(t->name) +
                         "' holds non-finite values");
      }
      tensors.push_back(t);
    }
  }
  if (sizes.front() != sizes.back()) {
    return Corrupt("autoencoder output size " + std::to_string(sizes.back()) +
                   " differs from its input size " +
                   std::to_string(sizes.front()));
  }
  FLS_RETURN_IF_ERROR(CheckActivationCount(activations, sizes.size() - 1));
  std::unique_ptr<Impl> impl;
  Status st = Guarded("loading autoencoder weights", [&]() -> Status {
    impl = std::make_unique<Impl>(std::move(sizes), std::move(activations));
    Mlp& net = impl->net;
    for (size_t l = 0; l < net.num_layers(); ++l) {
      const float* w = static_cast<const float*>(tensors[2 * l]->data);
      const float* b = static_cast<const float*>(tensors[2 * l + 1]->data);
      net.SetWeight(l, w);
      std::copy_n(b, net.sizes()[l + 1],
                  net.params().begin() + net.bias_offset(l));
    }
    return Status::Ok();
  });
  FLS_RETURN_IF_ERROR(st);
  return std::unique_ptr<Autoencoder>(new Autoencoder(std::move(impl)));
}

const std::vector<int64_t>& Autoencoder::layer_sizes() const {
  return impl_->net.sizes();
}
const std::vector<Activation>& Autoencoder::activations() const {
  return impl_->net.activations();
}
int64_t Autoencoder::input_dim() const { return impl_->net.input_dim(); }
int64_t Autoencoder::num_parameters() const {
  return static_cast<int64_t>(impl_->net.params().size());
}

Result<TrainReport> Autoencoder::Train(std::span<const float> data,
                                       int64_t rows,
                                       const TrainOptions& options) {
  FLS_RETURN_IF_ERROR(CheckData(data, rows, input_dim(), 2));
  if (options.max_epochs < 1 || options.batch_size < 1 ||
      options.patience < 1 || !(options.learning_rate > 0) ||
      !(options.validation_fraction > 0) ||
      !(options.validation_fraction < 1)) {
    return InvalidArgument("training options out of range");
  }
  TrainReport report;
  const auto started = std::chrono::steady_clock::now();
  Status st = Guarded("training the autoencoder", [&]() -> Status {
    Mlp& net = impl_->net;
    WorkerPool pool(std::max(1, options.threads));
    const KernelContext ctx{ChooseKernelIsa(), &pool};
    Rng rng(options.seed, kTrainStream);
    // Held-out rows: a seeded permutation's tail.
    const std::vector<int64_t> perm = rng.Permutation(rows);
    const int64_t n_val = std::clamp<int64_t>(
        std::llround(options.validation_fraction * static_cast<double>(rows)),
        1, rows - 1);
    const std::span<const int64_t> train_idx(perm.data(), rows - n_val);
    const std::span<const int64_t> val_idx(perm.data() + rows - n_val, n_val);
    const int64_t dim = input_dim();
    const AlignedFloats train = Gather(data, dim, train_idx);
    const AlignedFloats val = Gather(data, dim, val_idx);
    report.train_rows = rows - n_val;
    report.validation_rows = n_val;
    report.validation_indices.assign(val_idx.begin(), val_idx.end());

    Trainer trainer(net, options.learning_rate, options.weight_decay,
                    options.batch_size, ctx);
    double best = std::numeric_limits<double>::infinity();
    AlignedFloats best_params;
    int since_best = 0;
    for (int epoch = 1; epoch <= options.max_epochs; ++epoch) {
      report.final_train_loss = trainer.Epoch(train, report.train_rows, rng);
      const double val_loss = MeanLoss(net, val, n_val, ctx);
      report.epochs_run = epoch;
      if (val_loss < best) {
        best = val_loss;
        report.best_epoch = epoch;
        since_best = 0;
        best_params = net.params();
      } else {
        ++since_best;
      }
      if (options.progress) {
        std::fprintf(
            stderr,
            "\repoch %d/%d  train %.6g  val %.6g  best %.6g (epoch %d)   ",
            epoch, options.max_epochs, report.final_train_loss, val_loss, best,
            report.best_epoch);
      }
      if (!std::isfinite(report.final_train_loss)) {
        return InternalError("training diverged (loss not finite)");
      }
      if (since_best >= options.patience) break;
    }
    if (options.progress) std::fprintf(stderr, "\n");
    if (best_params.empty())
      return InternalError("validation loss never finite");
    net.params() = std::move(best_params);
    report.best_validation_loss = best;
    return Status::Ok();
  });
  FLS_RETURN_IF_ERROR(st);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  return report;
}

Status Autoencoder::FineTune(std::span<const float> data, int64_t rows,
                             int epochs, double learning_rate, int batch_size,
                             uint64_t seed, int threads) {
  FLS_RETURN_IF_ERROR(CheckData(data, rows, input_dim(), 1));
  if (epochs < 0 || batch_size < 1 || !(learning_rate > 0)) {
    return InvalidArgument("fine-tuning options out of range");
  }
  return Guarded("fine-tuning the autoencoder", [&]() -> Status {
    WorkerPool pool(std::max(1, threads));
    const KernelContext ctx{ChooseKernelIsa(), &pool};
    Rng rng(seed, kTrainStream);
    const AlignedFloats x(data.begin(), data.end());
    Trainer trainer(impl_->net, learning_rate, 0.0, batch_size, ctx);
    for (int e = 0; e < epochs; ++e) {
      if (!std::isfinite(trainer.Epoch(x, rows, rng)))
        return InternalError("fine-tuning diverged (loss not finite)");
    }
    return Status::Ok();
  });
}

Result<std::vector<double>> Autoencoder::Score(std::span<const float> data,
                                               int64_t rows,
                                               int threads) const {
  if (!SizeMatches(data, rows, input_dim())) {
    return InvalidArgument("scoring data holds " + std::to_string(data.size()) +
                           " floats, expected rows x " +
                           std::to_string(input_dim()));
  }
  std::vector<double> scores(static_cast<size_t>(rows));
  if (rows == 0) return scores;
  Status st = Guarded("scoring", [&]() -> Status {
    WorkerPool pool(std::max(1, threads));
    const KernelContext ctx{ChooseKernelIsa(), &pool};
    RowErrors(impl_->net, data.data(), rows, ctx, scores.data());
    const double dim = static_cast<double>(input_dim());
    for (double& s : scores) s /= dim;
    return Status::Ok();
  });
  FLS_RETURN_IF_ERROR(st);
  return scores;
}

std::vector<WeightArray> Autoencoder::ExportWeights() const {
  const Mlp& net = impl_->net;
  std::vector<WeightArray> out;
  for (size_t l = 0; l < net.num_layers(); ++l) {
    const int64_t in = net.sizes()[l], o = net.sizes()[l + 1];
    WeightArray w{"layers." + std::to_string(l) + ".weight", {o, in}, {}};
    w.data.resize(static_cast<size_t>(in * o));
    net.GetWeight(l, w.data.data());
    WeightArray b{"layers." + std::to_string(l) + ".bias", {o}, {}};
    b.data.assign(net.bias(l), net.bias(l) + o);
    out.push_back(std::move(w));
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace flsentry
