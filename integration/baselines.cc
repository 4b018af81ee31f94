// baselines.cc — see baselines.h. Coordinate-wise rules sort an [n, d]
// stack once; distance-based rules accumulate in float64.
#include "baselines.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <numeric>
#include <string_view>

#include "sim_params.h"

namespace flsentry::sim {
namespace {

Status Refuse(const std::string& type, const std::string& what) {
  return InvalidArgument("aggregator '" + type + "': " + what);
}

// Checks a parameter that must hold a whole number in [lo, hi].
Status CheckIntegerParam(const std::string& type, const std::string& name,
                         double v, double lo, double hi) {
  if (v != std::floor(v) || v < lo || v > hi) {
    return Refuse(type, "parameter '" + name + "' must be a whole number in [" +
                            std::to_string(static_cast<long long>(lo)) + ", " +
                            std::to_string(static_cast<long long>(hi)) +
                            "], got " + std::to_string(v));
  }
  return Status::Ok();
}

constexpr double kMaxCount = 1 << 30;

Status CheckParams(const std::string& type,
                   const std::map<std::string, double>& params) {
  if (type == "fedavg" || type == "median") {
    return CheckParamNames("aggregator", type, params, {});
  }
  if (type == "trimmed_mean") {
    FLS_RETURN_IF_ERROR(CheckParamNames("aggregator", type, params, {"beta"}));
    const double* beta = FindParam(params, "beta");
    if (beta != nullptr && !(*beta >= 0.0 && *beta < 0.5)) {
      return Refuse(type, "beta must be in [0, 0.5)");
    }
    return Status::Ok();
  }
  if (type == "multikrum") {
    FLS_RETURN_IF_ERROR(
        CheckParamNames("aggregator", type, params, {"f", "m"}));
    const double* f = FindParam(params, "f");
    if (f == nullptr) {
      return Refuse(type,
                    "requires parameter 'f' (Byzantine updates tolerated)");
    }
    FLS_RETURN_IF_ERROR(CheckIntegerParam(type, "f", *f, 0, kMaxCount));
    if (const double* m = FindParam(params, "m")) {
      FLS_RETURN_IF_ERROR(CheckIntegerParam(type, "m", *m, 1, kMaxCount));
    }
    return Status::Ok();
  }
  if (type == "normclip") {
    FLS_RETURN_IF_ERROR(CheckParamNames("aggregator", type, params, {"tau"}));
    const double* tau = FindParam(params, "tau");
    if (tau != nullptr && !(*tau > 0.0)) return Refuse(type, "tau must be > 0");
    return Status::Ok();
  }
  std::string known;
  for (const auto& t : AggregatorTypes()) {
    known += (known.empty() ? "" : ", ") + t;
  }
  return Refuse(type, "unknown aggregator (known: " + known + ")");
}

// Checks the updates (non-empty, 1-D float32 CPU, one length, finite).
Status CheckUpdates(const std::string& type,
                    const std::vector<torch::Tensor>& updates) {
  if (updates.empty()) return Refuse(type, "no updates to aggregate");
  int64_t d = -1;
  for (size_t i = 0; i < updates.size(); ++i) {
    const torch::Tensor& t = updates[i];
    const std::string what = "update " + std::to_string(i);
    if (!t.defined()) return Refuse(type, what + " is an undefined tensor");
    if (t.dim() != 1 || t.scalar_type() != torch::kFloat ||
        t.device().type() != torch::kCPU) {
      return Refuse(type, what + " must be a 1-D float32 CPU tensor");
    }
    if (t.numel() == 0) return Refuse(type, what + " is empty");
    if (d < 0) d = t.numel();
    if (t.numel() != d) {
      return Refuse(type, what + " has length " + std::to_string(t.numel()) +
                              ", update 0 has " + std::to_string(d));
    }
    if (!torch::isfinite(t).all().item<bool>()) {
      return Refuse(type, what + " has non-finite values");
    }
  }
  return Status::Ok();
}

Status CheckWeights(const std::string& type, size_t n,
                    const std::vector<double>& weights) {
  if (weights.size() != n) {
    return Refuse(type, std::to_string(weights.size()) + " weights for " +
                            std::to_string(n) + " updates");
  }
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(weights[i]) || weights[i] < 0.0) {
      return Refuse(type,
                    "weight " + std::to_string(i) + " must be finite and >= 0");
    }
  }
  return Status::Ok();
}

