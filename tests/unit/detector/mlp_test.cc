// Tests of mlp.h: the forward pass and the gradient against a plain
// double-precision reference (the gradient by central finite differences),
// Adam against torch.optim.Adam's update written out, and training steps
// with weight decay against PyTorch's own (tests/fixtures/detector/
// adam_steps.pth, made by tests/fixtures/make_adam_fixture.py).
#include "detector/mlp.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

std::vector<float> Random(size_t n, uint64_t seed, float scale) {
  std::vector<float> v(n);
  uint64_t s = seed;
  for (float& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x = scale * (static_cast<float>((s >> 33) % 20001) / 10000.0f - 1.0f);
  }
  return v;
}

// The network's loss in double precision, straight from the definition
// (params laid out as Mlp::params(): transposed weights, biases).
double ReferenceLoss(const Mlp& net, const std::vector<double>& params,
                     const std::vector<float>& x, int64_t rows) {
  const auto& s = net.sizes();
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> h(x.begin() + r * s[0], x.begin() + (r + 1) * s[0]);
    for (size_t l = 0; l < net.num_layers(); ++l) {
      std::vector<double> out(static_cast<size_t>(s[l + 1]));
      for (int64_t o = 0; o < s[l + 1]; ++o) {
        double z = params[net.bias_offset(l) + o];
        for (int64_t i = 0; i < s[l]; ++i)
          z += params[net.weight_offset(l) + i * s[l + 1] + o] * h[i];
        out[o] = (net.relu(l) && z < 0) ? 0 : z;
      }
      h = out;
    }
    for (int64_t j = 0; j < s[0]; ++j) {
      const double d = h[j] - x[r * s[0] + j];
      total += d * d;
    }
  }
  return total / static_cast<double>(rows * s[0]);
}

TEST_CASE("loss and gradient match the definition and finite differences") {
  using enum Activation;
  std::vector<Activation> activations;  // empty: the default
  SUBCASE("ReLU after every layer but the last") {}
  SUBCASE("per-layer activations, ReLU on the output too") {
    activations = {kNone, kRelu, kNone, kRelu};
  }
  SUBCASE("no activation at all") {
    activations = {kNone, kNone, kNone, kNone};
  }
  Mlp net({6, 5, 3, 5, 6}, activations);
  const std::vector<float> init = Random(net.params().size(), 1, 0.6f);
  std::copy(init.begin(), init.end(), net.params().begin());
  WorkerPool pool(1);
  const int64_t rows = 4;
  const std::vector<float> x = Random(rows * 6, 2, 1.0f);
  MlpWorkspace ws(net, rows);
  AlignedFloats grad(net.params().size());
  const KernelContext ctx{KernelIsa::kBaseline, &pool};
  const double loss = LossAndGradient(net, x.data(), rows, ws, grad, ctx);

  std::vector<double> p(net.params().begin(), net.params().end());
  CHECK(loss == doctest::Approx(ReferenceLoss(net, p, x, rows)).epsilon(1e-6));
  const double h = 1e-4;
  int checked = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double saved = p[i];
    p[i] = saved + h;
    const double up = ReferenceLoss(net, p, x, rows);
    p[i] = saved - h;
    const double down = ReferenceLoss(net, p, x, rows);
    p[i] = saved;
    const double numeric = (up - down) / (2 * h);
    INFO("parameter " << i);
    CHECK(grad[i] == doctest::Approx(numeric).epsilon(1e-3).scale(1e-3));
    checked += numeric != 0.0;
  }
  CHECK(checked > static_cast<int>(p.size()) / 2);  // most are not dead
}

TEST_CASE("activations default to ReLU after every layer but the last") {
  Mlp net({6, 5, 3, 5, 6});
  CHECK(net.activations() == DefaultActivations(4));
  CHECK(net.relu(0));
  CHECK_FALSE(net.relu(3));
  Mlp linear({6, 3, 6}, {Activation::kNone, Activation::kNone});
  CHECK_FALSE(linear.relu(0));
}

TEST_CASE("the forward pass matches the definition") {
  Mlp net({16, 8, 16});
  const std::vector<float> init = Random(net.params().size(), 3, 0.3f);
  std::copy(init.begin(), init.end(), net.params().begin());
  WorkerPool pool(1);
  const std::vector<float> x = Random(3 * 16, 4, 1.0f);
  MlpWorkspace ws(net, 3);
  const float* y = Forward(net, x.data(), 3, ws, {KernelIsa::kBaseline, &pool});
  std::vector<double> errors(3);
  RowSquaredErrors(x.data(), y, 3, 16, errors.data());
  std::vector<double> p(net.params().begin(), net.params().end());
  for (int64_t r = 0; r < 3; ++r) {
    const std::vector<float> row(x.begin() + r * 16, x.begin() + (r + 1) * 16);
    CHECK(errors[r] / 16 ==
          doctest::Approx(ReferenceLoss(net, p, row, 1)).epsilon(1e-5));
  }
}

TEST_CASE("weights go in and out in PyTorch's [out, in] layout") {
  Mlp net({3, 2, 3});
  const float w[6] = {1, 2, 3, 4, 5, 6};  // [2, 3]
  net.SetWeight(0, w);
  CHECK(net.weight_t(0)[0] == 1);  // [3, 2]: column 0 of w first
  CHECK(net.weight_t(0)[1] == 4);
  CHECK(net.weight_t(0)[2] == 2);
  float back[6] = {};
  net.GetWeight(0, back);
  CHECK(std::equal(back, back + 6, w));
  CHECK(net.params().size() == 3 * 2 + 2 + 2 * 3 + 3);
  CHECK(net.bias_offset(0) == 6);
  CHECK(net.weight_offset(1) == 8);
}

