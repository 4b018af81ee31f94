// Tests of autoencoder.h: training quality, determinism across thread
// counts and instruction-set paths (bit for bit), weights in and out, and
// the forward pass and Adam training against PyTorch's numbers
// (tests/fixtures/detector/, made by tests/fixtures/make_seed_autoencoder.py
// and make_adam_fixture.py).
#include "detector/autoencoder.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "detector/dense_kernels.h"
#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

// Rows near a 2-D subspace of R^16, plus a few far-off rows.
std::vector<float> SubspaceRows(int rows, uint64_t seed) {
  std::vector<float> data;
  uint64_t s = seed;
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>((s >> 33) % 2001) / 1000.0f - 1.0f;
  };
  for (int r = 0; r < rows; ++r) {
    const float a = next(), b = next();
    for (int j = 0; j < 16; ++j)
      data.push_back(a * std::sin(j * 0.5f) + b * std::cos(j * 0.3f) +
                     0.01f * next());
  }
  return data;
}

// rows x dim values near a 3-dimensional subspace.
std::vector<float> WideRows(int rows, int dim, uint64_t seed) {
  std::vector<float> data;
  uint64_t s = seed;
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>((s >> 33) % 2001) / 1000.0f - 1.0f;
  };
  for (int r = 0; r < rows; ++r) {
    const float a = next(), b = next(), c = next();
    for (int j = 0; j < dim; ++j)
      data.push_back(a * std::sin(j * 0.05f) + b * std::cos(j * 0.11f) +
                     c * std::sin(j * 0.3f + 1) + 0.01f * next());
  }
  return data;
}

