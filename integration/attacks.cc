// attacks.cc — see attacks.h. The search-based attacks (min_max, min_sum)
// reduce each candidate's distance test to a quadratic in gamma over
// precomputed inner products, so the bisection costs O(n) per step after
// one O(n^2 d) pass.
#include "attacks.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string_view>

#include "sim_params.h"

namespace flsentry::sim {
namespace {

Status Refuse(const std::string& type, const std::string& what) {
  return InvalidArgument("attack '" + type + "': " + what);
}

// The deviation direction of the Shejwalkar-Houmansadr attacks.
enum class Deviation { kUnitVector, kStd, kSign };

// slow_drift's defaults: 5% of the own update's norm more each round, up to
// twice it.
constexpr double kDriftStep = 0.05;
constexpr double kDriftMaxStep = 2.0;

// A type string split into its attack and, for min_max/min_sum, deviation.
struct ParsedType {
  std::string base;
  Deviation deviation = Deviation::kUnitVector;
};

Result<ParsedType> ParseType(const std::string& type) {
  const auto colon = type.find(':');
  ParsedType parsed{type.substr(0, colon)};
  static const std::vector<std::string> kBases = {
      "sign_flip", "gaussian_noise", "scaling", "alie",
      "ipm",       "min_max",        "min_sum", "slow_drift"};
  if (std::find(kBases.begin(), kBases.end(), parsed.base) == kBases.end()) {
    std::string known;
    for (const auto& b : kBases) known += (known.empty() ? "" : ", ") + b;
    return Refuse(type, "unknown attack type (known: " + known + ")");
  }
  if (colon == std::string::npos) return parsed;
  if (parsed.base != "min_max" && parsed.base != "min_sum") {
    return Refuse(type, "only min_max and min_sum take a ':deviation' suffix");
  }
  const std::string dev = type.substr(colon + 1);
  if (dev == "uv") {
    parsed.deviation = Deviation::kUnitVector;
  } else if (dev == "std") {
    parsed.deviation = Deviation::kStd;
  } else if (dev == "sign") {
    parsed.deviation = Deviation::kSign;
  } else {
    return Refuse(type,
                  "unknown deviation '" + dev + "' (known: uv, std, sign)");
  }
  return parsed;
}

Result<double> RequireParam(const std::string& type,
                            const std::map<std::string, double>& params,
                            const std::string& name) {
  const double* v = FindParam(params, name);
  if (v == nullptr) return Refuse(type, "requires parameter '" + name + "'");
  return *v;
}

Result<double> SearchTolerance(const std::string& type,
                               const std::map<std::string, double>& params) {
  const double* t = FindParam(params, "tolerance");
  if (t == nullptr) return 1e-6;
  if (!(*t > 0.0 && *t <= 0.1)) {
    return Refuse(type, "tolerance must be in (0, 0.1]");
  }
  return *t;
}

// Validates params for the parsed type; shared by CheckAttackSpec and
// CraftMaliciousUpdate so the two cannot disagree.
Status CheckParams(const std::string& type, const ParsedType& parsed,
                   const std::map<std::string, double>& params) {
  const std::string& b = parsed.base;
  if (b == "sign_flip") {
    FLS_RETURN_IF_ERROR(CheckParamNames("attack", type, params, {"scale"}));
    const double* s = FindParam(params, "scale");
    if (s != nullptr && !(*s > 0.0)) return Refuse(type, "scale must be > 0");
  } else if (b == "gaussian_noise") {
    FLS_RETURN_IF_ERROR(CheckParamNames("attack", type, params, {"sigma"}));
    FLS_ASSIGN_OR_RETURN(const double sigma,
                         RequireParam(type, params, "sigma"));
    if (!(sigma >= 0.0)) return Refuse(type, "sigma must be >= 0");
  } else if (b == "scaling") {
    FLS_RETURN_IF_ERROR(CheckParamNames("attack", type, params, {"lambda"}));
    FLS_RETURN_IF_ERROR(RequireParam(type, params, "lambda").status());
  } else if (b == "alie") {
    FLS_RETURN_IF_ERROR(CheckParamNames("attack", type, params, {"z_max"}));
  } else if (b == "ipm") {
    FLS_RETURN_IF_ERROR(CheckParamNames("attack", type, params, {"epsilon"}));
    FLS_ASSIGN_OR_RETURN(const double epsilon,
                         RequireParam(type, params, "epsilon"));
    if (!(epsilon > 0.0)) return Refuse(type, "epsilon must be > 0");
  } else if (b == "slow_drift") {
    FLS_RETURN_IF_ERROR(
        CheckParamNames("attack", type, params, {"step", "max_step"}));
    const double* step = FindParam(params, "step");
    const double* max_step = FindParam(params, "max_step");
    const double s = step != nullptr ? *step : kDriftStep;
    if (!(s > 0.0)) return Refuse(type, "step must be > 0");
    if (max_step != nullptr && !(*max_step >= s)) {
      return Refuse(type, "max_step must be >= step");
    }
  } else if (b == "min_max") {
    FLS_RETURN_IF_ERROR(CheckParamNames("attack", type, params, {"tolerance"}));
    FLS_RETURN_IF_ERROR(SearchTolerance(type, params).status());
  } else {  // min_sum
    FLS_RETURN_IF_ERROR(CheckParamNames("attack", type, params,
                                        {"tolerance", "min_score_bound"}));
    FLS_RETURN_IF_ERROR(SearchTolerance(type, params).status());
    const double* m = FindParam(params, "min_score_bound");
    if (m != nullptr && *m != 0.0 && *m != 1.0) {
      return Refuse(type, "min_score_bound must be 0 or 1");
    }
  }
  return Status::Ok();
}

// Checks one update tensor; `expected_len` < 0 accepts any positive length.
Status CheckUpdate(const std::string& type, const std::string& what,
                   const torch::Tensor& t, int64_t expected_len) {
  if (!t.defined()) return Refuse(type, what + " is an undefined tensor");
  if (t.dim() != 1 || t.scalar_type() != torch::kFloat ||
      t.device().type() != torch::kCPU) {
    return Refuse(type, what + " must be a 1-D float32 CPU tensor, got " +
                            std::string(c10::toString(t.scalar_type())) +
                            " of " + std::to_string(t.dim()) + " dims");
  }
  if (t.numel() == 0) return Refuse(type, what + " is empty");
  if (expected_len >= 0 && t.numel() != expected_len) {
    return Refuse(type, what + " has length " + std::to_string(t.numel()) +
                            ", expected " + std::to_string(expected_len));
  }
  if (!torch::isfinite(t).all().item<bool>()) {
    return Refuse(type, what + " has non-finite values");
  }
  return Status::Ok();
}

// Stacks the benign updates into an [n, d] float64 matrix after checking
// there are at least `min_count`. REQUIRES their lengths were checked.
Result<torch::Tensor> BenignMatrix(const std::string& type,
                                   const AttackContext& ctx, size_t min_count) {
  if (ctx.benign.size() < min_count) {
    return Refuse(type, "needs at least " + std::to_string(min_count) +
                            " benign updates in the context, got " +
                            std::to_string(ctx.benign.size()));
  }
  return torch::stack(ctx.benign).to(torch::kDouble);
}

// REQUIRES t is a tensor computed here, never a caller's input (the result
// may share t's storage).
torch::Tensor ToFloatOutput(const torch::Tensor& t) {
  return t.to(torch::kFloat).contiguous();
}

Result<torch::Tensor> Alie(const std::string& type,
                           const std::map<std::string, double>& params,
                           const AttackContext& ctx) {
  const double* z_override = FindParam(params, "z_max");
  double z = 0.0;
  if (z_override != nullptr) {
    z = *z_override;
  } else {
    FLS_ASSIGN_OR_RETURN(z, AlieZMax(ctx.num_total, ctx.num_byzantine));
  }
  FLS_ASSIGN_OR_RETURN(const torch::Tensor b, BenignMatrix(type, ctx, 2));
  const torch::Tensor mean = b.mean(0);
  const torch::Tensor std = b.std(0, /*unbiased=*/true);
  return ToFloatOutput(mean + z * std);
}

// min_max / min_sum (Shejwalkar & Houmansadr, NDSS 2021, "AGR-agnostic").
Result<torch::Tensor> MinMaxOrSum(const std::string& type,
                                  const ParsedType& parsed,
                                  const std::map<std::string, double>& params,
                                  const AttackContext& ctx) {
  FLS_ASSIGN_OR_RETURN(const torch::Tensor b, BenignMatrix(type, ctx, 2));
  const int64_t n = b.size(0);
  const torch::Tensor mean = b.mean(0);

  torch::Tensor dev;
  switch (parsed.deviation) {
    case Deviation::kUnitVector: {
      const double norm = mean.norm().item<double>();
      dev = norm > 0.0 ? mean / norm : torch::zeros_like(mean);
      break;
    }
    case Deviation::kStd:
      dev = b.std(0, /*unbiased=*/true);
      break;
    case Deviation::kSign:
      dev = mean.sign();
      break;
  }
  const double dev_sq = dev.dot(dev).item<double>();
  if (dev_sq == 0.0) return ToFloatOutput(mean);

  // Everything below comes from the Gram matrix and b * dev, so no further
  // [n, d] temporaries: ||mean - gamma dev - b_i||^2 = a_i - 2 gamma c_i +
  // gamma^2 dev_sq with a_i = ||mean - b_i||^2, c_i = <mean - b_i, dev>.
  const torch::Tensor gram = b.matmul(b.t());  // float64 [n, n]
  const torch::Tensor sq = gram.diagonal();
  const torch::Tensor pair =
      (sq.unsqueeze(0) + sq.unsqueeze(1) - 2.0 * gram).clamp_min(0.0);
  const torch::Tensor a_t =
      (gram.mean() - 2.0 * gram.mean(1) + sq).clamp_min(0.0).contiguous();
  const torch::Tensor c_t = (mean.dot(dev) - b.matmul(dev)).contiguous();
  const std::vector<double> a(a_t.data_ptr<double>(),
                              a_t.data_ptr<double>() + n);
  const std::vector<double> c(c_t.data_ptr<double>(),
                              c_t.data_ptr<double>() + n);

  const bool min_max = parsed.base == "min_max";
  double bound;
  if (min_max) {
    bound = pair.max().item<double>();
  } else {
    const double* use_min = FindParam(params, "min_score_bound");
    const torch::Tensor row_sums = pair.sum(1);
    bound = (use_min != nullptr && *use_min == 1.0)
                ? row_sums.min().item<double>()
                : row_sums.max().item<double>();
  }

  // The malicious update's value of the constrained quantity at gamma. It
  // is convex in gamma and within the bound at gamma = 0 (the mean is in the
  // benign hull / minimises the sum), so the feasible gammas >= 0 form an
  // interval [0, gamma*]; bisection finds gamma*.
  auto measure = [&](double gamma) {
    double result = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double di = a[i] - 2.0 * gamma * c[i] + gamma * gamma * dev_sq;
      result = min_max ? std::max(result, di) : result + di;
    }
    return result;
  };
  auto feasible = [&](double gamma) { return measure(gamma) <= bound; };