// torch.optim.Adam's update (torch/csrc/api/src/optim/adam.cpp), in double.
struct ReferenceAdam {
  double lr, wd, m = 0, v = 0;
  int t = 0;
  double Step(double p, double g) {
    ++t;
    g += wd * p;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const double bc1 = 1 - std::pow(0.9, t), bc2 = 1 - std::pow(0.999, t);
    const double denom = std::sqrt(v) / std::sqrt(bc2) + 1e-8;
    return p - lr / bc1 * m / denom;
  }
};

TEST_CASE("Adam follows torch.optim.Adam, weight decay as L2") {
  for (double wd : {0.0, 0.01}) {
    AlignedFloats params = {1.0f, -0.5f, 0.0f};
    Adam adam(3, 0.1, wd);
    std::vector<ReferenceAdam> ref(3, ReferenceAdam{0.1, wd});
    std::vector<double> want(params.begin(), params.end());
    WorkerPool pool(1);
    for (int step = 0; step < 5; ++step) {
      const AlignedFloats grad = {0.5f - step * 0.2f, 2.0f, 1e-3f};
      adam.Step(params, grad, {KernelIsa::kBaseline, &pool});
      for (size_t i = 0; i < 3; ++i) {
        want[i] = ref[i].Step(want[i], grad[i]);
        INFO("wd " << wd << " step " << step << " param " << i);
        CHECK(params[i] == doctest::Approx(want[i]).epsilon(1e-5));
      }
    }
  }
  // The first step moves every parameter by about lr, whatever the scale.
  AlignedFloats p = {0.0f, 0.0f};
  Adam adam(2, 0.01, 0.0);
  WorkerPool pool(1);
  adam.Step(p, {1e-4f, -100.0f}, {KernelIsa::kBaseline, &pool});
  CHECK(p[0] == doctest::Approx(-0.01).epsilon(1e-4));
  CHECK(p[1] == doctest::Approx(0.01).epsilon(1e-4));
}

// Loss and weights along full-batch steps of Adam with weight decay, from
// PyTorch's initial weights, against torch.optim.Adam's. Tolerances as in
// autoencoder_test.cc's FineTune comparison: summation order moves the
// gradient's last bits, Adam's step is about lr (5e-3 here) whatever the
// gradient; measured after 10 steps: 6e-8 (one float ulp), bound 1e-6.
// The loss (double here, float in PyTorch) to 1e-5 relative.
TEST_CASE("steps with weight decay match PyTorch's from the same weights") {
  auto fixture = ReadTensorFile(std::string(FLSENTRY_FIXTURES) +
                                "/detector/adam_steps.pth");
  REQUIRE(fixture.ok());
  auto floats = [&](const std::string& name) {
    const OwnedTensor* t = fixture->Find(name);
    REQUIRE(t);
    return static_cast<const float*>(t->data);
  };
  const float* hyper = floats("hyper");
  const int steps = static_cast<int>(hyper[2]);
  const double lr = hyper[3], wd = hyper[4];
  const OwnedTensor* data = fixture->Find("data");
  REQUIRE(data);
  const int64_t rows = data->shape[0];
  std::vector<int64_t> sizes = {data->shape[1]};
  for (int l = 0; fixture->Find("init.layers." + std::to_string(l) + ".bias");
       ++l) {
    sizes.push_back(
        fixture->Find("init.layers." + std::to_string(l) + ".bias")->shape[0]);
  }
  REQUIRE(sizes == std::vector<int64_t>{37, 20, 5, 20, 37});
  Mlp net(sizes);
  for (size_t l = 0; l < net.num_layers(); ++l) {
    const std::string name = "init.layers." + std::to_string(l);
    net.SetWeight(l, floats(name + ".weight"));
    std::copy_n(floats(name + ".bias"), sizes[l + 1],
                net.params().begin() + net.bias_offset(l));
  }
  const float* want_loss = floats("decay.loss");
  for (int threads : {1, 3}) {
    Mlp run = net;
    WorkerPool pool(threads);
    const KernelContext ctx{ChooseKernelIsa(), &pool};
    MlpWorkspace ws(run, rows);
    AlignedFloats grad(run.params().size());
    Adam adam(run.params().size(), lr, wd);
    for (int step = 0; step < steps; ++step) {
      const double loss = LossAndGradient(
          run, static_cast<const float*>(data->data), rows, ws, grad, ctx);
      INFO("threads " << threads << " step " << step);
      CHECK(loss == doctest::Approx(want_loss[step]).epsilon(1e-5));
      adam.Step(run.params(), grad, ctx);
    }
    double worst = 0;
    for (size_t l = 0; l < run.num_layers(); ++l) {
      const std::string name = "decay.layers." + std::to_string(l);
      std::vector<float> weight(static_cast<size_t>(sizes[l] * sizes[l + 1]));
      run.GetWeight(l, weight.data());
      const float* want_w = floats(name + ".weight");
      for (size_t k = 0; k < weight.size(); ++k)
        worst = std::max(worst, std::fabs(double{weight[k]} - want_w[k]));
      const float* want_b = floats(name + ".bias");
      for (int64_t o = 0; o < sizes[l + 1]; ++o) {
        worst = std::max(worst, std::fabs(double{run.bias(l)[o]} - want_b[o]));
      }
    }
    MESSAGE("threads " << threads << ": largest |C++ - PyTorch| parameter "
                       << worst << " after " << steps << " steps, lr " << lr
                       << ", weight decay " << wd);
    CHECK(worst < 1e-6);
  }
}

}  // namespace
}  // namespace flsentry