double Mean(const std::vector<double>& v) {
  double sum = 0.0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Everything a run produces: weights after Train and FineTune, scores.
struct RunResult {
  std::vector<std::vector<float>> weights;
  std::vector<double> scores;
  double best_validation_loss = 0;
};

// Sizes wide enough that every kernel splits its work into several blocks.
RunResult TrainTuneScore(int threads) {
  const int dim = 160, rows = 150;
  const std::vector<float> data = WideRows(rows, dim, 5);
  auto net = Autoencoder::Create({dim, 72, 12, 72, dim}, 3);
  REQUIRE(net.ok());
  TrainOptions o;
  o.max_epochs = 6;
  o.seed = 4;
  o.threads = threads;
  o.weight_decay = 1e-4;
  auto report = (*net)->Train(data, rows, o);
  REQUIRE(report.ok());
  const std::vector<float> window(data.begin(), data.begin() + 70 * dim);
  REQUIRE((*net)->FineTune(window, 70, 3, 5e-3, 32, 8, threads).ok());
  RunResult out;
  for (const WeightArray& w : (*net)->ExportWeights())
    out.weights.push_back(w.data);
  auto scores = (*net)->Score(data, rows, threads);
  REQUIRE(scores.ok());
  out.scores = *scores;
  out.best_validation_loss = report->best_validation_loss;
  return out;
}

void CheckSame(const RunResult& a, const RunResult& b) {
  REQUIRE(a.weights.size() == b.weights.size());
  for (size_t i = 0; i < a.weights.size(); ++i) {
    INFO("weight array " << i);
    CHECK(SameBits(a.weights[i], b.weights[i]));
  }
  CHECK(std::memcmp(a.scores.data(), b.scores.data(),
                    a.scores.size() * sizeof(double)) == 0);
  CHECK(a.best_validation_loss == b.best_validation_loss);
}

TEST_CASE("training reduces the loss and scores off-subspace rows higher") {
  auto net = Autoencoder::Create({16, 8, 2, 8, 16}, 7);
  REQUIRE(net.ok());
  std::vector<float> data = SubspaceRows(200, 1);
  TrainOptions o;
  o.max_epochs = 150;
  o.seed = 3;
  auto before = (*net)->Score(data, 200, 1);
  REQUIRE(before.ok());
  auto report = (*net)->Train(data, 200, o);
  REQUIRE(report.ok());
  CHECK(report->train_rows == 160);
  CHECK(report->validation_rows == 40);
  CHECK(report->validation_indices.size() == 40);
  CHECK(report->epochs_run >= report->best_epoch);
  CHECK(report->seconds > 0);
  auto after = (*net)->Score(data, 200, 1);
  REQUIRE(after.ok());
  double mean_before = 0, mean_after = 0;
  for (int i = 0; i < 200; ++i) {
    mean_before += (*before)[i];
    mean_after += (*after)[i];
  }
  CHECK(mean_after < 0.2 * mean_before);
  // A row off the subspace reconstructs worse than every training row.
  std::vector<float> odd(16);
  for (int j = 0; j < 16; ++j) odd[j] = (j % 2 ? 1.0f : -1.0f);
  auto odd_score = (*net)->Score(odd, 1, 1);
  double max_benign = 0;
  for (double s : *after) max_benign = std::max(max_benign, s);
  CHECK((*odd_score)[0] > 2 * max_benign);
}

TEST_CASE("same data and seed give identical weights") {
  std::vector<float> data = SubspaceRows(64, 2);
  TrainOptions o;
  o.max_epochs = 20;
  o.seed = 11;
  auto a = Autoencoder::Create({16, 4, 16}, 5);
  auto b = Autoencoder::Create({16, 4, 16}, 5);
  REQUIRE((*a)->Train(data, 64, o).ok());
  REQUIRE((*b)->Train(data, 64, o).ok());
  auto wa = (*a)->ExportWeights(), wb = (*b)->ExportWeights();
  REQUIRE(wa.size() == 4);
  for (size_t i = 0; i < wa.size(); ++i) {
    CHECK(wa[i].name == wb[i].name);
    CHECK(wa[i].data == wb[i].data);
  }
  SUBCASE("a different seed gives different weights") {
    auto c = Autoencoder::Create({16, 4, 16}, 6);
    REQUIRE((*c)->Train(data, 64, o).ok());
    CHECK((*c)->ExportWeights()[0].data != wa[0].data);
  }
}

TEST_CASE("weights round-trip through ExportWeights / FromWeights") {
  auto net = Autoencoder::Create({16, 8, 16}, 1);
  std::vector<float> data = SubspaceRows(10, 3);
  auto weights = (*net)->ExportWeights();
  std::vector<TensorView> views;
  for (const auto& w : weights) views.push_back(w.view());
  auto copy = Autoencoder::FromWeights(views);
  REQUIRE(copy.ok());
  CHECK((*copy)->layer_sizes() == std::vector<int64_t>{16, 8, 16});
  CHECK((*copy)->num_parameters() == 16 * 8 + 8 + 8 * 16 + 16);
  CHECK(*(*copy)->Score(data, 10, 1) == *(*net)->Score(data, 10, 1));

  SUBCASE("missing bias") {
    views.pop_back();
    auto r = Autoencoder::FromWeights(views);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "autoencoder weights lack 'layers.1.bias'");
  }
  SUBCASE("non-finite weight") {
    weights[0].data[3] = NAN;
    views[0] = weights[0].view();
    CHECK_FALSE(Autoencoder::FromWeights(views).ok());
  }
  SUBCASE("output size differs from input") {
    std::vector<TensorView> first(views.begin(), views.begin() + 2);
    auto r = Autoencoder::FromWeights(first);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("differs from its input size") !=
          std::string::npos);
  }
}

