// Tests for integration/baselines.h on hand-made updates whose results can
// be worked out on paper.
#include "baselines.h"

#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "refusal.h"

namespace flsentry::sim {
namespace {

torch::Tensor Vec(std::vector<float> values) {
  return torch::tensor(values, torch::kFloat);
}

// Checks a result against expected values to float precision.
void CheckValues(const torch::Tensor& got, std::vector<float> expected) {
  REQUIRE(got.dim() == 1);
  REQUIRE(bool(got.scalar_type() == torch::kFloat));
  REQUIRE(got.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].item<float>() == doctest::Approx(expected[i]).epsilon(1e-6));
  }
}

TEST_CASE("fedavg is the num_examples-weighted mean") {
  const std::vector<torch::Tensor> u = {Vec({1, 2}), Vec({3, 4})};
  CheckValues(Aggregate("fedavg", {}, u, {1, 3}).value(), {2.5f, 3.5f});
  CheckValues(Aggregate("fedavg", {}, u, {0, 7}).value(), {3, 4});
  CHECK_REFUSED(Aggregate("fedavg", {}, u, {0, 0}), "total weight of 0");
  CHECK_REFUSED(Aggregate("fedavg", {}, u, {1}), "1 weights for 2 updates");
  CHECK_REFUSED(Aggregate("fedavg", {}, u, {1, -1}), "");
  CHECK_REFUSED(
      Aggregate("fedavg", {}, u, {1, std::numeric_limits<double>::quiet_NaN()}),
      "");
}

TEST_CASE("median is coordinate-wise; even counts average the middle two") {
  const std::vector<torch::Tensor> odd = {Vec({1, 50}), Vec({5, -1}),
                                          Vec({3, 7})};
  CheckValues(Aggregate("median", {}, odd, {1, 1, 1}).value(), {3, 7});
  const std::vector<torch::Tensor> even = {Vec({1, 0}), Vec({20, 4}),
                                           Vec({2, -8}), Vec({10, 100})};
  // Weights do not move a median.
  CheckValues(Aggregate("median", {}, even, {1, 100, 1, 1}).value(), {6, 2});
}

TEST_CASE("trimmed_mean drops floor(beta n) extremes on each side") {
  std::vector<torch::Tensor> u;
  for (int v = 1; v <= 9; ++v) u.push_back(Vec({float(v), float(-v)}));
  u.push_back(Vec({1000, 1000}));  // n = 10: beta 0.1 trims one per side
  const std::vector<double> w(10, 1.0);
  // Column 0: drop 1 and 1000 -> mean(2..9) = 5.5.
  // Column 1: drop -9 and 1000 -> mean(-8..-1) = -4.5.
  CheckValues(Aggregate("trimmed_mean", {}, u, w).value(), {5.5f, -4.5f});
  CheckValues(Aggregate("trimmed_mean", {{"beta", 0.1}}, u, w).value(),
              {5.5f, -4.5f});
  // beta 0.2 -> two per side: column 0 keeps 3..8.
  CHECK(Aggregate("trimmed_mean", {{"beta", 0.2}}, u, w)
            .value()[0]
            .item<float>() == doctest::Approx(5.5));
  // beta 0 is the plain mean.
  CHECK(Aggregate("trimmed_mean", {{"beta", 0.0}}, u, w)
            .value()[0]
            .item<float>() == doctest::Approx((45.0 + 1000.0) / 10));
  CHECK_REFUSED(Aggregate("trimmed_mean", {{"beta", 0.5}}, u, w),
                "beta must be in [0, 0.5)");
  // n = 2, beta 0.49 trims floor(0.98) = 0: still valid.
  CheckValues(
      Aggregate("trimmed_mean", {{"beta", 0.49}}, {Vec({0}), Vec({2})}, {1, 1})
          .value(),
      {1});
}

TEST_CASE("MultiKrumSelect ranks by the sum over n - f - 2 nearest") {
  // Scalars 0, 1, 3, 10, 11 with f = 1: two nearest neighbours each.
  // Scores: 0 -> 1+9=10, 1 -> 1+4=5, 3 -> 4+9=13, 10 -> 1+49=50,
  // 11 -> 1+64=65.
  const std::vector<torch::Tensor> u = {Vec({0}), Vec({1}), Vec({3}), Vec({10}),
                                        Vec({11})};
  CHECK(MultiKrumSelect(u, 1, 5).value() == std::vector<int>{1, 0, 2, 3, 4});
  CHECK(MultiKrumSelect(u, 1, 1).value() == std::vector<int>{1});
  CHECK_REFUSED(MultiKrumSelect(u, 2, 1), "n > 2f + 2");
  CHECK_REFUSED(MultiKrumSelect(u, 1, 6), "");
  CHECK_REFUSED(MultiKrumSelect(u, 1, 0), "");
}

