// Tests for integration/attacks.h: each attack's defining property, checked
// against formulas recomputed here independently (direct distances, closed
// forms), and the refusals.
#include "attacks.h"

#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "refusal.h"

namespace flsentry::sim {
namespace {

// n benign updates of length d around a common direction, reproducible.
std::vector<torch::Tensor> MakeBenign(int n, int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor direction = torch::randn({d});
  std::vector<torch::Tensor> benign;
  for (int i = 0; i < n; ++i) {
    benign.push_back(direction * 0.5 + torch::randn({d}) * 0.3);
  }
  return benign;
}

torch::Tensor BenignMean(const std::vector<torch::Tensor>& benign) {
  return torch::stack(benign).to(torch::kDouble).mean(0);
}

// Squared distances from x to every benign update, computed directly.
std::vector<double> SquaredDistances(const torch::Tensor& x,
                                     const std::vector<torch::Tensor>& b) {
  std::vector<double> out;
  for (const auto& u : b) {
    out.push_back((x.to(torch::kDouble) - u.to(torch::kDouble))
                      .pow(2)
                      .sum()
                      .item<double>());
  }
  return out;
}

double MaxPairwiseSquared(const std::vector<torch::Tensor>& b) {
  double best = 0.0;
  for (const auto& u : b) {
    for (double v : SquaredDistances(u, b)) best = std::max(best, v);
  }
  return best;
}

std::vector<double> RowSums(const std::vector<torch::Tensor>& b) {
  std::vector<double> sums;
  for (const auto& u : b) {
    double s = 0.0;
    for (double v : SquaredDistances(u, b)) s += v;
    sums.push_back(s);
  }
  return sums;
}

torch::Tensor Deviation(const std::string& kind,
                        const std::vector<torch::Tensor>& b) {
  const torch::Tensor mean = BenignMean(b);
  if (kind == "uv") return mean / mean.norm();
  if (kind == "std") return torch::stack(b).to(torch::kDouble).std(0, true);
  return mean.sign();
}

// The gamma the attack used, read back from its output: out = mean - g dev.
double RecoveredGamma(const torch::Tensor& out, const torch::Tensor& mean,
                      const torch::Tensor& dev) {
  return (mean - out.to(torch::kDouble)).dot(dev).item<double>() /
         dev.dot(dev).item<double>();
}

TEST_CASE("sign_flip negates exactly and scales on request") {
  const torch::Tensor own = torch::randn({1000});
  const AttackContext ctx;
  const torch::Tensor out =
      CraftMaliciousUpdate("sign_flip", {}, own, ctx).value();
  CHECK(torch::equal(out, -own));
  CHECK(out.data_ptr() != own.data_ptr());
  const torch::Tensor out3 =
      CraftMaliciousUpdate("sign_flip", {{"scale", 3.0}}, own, ctx).value();
  CHECK(torch::allclose(out3, own * -3.0));
  CHECK_REFUSED(CraftMaliciousUpdate("sign_flip", {{"scale", 0.0}}, own, ctx),
                "scale must be > 0");
}

TEST_CASE("gaussian_noise adds N(0, sigma^2) noise determined by the seed") {
  const int64_t d = 200000;
  const torch::Tensor own = torch::full({d}, 2.0f);
  AttackContext ctx;
  ctx.seed = 42;
  const torch::Tensor out =
      CraftMaliciousUpdate("gaussian_noise", {{"sigma", 0.5}}, own, ctx)
          .value();
  const torch::Tensor noise = (out - own).to(torch::kDouble);
  // Standard error of the std estimate is sigma / sqrt(2d) ~ 8e-4.
  CHECK(noise.std().item<double>() == doctest::Approx(0.5).epsilon(0.01));
  CHECK(std::abs(noise.mean().item<double>()) < 0.01);

  CHECK(torch::equal(
      out, CraftMaliciousUpdate("gaussian_noise", {{"sigma", 0.5}}, own, ctx)
               .value()));
  ctx.seed = 43;
  CHECK_FALSE(torch::equal(
      out, CraftMaliciousUpdate("gaussian_noise", {{"sigma", 0.5}}, own, ctx)
               .value()));
  CHECK(torch::equal(
      own, CraftMaliciousUpdate("gaussian_noise", {{"sigma", 0.0}}, own, ctx)
               .value()));
  CHECK_REFUSED(CraftMaliciousUpdate("gaussian_noise", {}, own, ctx),
                "requires parameter 'sigma'");
  CHECK_REFUSED(
      CraftMaliciousUpdate("gaussian_noise", {{"sigma", -1.0}}, own, ctx),
      "sigma must be >= 0");
}

TEST_CASE("scaling multiplies the own update by lambda") {
  const torch::Tensor own = torch::randn({500});
  const AttackContext ctx;
  const torch::Tensor out =
      CraftMaliciousUpdate("scaling", {{"lambda", 25.0}}, own, ctx).value();
  CHECK(torch::allclose(out, own * 25.0));
  CHECK_REFUSED(CraftMaliciousUpdate("scaling", {}, own, ctx),
                "requires parameter 'lambda'");
}

TEST_CASE("AlieZMax follows s = floor(n/2 + 1) - f, z = Phi^-1((n - s)/n)") {
  // Reference values of the standard normal quantile.
  CHECK(AlieZMax(50, 24).value() ==
        doctest::Approx(1.7506860712521692));  // p=0.96
  CHECK(AlieZMax(50, 10).value() ==
        doctest::Approx(0.4676987991145082));  // p=0.68
  CHECK(AlieZMax(20, 5).value() ==
        doctest::Approx(0.5244005127080407));  // p=0.70
  CHECK(AlieZMax(4, 0).value() ==
        doctest::Approx(-0.6744897501960817));  // p=0.25
  // f > floor(n/2) leaves s < 1; n = 1 gives p = 0.
  CHECK_REFUSED(AlieZMax(10, 6), "pass param z_max");
  CHECK_REFUSED(AlieZMax(1, 0), "");
  CHECK_REFUSED(AlieZMax(10, 11), "");
  CHECK_REFUSED(AlieZMax(0, 0), "");
}

TEST_CASE("alie sets each coordinate to mean + z_max * std of the benign") {
  const auto benign = MakeBenign(12, 3000, 7);
  AttackContext ctx{benign, 4, 16, 0};
  const torch::Tensor out =
      CraftMaliciousUpdate("alie", {}, torch::randn({3000}), ctx).value();
  const torch::Tensor stacked = torch::stack(benign).to(torch::kDouble);
  const double z = AlieZMax(16, 4).value();  // s = 5, p = 11/16
  CHECK(z == doctest::Approx(0.4887764111146695));
  const torch::Tensor expected =
      stacked.mean(0) + z * stacked.std(0, /*unbiased=*/true);
  CHECK(torch::allclose(out.to(torch::kDouble), expected, 1e-5, 1e-6));

  const torch::Tensor custom =
      CraftMaliciousUpdate("alie", {{"z_max", -1.5}}, benign[0], ctx).value();
  CHECK(torch::allclose(custom.to(torch::kDouble),
                        stacked.mean(0) - 1.5 * stacked.std(0, true), 1e-5,
                        1e-6));

  ctx.num_byzantine = 12;  // s < 1 without an override
  CHECK_REFUSED(CraftMaliciousUpdate("alie", {}, benign[0], ctx), "z_max");
  AttackContext one{{benign[0]}, 1, 10, 0};
  CHECK_REFUSED(CraftMaliciousUpdate("alie", {}, benign[0], one),
                "at least 2 benign");
}

TEST_CASE("ipm sends -epsilon times the benign mean") {
  const auto benign = MakeBenign(9, 2000, 11);
  const AttackContext ctx{benign, 3, 12, 0};
  const torch::Tensor mean = BenignMean(benign);
  for (double epsilon : {0.1, 100.0}) {
    CAPTURE(epsilon);
    const torch::Tensor out =
        CraftMaliciousUpdate("ipm", {{"epsilon", epsilon}}, benign[0], ctx)
            .value();
    CHECK(torch::allclose(out.to(torch::kDouble), -epsilon * mean, 1e-5, 1e-7));
    CHECK(out.to(torch::kDouble).dot(mean).item<double>() < 0.0);
  }
  CHECK_REFUSED(CraftMaliciousUpdate("ipm", {}, benign[0], ctx), "");
  CHECK_REFUSED(
      CraftMaliciousUpdate("ipm", {{"epsilon", -1.0}}, benign[0], ctx), "");
  const AttackContext blind{{}, 3, 12, 0};
  CHECK_REFUSED(
      CraftMaliciousUpdate("ipm", {{"epsilon", 1.0}}, benign[0], blind),
      "at least 1 benign");
}

TEST_CASE("slow_drift pushes against the benign mean a little more a round") {
  const auto benign = MakeBenign(9, 2000, 21);
  const torch::Tensor mean = BenignMean(benign);
  const torch::Tensor own = benign[0].to(torch::kDouble);
  const double own_norm = own.norm().item<double>();
  AttackContext ctx{benign, 3, 12, 0};
  std::vector<double> lambdas;
  for (int t : {1, 2, 10, 39, 40, 100}) {
    CAPTURE(t);
    ctx.attack_round = t;
    const torch::Tensor out =
        CraftMaliciousUpdate("slow_drift", {}, benign[0], ctx).value();
    const torch::Tensor bias = out.to(torch::kDouble) - own;
    // The bias points exactly against the benign mean ...
    const double cosine =
        (bias.dot(mean) / (bias.norm() * mean.norm())).item<double>();
    CHECK(cosine == doctest::Approx(-1.0).epsilon(1e-5));
    // ... with a norm of lambda_t times the own update's.
    lambdas.push_back(bias.norm().item<double>() / own_norm);
  }
  // lambda_t = min(0.05 t, 2).
  const std::vector<double> want = {0.05, 0.1, 0.5, 1.95, 2.0, 2.0};
  for (size_t k = 0; k < want.size(); ++k) {
    CHECK(lambdas[k] == doctest::Approx(want[k]).epsilon(1e-4));
  }
  ctx.attack_round = 3;
  const torch::Tensor stepped =
      CraftMaliciousUpdate("slow_drift", {{"step", 0.2}, {"max_step", 0.5}},
                           benign[0], ctx)
          .value();
  CHECK((stepped.to(torch::kDouble) - own).norm().item<double>() / own_norm ==
        doctest::Approx(0.5).epsilon(1e-4));
  CHECK_REFUSED(
      CraftMaliciousUpdate("slow_drift", {{"step", 0}}, benign[0], ctx), "");
  CHECK_REFUSED(
      CraftMaliciousUpdate("slow_drift", {{"step", 0.5}, {"max_step", 0.1}},
                           benign[0], ctx),
      "max_step");
  ctx.attack_round = 0;
  CHECK_REFUSED(CraftMaliciousUpdate("slow_drift", {}, benign[0], ctx),
                "attack_round");
  const AttackContext blind{{}, 3, 12, 0};
  CHECK_REFUSED(CraftMaliciousUpdate("slow_drift", {}, benign[0], blind),
                "at least 1 benign");
}

TEST_CASE("min_max stays within the largest benign distance, gamma maximal") {
  const auto benign = MakeBenign(10, 4000, 3);
  const AttackContext ctx{benign, 3, 13, 0};
  const torch::Tensor mean = BenignMean(benign);
  const double bound = MaxPairwiseSquared(benign);
  for (std::string kind : {"uv", "std", "sign"}) {
    CAPTURE(kind);
    const torch::Tensor out =
        CraftMaliciousUpdate("min_max:" + kind, {}, benign[0], ctx).value();
    double worst = 0.0;
    for (double v : SquaredDistances(out, benign)) worst = std::max(worst, v);
    CHECK(worst <= bound * (1.0 + 1e-5));

    // Closed form: the largest gamma with a_i - 2 gamma c_i + gamma^2 q <= D
    // for every i.
    const torch::Tensor dev = Deviation(kind, benign);
    const double q = dev.dot(dev).item<double>();
    double gamma_star = std::numeric_limits<double>::infinity();
    for (const auto& b : benign) {
      const torch::Tensor centered = mean - b.to(torch::kDouble);
      const double a = centered.pow(2).sum().item<double>();
      const double c = centered.dot(dev).item<double>();
      gamma_star =
          std::min(gamma_star, (c + std::sqrt(c * c - q * (a - bound))) / q);
    }
    CHECK(gamma_star > 0.0);
    CHECK(RecoveredGamma(out, mean, dev) ==
          doctest::Approx(gamma_star).epsilon(1e-4));
  }
  CHECK(torch::equal(
      CraftMaliciousUpdate("min_max", {}, benign[0], ctx).value(),
      CraftMaliciousUpdate("min_max:uv", {}, benign[0], ctx).value()));
}

TEST_CASE("min_sum keeps the sum of squared distances within the bound") {
  const auto benign = MakeBenign(8, 3000, 5);
  const AttackContext ctx{benign, 2, 10, 0};
  const torch::Tensor mean = BenignMean(benign);
  const std::vector<double> sums = RowSums(benign);
  for (bool use_min : {false, true}) {
    CAPTURE(use_min);
    const double bound = use_min ? *std::min_element(sums.begin(), sums.end())
                                 : *std::max_element(sums.begin(), sums.end());
    const std::map<std::string, double> params =
        use_min ? std::map<std::string, double>{{"min_score_bound", 1.0}}
                : std::map<std::string, double>{};
    for (std::string kind : {"uv", "std", "sign"}) {
      CAPTURE(kind);
      const torch::Tensor out =
          CraftMaliciousUpdate("min_sum:" + kind, params, benign[1], ctx)
              .value();
      double total = 0.0;
      for (double v : SquaredDistances(out, benign)) total += v;
      CHECK(total <= bound * (1.0 + 1e-5));
      // Sum_i (m - b_i) = 0 makes the sum S0 + n gamma^2 q, so
      // gamma* = sqrt((bound - S0) / (n q)).
      const torch::Tensor dev = Deviation(kind, benign);
      double s0 = 0.0;
      for (double v : SquaredDistances(mean.to(torch::kFloat), benign)) {
        s0 += v;
      }
      const double gamma_star = std::sqrt(
          (bound - s0) / (benign.size() * dev.dot(dev).item<double>()));
      CHECK(RecoveredGamma(out, mean, dev) ==
            doctest::Approx(gamma_star).epsilon(1e-4));
    }
  }
}

TEST_CASE("min_max and min_sum return the mean when the deviation is zero") {
  const torch::Tensor same = torch::randn({100});
  const AttackContext ctx{{same, same.clone(), same.clone()}, 1, 4, 0};
  for (std::string type : {"min_max:std", "min_sum:std"}) {
    CAPTURE(type);
    CHECK(torch::allclose(CraftMaliciousUpdate(type, {}, same, ctx).value(),
                          same));
  }
}

TEST_CASE("bad types, parameters, tensors and contexts are refused") {
  const torch::Tensor own = torch::randn({10});
  const AttackContext ctx{MakeBenign(4, 10, 1), 1, 5, 0};
  CHECK_REFUSED(CraftMaliciousUpdate("lie", {}, own, ctx),
                "unknown attack type");
  CHECK_REFUSED(CraftMaliciousUpdate("min_max:l2", {}, own, ctx),
                "unknown deviation");
  CHECK_REFUSED(CraftMaliciousUpdate("ipm:std", {{"epsilon", 1}}, own, ctx),
                "suffix");
  CHECK_REFUSED(
      CraftMaliciousUpdate("scaling", {{"lambda", 2}, {"lamda", 2}}, own, ctx),
      "unknown parameter 'lamda'");
  CHECK_REFUSED(
      CraftMaliciousUpdate(
          "scaling", {{"lambda", std::numeric_limits<double>::infinity()}}, own,
          ctx),
      "finite");
  CHECK_REFUSED(CraftMaliciousUpdate("min_max", {{"tolerance", 0}}, own, ctx),
                "");
  CHECK_REFUSED(
      CraftMaliciousUpdate("min_sum", {{"min_score_bound", 0.5}}, own, ctx),
      "");

  CHECK_REFUSED(
      CraftMaliciousUpdate("sign_flip", {}, own.to(torch::kDouble), ctx),
      "float32");
  CHECK_REFUSED(CraftMaliciousUpdate("sign_flip", {}, own.view({2, 5}), ctx),
                "");
  CHECK_REFUSED(CraftMaliciousUpdate("sign_flip", {}, torch::Tensor(), ctx),
                "");
  CHECK_REFUSED(CraftMaliciousUpdate("sign_flip", {}, torch::randn({11}), ctx),
                "benign update 0 has length 10, expected 11");
  torch::Tensor nan = own.clone();
  nan[3] = std::nanf("");
  CHECK_REFUSED(CraftMaliciousUpdate("sign_flip", {}, nan, ctx), "non-finite");
  const AttackContext inverted{{}, 5, 4, 0};
  CHECK_REFUSED(CraftMaliciousUpdate("sign_flip", {}, own, inverted),
                "num_byzantine <= num_total");
}

TEST_CASE("CheckAttackSpec agrees with CraftMaliciousUpdate on params") {
  for (const auto& type : AttackTypes())
    CHECK_REFUSED(CheckAttackSpec(type, {{"bogus", 1}}), "");
  CHECK(CheckAttackSpec("min_sum:sign", {{"min_score_bound", 1}}).ok());
  CHECK(CheckAttackSpec("ipm", {{"epsilon", 100}}).ok());
  CHECK_REFUSED(CheckAttackSpec("ipm", {}), "");
  CHECK_REFUSED(CheckAttackSpec("gaussian", {{"sigma", 1}}), "");
  CHECK(AttackTypes().size() == 8);
  CHECK_FALSE(IsOmniscientAttack("slow_drift").value());
  CHECK(IsOmniscientAttack("min_sum:std").value());
  CHECK(IsOmniscientAttack("alie").value());
  CHECK_FALSE(IsOmniscientAttack("gaussian_noise").value());
  CHECK_FALSE(IsOmniscientAttack("sign_flip").value());
  CHECK_REFUSED(IsOmniscientAttack("nope"), "");
}

}  // namespace
}  // namespace flsentry::sim