TEST_CASE("per-layer activations: kept, counted, and used by the scores") {
  using enum Activation;
  auto net = Autoencoder::Create({16, 8, 4, 8, 16}, 1);
  REQUIRE(net.ok());
  CHECK((*net)->activations() == DefaultActivations(4));
  auto weights = (*net)->ExportWeights();
  std::vector<TensorView> views;
  for (const auto& w : weights) views.push_back(w.view());
  const std::vector<Activation> linear_latent = {kRelu, kNone, kRelu, kNone};
  auto copy = Autoencoder::FromWeights(views, linear_latent);
  REQUIRE(copy.ok());
  CHECK((*copy)->activations() == linear_latent);
  const std::vector<float> data = SubspaceRows(10, 3);
  CHECK(*(*copy)->Score(data, 10, 1) != *(*net)->Score(data, 10, 1));
  auto stated_default = Autoencoder::FromWeights(views, DefaultActivations(4));
  REQUIRE(stated_default.ok());
  CHECK(*(*stated_default)->Score(data, 10, 1) == *(*net)->Score(data, 10, 1));

  auto count = Autoencoder::FromWeights(views, {kRelu, kNone});
  REQUIRE_FALSE(count.ok());
  CHECK(count.status().message() == "2 activations given for 4 Linear layers");
  auto created = Autoencoder::Create({4, 2, 4}, 1, {kNone});
  REQUIRE_FALSE(created.ok());
  CHECK(created.status().message() ==
        "1 activations given for 2 Linear layers");
  // Fine-tuning follows the stated activations (gradients are checked in
  // mlp_test.cc): the loss falls.
  auto tuned = Autoencoder::Create({16, 8, 4, 8, 16}, 2, linear_latent);
  REQUIRE(tuned.ok());
  const double before = Mean(*(*tuned)->Score(data, 10, 1));
  REQUIRE((*tuned)->FineTune(data, 10, 30, 1e-2, 10, 1, 1).ok());
  CHECK(Mean(*(*tuned)->Score(data, 10, 1)) < before);
}

TEST_CASE("bad training input is refused, not crashed on") {
  auto net = Autoencoder::Create({4, 2, 4}, 1);
  std::vector<float> one = {1, 2, 3, 4};
  TrainOptions o;
  auto r = (*net)->Train(one, 1, o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "need at least 2 rows to train, got 1");
  std::vector<float> bad = {1, 2, 3, NAN, 1, 2, 3, 4};
  CHECK_FALSE((*net)->Train(bad, 2, o).ok());
  CHECK_FALSE((*net)->Score(one, 2, 1).ok());
  CHECK_FALSE(Autoencoder::Create({4, 2, 5}, 1).ok());
  CHECK_FALSE(Autoencoder::Create({4}, 1).ok());
}

TEST_CASE("fine-tuning moves the weights deterministically") {
  std::vector<float> data = SubspaceRows(32, 4);
  auto a = Autoencoder::Create({16, 4, 16}, 2);
  auto b = Autoencoder::Create({16, 4, 16}, 2);
  const auto w0 = (*a)->ExportWeights()[0].data;
  REQUIRE((*a)->FineTune(data, 32, 3, 1e-3, 8, 9, 1).ok());
  REQUIRE((*b)->FineTune(data, 32, 3, 1e-3, 8, 9, 1).ok());
  CHECK((*a)->ExportWeights()[0].data != w0);
  CHECK((*a)->ExportWeights()[0].data == (*b)->ExportWeights()[0].data);
}

TEST_CASE("results are bit-identical for 1, 2 and 3 threads") {
  const RunResult one = TrainTuneScore(1);
  CheckSame(one, TrainTuneScore(2));
  CheckSame(one, TrainTuneScore(3));
}