  double lo = 0.0;
  double hi = 10.0;  // the authors' starting gamma
  // The quadratic term dominates eventually, so doubling terminates; 2^200
  // only guards against a degenerate dev_sq near the underflow limit.
  for (int i = 0; i < 200 && feasible(hi); ++i) {
    lo = hi;
    hi *= 2.0;
  }
  if (feasible(hi)) {
    return Refuse(type, "gamma search did not find an upper bound");
  }
  FLS_ASSIGN_OR_RETURN(const double tol, SearchTolerance(type, params));
  for (int i = 0; i < 400 && hi - lo > tol * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (feasible(mid) ? lo : hi) = mid;
  }
  return ToFloatOutput(mean - lo * dev);
}

// slow_drift (AttackTypes): own + lambda_t ||own|| u against the benign mean.
Result<torch::Tensor> SlowDrift(const std::string& type,
                                const std::map<std::string, double>& params,
                                const torch::Tensor& own,
                                const AttackContext& ctx) {
  if (ctx.attack_round < 1) {
    return Refuse(type, "context needs attack_round >= 1, got " +
                            std::to_string(ctx.attack_round));
  }
  const double* step = FindParam(params, "step");
  const double* max_step = FindParam(params, "max_step");
  const double lambda =
      std::min((step != nullptr ? *step : kDriftStep) * ctx.attack_round,
               max_step != nullptr ? *max_step : kDriftMaxStep);
  FLS_ASSIGN_OR_RETURN(const torch::Tensor b, BenignMatrix(type, ctx, 1));
  const torch::Tensor mean = b.mean(0);
  const double mean_norm = mean.norm().item<double>();
  const torch::Tensor own64 = own.to(torch::kDouble);
  if (!(mean_norm > 0.0)) return ToFloatOutput(own64);
  const double own_norm = own64.norm().item<double>();
  return ToFloatOutput(own64 - (lambda * own_norm / mean_norm) * mean);
}

}  // namespace