// sum_i w_i u_i / sum_i w_i over `chosen`, accumulated in float64.
Result<torch::Tensor> WeightedMean(const std::string& type,
                                   const std::vector<torch::Tensor>& updates,
                                   const std::vector<double>& weights,
                                   const std::vector<int>& chosen) {
  double total = 0.0;
  for (int i : chosen) total += weights[i];
  if (!(total > 0.0)) {
    return Refuse(type, "the averaged updates have a total weight of 0");
  }
  torch::Tensor acc = torch::zeros({updates[chosen.front()].numel()},
                                   torch::TensorOptions(torch::kDouble));
  for (int i : chosen) {
    if (weights[i] == 0.0) continue;
    acc.add_(updates[i], weights[i] / total);  // float32 promoted per element
  }
  return acc.to(torch::kFloat);
}

std::vector<int> AllIndices(size_t n) {
  std::vector<int> all(n);
  std::iota(all.begin(), all.end(), 0);
  return all;
}

// The updates as a [d, n] matrix with each row (one coordinate across the n
// updates) sorted ascending. Rows are contiguous, so the sort is cache-local.
torch::Tensor SortedCoordinates(const std::vector<torch::Tensor>& updates) {
  return std::get<0>(torch::stack(updates, 1).sort(1));
}

// Coordinate-wise median; the mean of the two middle values when n is even.
torch::Tensor Median(const std::vector<torch::Tensor>& updates) {
  const torch::Tensor sorted = SortedCoordinates(updates);
  const int64_t n = sorted.size(1);
  if (n % 2 == 1) return sorted.select(1, n / 2).contiguous();
  return sorted.narrow(1, n / 2 - 1, 2).sum(1, false, torch::kDouble) * 0.5;
}

Result<torch::Tensor> TrimmedMean(const std::string& type,
                                  const std::map<std::string, double>& params,
                                  const std::vector<torch::Tensor>& updates) {
  const double* beta_param = FindParam(params, "beta");
  const double beta = beta_param != nullptr ? *beta_param : 0.1;
  const int64_t n = static_cast<int64_t>(updates.size());
  const auto k = static_cast<int64_t>(std::floor(beta * n));
  if (n - 2 * k < 1) {
    return Refuse(type, "beta=" + std::to_string(beta) + " trims all " +
                            std::to_string(n) + " updates");
  }
  const torch::Tensor kept = SortedCoordinates(updates).narrow(1, k, n - 2 * k);
  return kept.sum(1, false, torch::kDouble) / static_cast<double>(n - 2 * k);
}

Result<torch::Tensor> NormClip(const std::string& type,
                               const std::map<std::string, double>& params,
                               const std::vector<torch::Tensor>& updates,
                               const std::vector<double>& weights) {
  std::vector<double> norms(updates.size());
  for (size_t i = 0; i < updates.size(); ++i) {
    norms[i] = at::linalg_vector_norm(updates[i], 2, c10::nullopt, false,
                                      torch::kDouble)
                   .item<double>();
  }
  double tau;
  if (const double* t = FindParam(params, "tau")) {
    tau = *t;
  } else {
    std::vector<double> sorted = norms;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    tau =
        n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  }
  double total = 0.0;
  for (double w : weights) total += w;
  if (!(total > 0.0)) {
    return Refuse(type, "the updates have a total weight of 0");
  }
  torch::Tensor acc =
      torch::zeros({updates[0].numel()}, torch::TensorOptions(torch::kDouble));
  for (size_t i = 0; i < updates.size(); ++i) {
    const double clip = norms[i] > tau ? tau / norms[i] : 1.0;
    acc.add_(updates[i], clip * weights[i] / total);
  }
  return acc.to(torch::kFloat);
}

}  // namespace

