#include "detector/autoencoder.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

namespace flsentry {

struct Autoencoder::Impl {
  std::vector<int64_t> sizes;
  std::vector<torch::Tensor> weights;  // [out, in]
  std::vector<torch::Tensor> biases;   // [out]

  std::vector<torch::Tensor> Parameters() const {
    std::vector<torch::Tensor> p;
    for (size_t i = 0; i < weights.size(); ++i) {
      p.push_back(weights[i]);
      p.push_back(biases[i]);
    }
    return p;
  }

  torch::Tensor Forward(torch::Tensor x) const {
    for (size_t i = 0; i < weights.size(); ++i) {
      x = torch::addmm(biases[i], x, weights[i].t());
      if (i + 1 < weights.size()) x = torch::relu(x);
    }
    return x;
  }

  // One epoch of Adam over `x` in the order of a fresh permutation drawn from
  // `gen`; returns the mean training loss.
  double RunEpoch(torch::optim::Adam& adam, const torch::Tensor& x,
                  int batch_size, at::Generator& gen) const {
    const int64_t n = x.size(0);
    torch::Tensor order = torch::randperm(n, gen, torch::kLong);
    double total = 0.0;
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t end = std::min<int64_t>(n, start + batch_size);
      torch::Tensor batch = x.index_select(0, order.slice(0, start, end));
      adam.zero_grad();
      torch::Tensor loss = torch::mse_loss(Forward(batch), batch);
      loss.backward();
      adam.step();
      total += loss.item<double>() * static_cast<double>(end - start);
    }
    return total / static_cast<double>(n);
  }

  double MeanLoss(const torch::Tensor& x) const {
    c10::InferenceMode guard;
    return torch::mse_loss(Forward(x), x).item<double>();
  }
};

namespace {

constexpr int64_t kMaxLayerSize = int64_t{1} << 24;

// Sets LibTorch's process-wide intra-op thread count for a scope and puts
// the host's setting back afterwards (the host may compute with LibTorch).
class ScopedThreads {
 public:
  explicit ScopedThreads(int threads) : saved_(at::get_num_threads()) {
    if (threads != saved_) at::set_num_threads(std::max(1, threads));
  }
  ~ScopedThreads() {
    if (at::get_num_threads() != saved_) at::set_num_threads(saved_);
  }

 private:
  int saved_;
};

// Runs `fn` and converts any library exception into a Status.
template <typename Fn>
Status Guarded(const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return InternalError(std::string(what) + ": " + e.what());
  }
}

Status CheckData(std::span<const float> data, int64_t rows, int64_t dim,
                 int64_t min_rows) {
  if (rows < min_rows) {
    return InvalidArgument("need at least " + std::to_string(min_rows) +
                           " rows to train, got " + std::to_string(rows));
  }
  if (static_cast<int64_t>(data.size()) != rows * dim) {
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

torch::Tensor Wrap(std::span<const float> data, int64_t rows, int64_t dim) {
  return torch::from_blob(const_cast<float*>(data.data()), {rows, dim},
                          torch::kFloat32);
}

}  // namespace

Autoencoder::Autoencoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Autoencoder::~Autoencoder() = default;

Result<std::unique_ptr<Autoencoder>> Autoencoder::Create(
    std::vector<int64_t> layer_sizes, uint64_t seed) {
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
  auto impl = std::make_unique<Impl>();
  Status st = Guarded("creating the autoencoder", [&]() -> Status {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i + 1 < layer_sizes.size(); ++i) {
      const int64_t in = layer_sizes[i], out = layer_sizes[i + 1];
      // PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for both.
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      impl->weights.push_back(
          torch::empty({out, in}).uniform_(-bound, bound, gen));
      impl->biases.push_back(torch::empty({out}).uniform_(-bound, bound, gen));
    }
    for (auto& p : impl->Parameters()) p.set_requires_grad(true);
    return Status::Ok();
  });
  FLS_RETURN_IF_ERROR(st);
  impl->sizes = std::move(layer_sizes);
  return std::unique_ptr<Autoencoder>(new Autoencoder(std::move(impl)));
}

Result<std::unique_ptr<Autoencoder>> Autoencoder::FromWeights(
    std::span<const TensorView> weights) {
  auto find = [&](const std::string& name) -> const TensorView* {
    for (const TensorView& t : weights)
      if (t.name == name) return &t;
    return nullptr;
  };
  auto impl = std::make_unique<Impl>();
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
      impl->sizes.push_back(w->shape[1]);
    } else if (w->shape[1] != impl->sizes.back()) {
      return Corrupt("autoencoder layer " + std::to_string(i) + " expects " +
                     std::to_string(w->shape[1]) +
                     " inputs, previous layer gives " +
                     std::to_string(impl->sizes.back()));
    }
    impl->sizes.push_back(w->shape[0]);
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
    }
    Status st = Guarded("loading autoencoder weights", [&]() -> Status {
      auto copy = [](const TensorView& t) {
        std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
        return torch::from_blob(const_cast<void*>(t.data), shape,
                                torch::kFloat32)
            .clone()
            .set_requires_grad(true);
      };
      impl->weights.push_back(copy(*w));
      impl->biases.push_back(copy(*b));
      return Status::Ok();
    });
    FLS_RETURN_IF_ERROR(st);
  }
  if (impl->sizes.front() != impl->sizes.back()) {
    return Corrupt(
        "autoencoder output size " + std::to_string(impl->sizes.back()) +
        " differs from its input size " + std::to_string(impl->sizes.front()));
  }
  return std::unique_ptr<Autoencoder>(new Autoencoder(std::move(impl)));
}