const std::vector<std::string>& AttackTypes() {
  static const std::vector<std::string> kTypes = {
      "sign_flip", "gaussian_noise", "scaling", "alie",
      "ipm",       "min_max",        "min_sum", "slow_drift"};
  return kTypes;
}

Status CheckAttackSpec(const std::string& type,
                       const std::map<std::string, double>& params) {
  FLS_ASSIGN_OR_RETURN(const ParsedType parsed, ParseType(type));
  return CheckParams(type, parsed, params);
}

Result<bool> IsOmniscientAttack(const std::string& type) {
  FLS_ASSIGN_OR_RETURN(const ParsedType parsed, ParseType(type));
  const std::string& base = parsed.base;
  return base == "alie" || base == "ipm" || base == "min_max" ||
         base == "min_sum";
}

Result<double> AlieZMax(int num_total, int num_byzantine) {
  const int n = num_total;
  const int f = num_byzantine;
  const std::string where =
      "alie z_max for n=" + std::to_string(n) + ", f=" + std::to_string(f);
  if (n < 1 || f < 0 || f > n) {
    return InvalidArgument(where +
                           ": requires n >= 1 and 0 <= f <= n "
                           "(set the context's num_total/num_byzantine)");
  }
  const int s = n / 2 + 1 - f;  // floor(n/2 + 1) - f for n >= 0
  if (s < 1 || s >= n) {
    return InvalidArgument(
        where + ": s = floor(n/2+1) - f = " + std::to_string(s) +
        " puts (n-s)/n outside (0, 1); pass param z_max instead");
  }
  const double p = static_cast<double>(n - s) / n;
  // Phi^-1(p) = sqrt(2) erfinv(2p - 1).
  const double x = 2.0 * p - 1.0;
  return std::sqrt(2.0) *
         torch::erfinv(torch::tensor(x, torch::kDouble)).item<double>();
}