const std::vector<std::string>& AggregatorTypes() {
  static const std::vector<std::string> kTypes = {
      "fedavg", "median", "trimmed_mean", "multikrum", "normclip"};
  return kTypes;
}

Status CheckAggregatorSpec(const std::string& type,
                           const std::map<std::string, double>& params) {
  return CheckParams(type, params);
}

namespace {

// MultiKrumSelect after the updates were checked.
Result<std::vector<int>> SelectChecked(
    const std::vector<torch::Tensor>& updates, int f, int m) {
  const std::string type = "multikrum";
  const int n = static_cast<int>(updates.size());
  if (f < 0 || n <= 2 * f + 2) {
    return Refuse(type, "Krum needs n > 2f + 2, got n=" + std::to_string(n) +
                            ", f=" + std::to_string(f));
  }
  if (m < 1 || m > n) {
    return Refuse(type, "m=" + std::to_string(m) +
                            " must be in [1, n=" + std::to_string(n) + "]");
  }
  torch::NoGradGuard no_grad;
  // Pairwise squared distances from the float64 Gram matrix (one GEMM, no
  // [n, d] temporaries per row).
  const torch::Tensor stacked = torch::stack(updates).to(torch::kDouble);
  const torch::Tensor gram = stacked.matmul(stacked.t());
  const torch::Tensor sq = gram.diagonal();
  const torch::Tensor dist = (sq.unsqueeze(0) + sq.unsqueeze(1) - 2.0 * gram)
                                 .clamp_min(0.0)
                                 .contiguous();
  const int neighbours = n - f - 2;
  std::vector<double> score(n);
  for (int i = 0; i < n; ++i) {
    std::vector<double> row(dist[i].data_ptr<double>(),
                            dist[i].data_ptr<double>() + n);
    row.erase(row.begin() + i);  // not its own neighbour
    std::partial_sort(row.begin(), row.begin() + neighbours, row.end());
    score[i] = std::accumulate(row.begin(), row.begin() + neighbours, 0.0);
  }
  std::vector<int> order = AllIndices(n);
  std::stable_sort(order.begin(), order.end(),
                   [&](int x, int y) { return score[x] < score[y]; });
  order.resize(m);
  return order;
}

}  // namespace

Result<std::vector<int>> MultiKrumSelect(
    const std::vector<torch::Tensor>& updates, int f, int m) {
  FLS_RETURN_IF_ERROR(CheckUpdates("multikrum", updates));
  return SelectChecked(updates, f, m);
}

Result<torch::Tensor> Aggregate(const std::string& type,
                                const std::map<std::string, double>& params,
                                const std::vector<torch::Tensor>& updates,
                                const std::vector<double>& weights) {
  FLS_RETURN_IF_ERROR(CheckParams(type, params));
  FLS_RETURN_IF_ERROR(CheckUpdates(type, updates));
  FLS_RETURN_IF_ERROR(CheckWeights(type, updates.size(), weights));
  torch::NoGradGuard no_grad;

  torch::Tensor result;
  if (type == "fedavg") {
    FLS_ASSIGN_OR_RETURN(result, WeightedMean(type, updates, weights,
                                              AllIndices(updates.size())));
  } else if (type == "median") {
    result = Median(updates);
  } else if (type == "trimmed_mean") {
    FLS_ASSIGN_OR_RETURN(result, TrimmedMean(type, params, updates));
  } else if (type == "multikrum") {
    const int n = static_cast<int>(updates.size());
    const int f = static_cast<int>(params.at("f"));
    const double* m_param = FindParam(params, "m");
    const int m = m_param != nullptr ? static_cast<int>(*m_param) : n - f;
    FLS_ASSIGN_OR_RETURN(std::vector<int> chosen, SelectChecked(updates, f, m));
    FLS_ASSIGN_OR_RETURN(result, WeightedMean(type, updates, weights, chosen));
  } else {  // normclip
    FLS_ASSIGN_OR_RETURN(result, NormClip(type, params, updates, weights));
  }
  return result.to(torch::kFloat).contiguous();
}

}  // namespace flsentry::sim