TEST_CASE("multikrum keeps the honest cluster and averages it by weight") {
  torch::manual_seed(1);
  std::vector<torch::Tensor> u;
  for (int i = 0; i < 7; ++i) u.push_back(torch::randn({50}) * 0.01f);
  u.push_back(torch::full({50}, 100.0f));
  u.push_back(torch::full({50}, 99.0f));
  std::vector<double> w = {1, 2, 3, 4, 5, 6, 7, 1000, 1000};
  const std::vector<int> chosen = MultiKrumSelect(u, 2, 5).value();
  for (int i : chosen) CHECK(i < 7);

  // Default m = n - f = 7: exactly the honest seven, weighted.
  const torch::Tensor got = Aggregate("multikrum", {{"f", 2}}, u, w).value();
  torch::Tensor expected = torch::zeros({50}, torch::kDouble);
  for (int i = 0; i < 7; ++i) expected += u[i].to(torch::kDouble) * (w[i] / 28);
  CHECK(torch::allclose(got.to(torch::kDouble), expected, 1e-5, 1e-7));
  // Plain FedAvg is dragged far away by the outliers' weight.
  CHECK(Aggregate("fedavg", {}, u, w).value().abs().max().item<float>() > 1.0f);

  CHECK_REFUSED(Aggregate("multikrum", {}, u, w), "requires parameter 'f'");
  CHECK_REFUSED(Aggregate("multikrum", {{"f", 1.5}}, u, w), "whole number");
  CHECK_REFUSED(Aggregate("multikrum", {{"f", 4}}, u, w), "n > 2f + 2");
  CHECK_REFUSED(Aggregate("multikrum", {{"f", 2}, {"m", 10}}, u, w), "");
}

TEST_CASE("normclip bounds each update's norm before the weighted mean") {
  // Norms 1, 2, 10: the default bound is their median, 2.
  const std::vector<torch::Tensor> u = {Vec({1, 0}), Vec({0, 2}), Vec({6, 8})};
  const std::vector<double> w = {1, 1, 2};
  // Clipped: (1,0), (0,2), (1.2,1.6) -> weighted mean.
  CheckValues(Aggregate("normclip", {}, u, w).value(),
              {(1.0f + 2 * 1.2f) / 4, (2.0f + 2 * 1.6f) / 4});
  // tau = 0.5 clips everything to norm 0.5: the mean's norm is <= 0.5.
  const torch::Tensor tight =
      Aggregate("normclip", {{"tau", 0.5}}, u, w).value();
  CHECK(tight.norm().item<float>() <= 0.5f + 1e-6f);
  CheckValues(Aggregate("normclip", {{"tau", 0.5}}, {Vec({3, 4})}, {1}).value(),
              {0.3f, 0.4f});
  // A bound above every norm changes nothing.
  CHECK(torch::allclose(Aggregate("normclip", {{"tau", 100}}, u, w).value(),
                        Aggregate("fedavg", {}, u, w).value()));
  // Even count: the median norm is the mean of the middle two, (1+2)/2.
  CheckValues(
      Aggregate("normclip", {}, {Vec({1, 0}), Vec({0, 2})}, {1, 1}).value(),
      {0.5f, 0.75f});
  CHECK_REFUSED(Aggregate("normclip", {{"tau", 0}}, u, w), "tau must be > 0");
}

TEST_CASE("aggregators refuse bad names, params and updates") {
  const std::vector<torch::Tensor> u = {Vec({1, 2}), Vec({3, 4})};
  const std::vector<double> w = {1, 1};
  CHECK_REFUSED(Aggregate("krum", {}, u, w), "unknown aggregator");
  CHECK_REFUSED(Aggregate("median", {{"beta", 0.1}}, u, w),
                "unknown parameter 'beta'");
  CHECK_REFUSED(Aggregate("fedavg", {}, {}, {}), "no updates");
  CHECK_REFUSED(Aggregate("fedavg", {}, {Vec({1, 2}), Vec({1})}, w),
                "update 1 has length 1");
  CHECK_REFUSED(
      Aggregate("fedavg", {}, {Vec({1, 2}), Vec({1, 2}).to(torch::kDouble)}, w),
      "");
  CHECK_REFUSED(
      Aggregate("median", {},
                {Vec({1, std::numeric_limits<float>::infinity()}), Vec({1, 2})},
                w),
      "non-finite");
  CHECK_REFUSED(Aggregate("fedavg", {}, {Vec({1, 2}), torch::Tensor()}, w), "");

  for (const auto& type : AggregatorTypes()) {
    CAPTURE(type);
    CHECK_REFUSED(CheckAggregatorSpec(type, {{"bogus", 1}}), "");
  }
  CHECK(CheckAggregatorSpec("multikrum", {{"f", 3}, {"m", 5}}).ok());
  CHECK_REFUSED(CheckAggregatorSpec("multikrum", {}), "");
  CHECK(CheckAggregatorSpec("trimmed_mean", {}).ok());
}

TEST_CASE("results are fresh tensors; inputs are left unchanged") {
  const std::vector<torch::Tensor> u = {Vec({1, 2}), Vec({3, 4}), Vec({5, 6})};
  for (const auto& type : AggregatorTypes()) {
    CAPTURE(type);
    const std::map<std::string, double> params =
        type == "multikrum" ? std::map<std::string, double>{{"f", 0}}
                            : std::map<std::string, double>{};
    torch::Tensor got = Aggregate(type, params, u, {1, 1, 1}).value();
    got.fill_(-7);
    CheckValues(u[0], {1, 2});
    CheckValues(u[1], {3, 4});
    CheckValues(u[2], {5, 6});
  }
}

}  // namespace
}  // namespace flsentry::sim