Result<torch::Tensor> CraftMaliciousUpdate(
    const std::string& type, const std::map<std::string, double>& params,
    const torch::Tensor& own_honest_update, const AttackContext& ctx) {
  FLS_ASSIGN_OR_RETURN(const ParsedType parsed, ParseType(type));
  FLS_RETURN_IF_ERROR(CheckParams(type, parsed, params));
  if (ctx.num_byzantine < 0 || ctx.num_total < 0 ||
      ctx.num_byzantine > ctx.num_total) {
    return Refuse(type, "context needs 0 <= num_byzantine <= num_total, got " +
                            std::to_string(ctx.num_byzantine) + " and " +
                            std::to_string(ctx.num_total));
  }
  FLS_RETURN_IF_ERROR(
      CheckUpdate(type, "own honest update", own_honest_update, -1));
  const int64_t d = own_honest_update.numel();
  for (size_t i = 0; i < ctx.benign.size(); ++i) {
    FLS_RETURN_IF_ERROR(CheckUpdate(type, "benign update " + std::to_string(i),
                                    ctx.benign[i], d));
  }

  torch::NoGradGuard no_grad;
  const std::string& b = parsed.base;
  if (b == "sign_flip") {
    const double* s = FindParam(params, "scale");
    return ToFloatOutput(own_honest_update * -(s != nullptr ? *s : 1.0));
  }
  if (b == "gaussian_noise") {
    FLS_ASSIGN_OR_RETURN(const double sigma,
                         RequireParam(type, params, "sigma"));
    at::Generator gen = at::detail::createCPUGenerator(ctx.seed);
    const torch::Tensor noise =
        torch::randn({d}, gen, torch::TensorOptions().dtype(torch::kDouble));
    return ToFloatOutput(own_honest_update.to(torch::kDouble) + sigma * noise);
  }
  if (b == "scaling") {
    FLS_ASSIGN_OR_RETURN(const double lambda,
                         RequireParam(type, params, "lambda"));
    return ToFloatOutput(own_honest_update.to(torch::kDouble) * lambda);
  }
  if (b == "alie") return Alie(type, params, ctx);
  if (b == "ipm") {
    FLS_ASSIGN_OR_RETURN(const double epsilon,
                         RequireParam(type, params, "epsilon"));
    FLS_ASSIGN_OR_RETURN(const torch::Tensor benign,
                         BenignMatrix(type, ctx, 1));
    return ToFloatOutput(-epsilon * benign.mean(0));
  }
  if (b == "slow_drift") return SlowDrift(type, params, own_honest_update, ctx);
  return MinMaxOrSum(type, parsed, params, ctx);
}

}  // namespace flsentry::sim