const std::vector<int64_t>& Autoencoder::layer_sizes() const {
  return impl_->sizes;
}
int64_t Autoencoder::input_dim() const { return impl_->sizes.front(); }
int64_t Autoencoder::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : impl_->Parameters()) n += p.numel();
  return n;
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
    ScopedThreads scoped_threads(options.threads);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
    torch::Tensor all = Wrap(data, rows, input_dim());
    // Held-out rows: a seeded permutation's tail.
    torch::Tensor perm = torch::randperm(rows, gen, torch::kLong);
    const int64_t n_val = std::clamp<int64_t>(
        std::llround(options.validation_fraction * static_cast<double>(rows)),
        1, rows - 1);
    torch::Tensor train_idx = perm.slice(0, 0, rows - n_val);
    torch::Tensor val_idx = perm.slice(0, rows - n_val, rows);
    torch::Tensor train = all.index_select(0, train_idx);
    torch::Tensor val = all.index_select(0, val_idx);
    report.train_rows = rows - n_val;
    report.validation_rows = n_val;
    for (int64_t i = 0; i < n_val; ++i)
      report.validation_indices.push_back(val_idx[i].item<int64_t>());

    torch::optim::Adam adam(impl_->Parameters(),
                            torch::optim::AdamOptions(options.learning_rate)
                                .weight_decay(options.weight_decay));
    double best = std::numeric_limits<double>::infinity();
    std::vector<torch::Tensor> best_params;
    int since_best = 0;
    for (int epoch = 1; epoch <= options.max_epochs; ++epoch) {
      report.final_train_loss =
          impl_->RunEpoch(adam, train, options.batch_size, gen);
      const double val_loss = impl_->MeanLoss(val);
      report.epochs_run = epoch;
      if (val_loss < best) {
        best = val_loss;
        report.best_epoch = epoch;
        since_best = 0;
        torch::NoGradGuard no_grad;
        best_params.clear();
        for (const auto& p : impl_->Parameters())
          best_params.push_back(p.detach().clone());
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
    torch::NoGradGuard no_grad;
    auto params = impl_->Parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best_params[i]);
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
    ScopedThreads scoped_threads(threads);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    torch::Tensor x = Wrap(data, rows, input_dim());
    torch::optim::Adam adam(impl_->Parameters(),
                            torch::optim::AdamOptions(learning_rate));
    for (int e = 0; e < epochs; ++e) {
      const double loss = impl_->RunEpoch(adam, x, batch_size, gen);
      if (!std::isfinite(loss))
        return InternalError("fine-tuning diverged (loss not finite)");
    }
    return Status::Ok();
  });
}

Result<std::vector<double>> Autoencoder::Score(std::span<const float> data,
                                               int64_t rows,
                                               int threads) const {
  if (rows < 0 || static_cast<int64_t>(data.size()) != rows * input_dim()) {
    return InvalidArgument("scoring data holds " + std::to_string(data.size()) +
                           " floats, expected rows x " +
                           std::to_string(input_dim()));
  }
  std::vector<double> scores(static_cast<size_t>(rows));
  if (rows == 0) return scores;
  Status st = Guarded("scoring", [&]() -> Status {
    c10::InferenceMode guard;
    ScopedThreads scoped_threads(threads);
    torch::Tensor x = Wrap(data, rows, input_dim());
    torch::Tensor err =
        (impl_->Forward(x) - x).pow(2).mean(1).to(torch::kFloat64).contiguous();
    const double* p = err.data_ptr<double>();
    for (int64_t i = 0; i < rows; ++i) scores[i] = p[i];
    return Status::Ok();
  });
  FLS_RETURN_IF_ERROR(st);
  return scores;
}

std::vector<WeightArray> Autoencoder::ExportWeights() const {
  std::vector<WeightArray> out;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < impl_->weights.size(); ++i) {
    for (int which = 0; which < 2; ++which) {
      const torch::Tensor t =
          (which == 0 ? impl_->weights[i] : impl_->biases[i]).contiguous();
      WeightArray a;
      a.name =
          "layers." + std::to_string(i) + (which == 0 ? ".weight" : ".bias");
      a.shape.assign(t.sizes().begin(), t.sizes().end());
      a.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      out.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace flsentry