TEST_CASE("every instruction-set path gives the same bits") {
  const char* saved = std::getenv("FLSENTRY_KERNEL_ISA");
  const std::string keep = saved ? saved : "";
  std::vector<RunResult> runs;
  for (KernelIsa isa :
       {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (!KernelIsaSupported(isa)) {
      MESSAGE("this CPU lacks " << KernelIsaName(isa) << ": not compared");
      continue;
    }
    setenv("FLSENTRY_KERNEL_ISA", std::string(KernelIsaName(isa)).c_str(), 1);
    REQUIRE(ChooseKernelIsa() == isa);
    runs.push_back(TrainTuneScore(2));
  }
  if (saved) {
    setenv("FLSENTRY_KERNEL_ISA", keep.c_str(), 1);
  } else {
    unsetenv("FLSENTRY_KERNEL_ISA");
  }
  for (size_t i = 1; i < runs.size(); ++i) CheckSame(runs[0], runs[i]);
}

TEST_CASE("initialisation is PyTorch's nn.Linear default, seeded") {
  auto net = Autoencoder::Create({100, 9, 100}, 42);
  REQUIRE(net.ok());
  const auto w = (*net)->ExportWeights();
  REQUIRE(w.size() == 4);
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias alike.
  for (size_t i = 0; i < w.size(); ++i) {
    const double bound = 1.0 / std::sqrt(i < 2 ? 100.0 : 9.0);
    double lo = 1, hi = -1, sum = 0;
    for (float v : w[i].data) {
      lo = std::min<double>(lo, v);
      hi = std::max<double>(hi, v);
      sum += v;
    }
    CHECK(lo >= -bound);
    CHECK(hi <= bound);
    if (w[i].data.size() >= 900) {  // the weights: spread over the range
      CHECK(lo < -0.9 * bound);
      CHECK(hi > 0.9 * bound);
      CHECK(std::fabs(sum / w[i].data.size()) < 0.1 * bound);
    }
  }
  auto again = Autoencoder::Create({100, 9, 100}, 42);
  CHECK((*again)->ExportWeights()[0].data == w[0].data);
}

TEST_CASE("scores of a PyTorch-trained autoencoder match PyTorch's") {
  const std::string dir = std::string(FLSENTRY_FIXTURES) + "/detector";
  auto seed = ReadTensorFile(dir + "/autoencoder.pth");
  REQUIRE(seed.ok());
  // Linear layers in file order (encoder.0, encoder.2, decoder.0, ...).
  std::vector<WeightArray> arrays;
  for (const auto& t : seed->tensors) {
    const bool weight = t.name.ends_with(".weight");
    WeightArray a;
    a.name = "layers." + std::to_string(arrays.size() / 2) +
             (weight ? ".weight" : ".bias");
    a.shape = t.shape;
    const float* p = static_cast<const float*>(t.view().data);
    a.data.assign(p, p + t.view().numel());
    arrays.push_back(std::move(a));
  }
  std::vector<TensorView> views;
  for (const auto& a : arrays) views.push_back(a.view());
  auto net = Autoencoder::FromWeights(views);
  REQUIRE(net.ok());
  REQUIRE((*net)->input_dim() == 75);

  std::ifstream in(dir + "/expected.json");
  const nlohmann::json expected = nlohmann::json::parse(in);
  std::vector<float> rows;
  std::vector<double> want;
  for (const auto& [name, mse] : expected["mse"].items()) {
    auto update = ReadTensorFile(dir + "/" + name);
    REQUIRE(update.ok());
    for (const auto& t : update->tensors) {  // state_dict order, as Python
      const float* p = static_cast<const float*>(t.view().data);
      rows.insert(rows.end(), p, p + t.view().numel());
    }
    want.push_back(mse.get<double>());
  }
  const int64_t n = static_cast<int64_t>(want.size());
  for (int threads : {1, 2}) {
    auto scores = (*net)->Score(rows, n, threads);
    REQUIRE(scores.ok());
    for (int64_t i = 0; i < n; ++i)
      CHECK((*scores)[i] == doctest::Approx(want[i]).epsilon(1e-4));
  }
}

// Named tensors of tests/fixtures/detector/adam_steps.pth (made by
// tests/fixtures/make_adam_fixture.py with PyTorch) whose names start with
// `prefix`, the prefix removed.
std::vector<WeightArray> FixtureArrays(const TensorSet& set,
                                       const std::string& prefix) {
  std::vector<WeightArray> out;
  for (const auto& t : set.tensors) {
    if (!t.name.starts_with(prefix)) continue;
    const float* p = static_cast<const float*>(t.data);
    out.push_back({t.name.substr(prefix.size()), t.shape,
                   std::vector<float>(p, p + t.view().numel())});
  }
  return out;
}

// Full-batch Adam steps from PyTorch's initial weights end where
// torch.optim.Adam ends. Tolerance: PyTorch sums in another order (and with
// FMA), so the gradients differ in their last bits; Adam divides the
// gradient by its own running RMS, so each step moves a weight by about lr
// whatever the gradient's scale, and a last-bit difference in the gradient
// moves it by about lr x 1e-6. Measured after 10 steps at lr 1e-2: 6e-8
// (one float ulp of weights near 0.5); 1e-6 leaves room for another
// PyTorch build and is still 1e4 times smaller than one step.
TEST_CASE("FineTune from PyTorch's initial weights matches torch.optim.Adam") {
  auto fixture = ReadTensorFile(std::string(FLSENTRY_FIXTURES) +
                                "/detector/adam_steps.pth");
  REQUIRE(fixture.ok());
  const OwnedTensor* data = fixture->Find("data");
  const OwnedTensor* hyper = fixture->Find("hyper");
  REQUIRE(data);
  REQUIRE(hyper);
  const float* h = static_cast<const float*>(hyper->data);
  const int steps = static_cast<int>(h[0]);
  const double lr = h[1];
  const int64_t rows = data->shape[0];
  const float* x = static_cast<const float*>(data->data);
  const std::span<const float> rows_data(x, data->view().numel());
  const std::vector<WeightArray> init = FixtureArrays(*fixture, "init.");
  const std::vector<WeightArray> want = FixtureArrays(*fixture, "plain.");
  REQUIRE(init.size() == 8);
  REQUIRE(want.size() == 8);
  for (int threads : {1, 2}) {
    std::vector<TensorView> views;
    for (const auto& w : init) views.push_back(w.view());
    auto net = Autoencoder::FromWeights(views);
    REQUIRE(net.ok());
    // One batch of every row per epoch: one Adam step each.
    REQUIRE((*net)
                ->FineTune(rows_data, rows, steps, lr, static_cast<int>(rows),
                           1, threads)
                .ok());
    const std::vector<WeightArray> got = (*net)->ExportWeights();
    REQUIRE(got.size() == want.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      REQUIRE(got[i].name == want[i].name);
      REQUIRE(got[i].data.size() == want[i].data.size());
      for (size_t k = 0; k < got[i].data.size(); ++k) {
        worst = std::max(worst, std::fabs(static_cast<double>(got[i].data[k]) -
                                          want[i].data[k]));
      }
      // Training moved the weights far more than the tolerance.
      CHECK(got[i].data != init[i].data);
    }
    MESSAGE("threads " << threads << ": largest |C++ - PyTorch| weight "
                       << worst << " after " << steps << " steps at lr " << lr);
    CHECK(worst < 1e-6);
  }
}

TEST_CASE("bad sizes and options are refused with the same messages") {
  auto net = Autoencoder::Create({4, 2, 4}, 1);
  std::vector<float> data(8, 0.5f);
  auto r = (*net)->Score(data, 3, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() ==
        "scoring data holds 8 floats, expected rows x 4");
  CHECK_FALSE((*net)->Score(data, -2, 1).ok());
  CHECK((*net)->Score({}, 0, 1)->empty());
  CHECK((*net)->FineTune(data, 2, 1, 1e-3, 0, 1, 1).message() ==
        "fine-tuning options out of range");
  CHECK((*net)->FineTune(data, 0, 1, 1e-3, 4, 1, 1).message() ==
        "need at least 1 rows to train, got 0");
  TrainOptions o;
  o.validation_fraction = 1.0;
  CHECK((*net)->Train(data, 2, o).status().message() ==
        "training options out of range");
  CHECK((*net)->Train(data, 3, TrainOptions{}).status().message() ==
        "data holds 8 floats, expected 3 x 4");
  auto huge = Autoencoder::Create({4, int64_t{1} << 25, 4}, 1);
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.status().message() ==
        "autoencoder layer size 33554432 is outside [1, 2^24]");
}

}  // namespace
}  // namespace flsentry
