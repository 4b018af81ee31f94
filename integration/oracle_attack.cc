// oracle_attack.cc — see oracle_attack.h.
#include "oracle_attack.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>

#include "base/file_reader.h"
#include "base/yaml_reader.h"
#include "sim_params.h"

namespace flsentry::sim {
namespace {

// Largest policy file read (the plugin refuses more than 1 MiB itself).
constexpr size_t kMaxPolicyBytes = size_t{16} << 20;

Status Refuse(const std::string& type, const std::string& what) {
  return InvalidArgument("attack '" + type + "': " + what);
}

// Reads an optional param into *out when it lies in [lo, hi] (lo excluded
// when lo_open).
Status ReadRange(const std::string& type,
                 const std::map<std::string, double>& params,
                 const std::string& name, double lo, bool lo_open, double hi,
                 double* out) {
  const double* v = FindParam(params, name);
  if (v == nullptr) return Status::Ok();
  const bool above = lo_open ? *v > lo : *v >= lo;
  if (!above || !(*v <= hi)) {
    return Refuse(type, name + " must be in " + (lo_open ? "(" : "[") +
                            std::to_string(lo) + ", " + std::to_string(hi) +
                            "], got " + std::to_string(*v));
  }
  *out = *v;
  return Status::Ok();
}

// The probe's verdict on the attackers' decisions.
bool AllAccepted(const std::vector<aggfilter::Decision>& decisions,
                 const std::vector<size_t>& attackers, double min_weight) {
  for (size_t i : attackers) {
    const aggfilter::Decision& d = decisions[i];
    const bool ok = d.action == AGGF_ACTION_ACCEPT ||
                    (d.action == AGGF_ACTION_DOWNWEIGHT &&
                     std::isfinite(d.weight) && d.weight >= min_weight);
    if (!ok) return false;
  }
  return true;
}

// Per attacker j (float64): base[j] = u_j + e_j and dir[j] = v_j, as
// OracleAttacker::Attack states.
void BasesAndDirections(const OracleSpec& spec,
                        const std::vector<ClientUpdate>& updates,
                        const std::vector<size_t>& attackers,
                        const std::vector<uint64_t>& noise_seeds,
                        std::vector<torch::Tensor>* base,
                        std::vector<torch::Tensor>* dir) {
  std::vector<bool> is_attacker(updates.size(), false);
  for (size_t i : attackers) is_attacker[i] = true;
  std::vector<torch::Tensor> benign;
  for (size_t i = 0; i < updates.size(); ++i) {
    if (!is_attacker[i]) benign.push_back(updates[i].delta);
  }
  if (benign.empty()) {
    for (const ClientUpdate& u : updates) benign.push_back(u.delta);
  }
  const torch::Tensor mean = torch::stack(benign).to(torch::kDouble).mean(0);
  const auto d = static_cast<double>(mean.numel());
  for (size_t j = 0; j < attackers.size(); ++j) {
    const torch::Tensor u = updates[attackers[j]].delta.to(torch::kDouble);
    at::Generator gen = at::detail::createCPUGenerator(noise_seeds[j]);
    const double sigma = spec.noise * u.norm().item<double>() / std::sqrt(d);
    base->push_back(u + sigma * torch::randn(u.sizes(), gen, u.options()));
    dir->push_back(spec.direction == OracleDirection::kNegMean ? -mean : -u);
  }
}

// The bisection of OracleAttacker::Attack over (0, max_step], `probe`
// saying whether a step is accepted (step 0 is); fills result's step_found,
// step_refused, converged and step_sent.
Status SearchStep(const OracleSpec& spec,
                  const std::function<Result<bool>(double)>& probe,
                  OracleRound* result) {
  FLS_ASSIGN_OR_RETURN(const bool max_ok, probe(spec.max_step));
  if (max_ok) {
    result->step_found = spec.max_step;
  } else {
    double lo = 0.0;
    double hi = spec.max_step;
    for (int i = 0; i < spec.iterations; ++i) {
      if (lo > 0.0 && hi - lo <= spec.tolerance * lo) break;
      const double mid = 0.5 * (lo + hi);
      FLS_ASSIGN_OR_RETURN(const bool ok, probe(mid));
      (ok ? lo : hi) = mid;
    }
    result->step_found = lo;
    result->step_refused = hi;
    result->converged = lo > 0.0 && hi - lo <= spec.tolerance * lo;
  }
  result->step_sent = spec.margin * result->step_found;
  if (result->step_sent != result->step_found) {
    FLS_ASSIGN_OR_RETURN(const bool margin_ok, probe(result->step_sent));
    if (!margin_ok) result->step_sent = result->step_found;
  }
  return Status::Ok();
}

}  // namespace

Result<OracleSpec> ParseOracleSpec(
    const std::string& type, const std::map<std::string, double>& params) {
  OracleSpec spec;
  if (type == "oracle" || type == "oracle:neg_mean") {
    spec.direction = OracleDirection::kNegMean;
  } else if (type == "oracle:sign_flip") {
    spec.direction = OracleDirection::kSignFlip;
  } else {
    return Refuse(type,
                  "unknown direction (known: oracle:neg_mean, "
                  "oracle:sign_flip; bare oracle = neg_mean)");
  }
  FLS_RETURN_IF_ERROR(CheckParamNames("attack", type, params,
                                      {"margin", "max_step", "iterations",
                                       "tolerance", "min_weight", "noise"}));
  FLS_RETURN_IF_ERROR(
      ReadRange(type, params, "margin", 0.0, true, 1.0, &spec.margin));
  FLS_RETURN_IF_ERROR(
      ReadRange(type, params, "max_step", 0.0, true, 1e6, &spec.max_step));
  double iterations = spec.iterations;
  FLS_RETURN_IF_ERROR(
      ReadRange(type, params, "iterations", 1.0, false, 64.0, &iterations));
  if (iterations != std::floor(iterations)) {
    return Refuse(type, "iterations must be a whole number");
  }
  spec.iterations = static_cast<int>(iterations);
  FLS_RETURN_IF_ERROR(
      ReadRange(type, params, "tolerance", 0.0, true, 0.5, &spec.tolerance));
  FLS_RETURN_IF_ERROR(
      ReadRange(type, params, "min_weight", 0.0, true, 1.0, &spec.min_weight));
  FLS_RETURN_IF_ERROR(
      ReadRange(type, params, "noise", 0.0, false, 1.0, &spec.noise));
  return spec;
}

Result<std::string> ShadowPolicyText(const std::string& policy_text) {
  FLS_ASSIGN_OR_RETURN(YAML::Node root,
                       yaml::LoadDocument(policy_text, kMaxPolicyBytes));
  if (root.IsNull()) return std::string();
  if (!root.IsMap()) {
    return ConfigError("the filter policy's root is not a mapping of keys");
  }
  try {
    for (const char* section : {"state", "audit"}) {
      YAML::Node node = root[section];
      if (node.IsDefined() && !node.IsNull() && !node.IsMap()) {
        return ConfigError(std::string("the filter policy's '") + section +
                           "' is not a mapping");
      }
      root[section]["path"] = "";
    }
    YAML::Emitter out;
    out << root;
    if (!out.good()) {
      return ConfigError("cannot write the shadow policy: " +
                         out.GetLastError());
    }
    return std::string(out.c_str());
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("the filter policy: ") + e.what());
  }
}

Result<std::unique_ptr<OracleAttacker>> OracleAttacker::Create(
    const OracleSpec& spec, const std::string& plugin_path,
    const std::string& policy_path) {
  std::string text;
  std::string base_dir;
  if (!policy_path.empty()) {
    auto read = ReadWholeFile(policy_path, kMaxPolicyBytes);
    if (!read.ok()) return read.status().WithContext("shadow filter policy");
    FLS_ASSIGN_OR_RETURN(text, ShadowPolicyText(*read));
    base_dir = std::filesystem::absolute(policy_path).parent_path().string();
  }
  FLS_ASSIGN_OR_RETURN(
      std::unique_ptr<FilterClient> shadow,
      FilterClient::FromText(
          plugin_path, text, base_dir,
          "shadow of " + (policy_path.empty() ? std::string("empty policy")
                                              : policy_path)));
  return std::unique_ptr<OracleAttacker>(
      new OracleAttacker(spec, std::move(shadow)));
}

Result<OracleRound> OracleAttacker::Observe(
    uint64_t round, const ParameterLayout& layout, const torch::Tensor& global,
    const std::vector<ClientUpdate>& updates) {
  OracleRound result;
  auto decisions = shadow_->FilterRound(round, layout, global, updates);
  if (decisions.ok()) {
    result.decisions = std::move(decisions).value();
  } else if (decisions.status().code() != ErrorCode::kUnsupported) {
    return decisions.status();
  }
  return result;
}

Result<OracleRound> OracleAttacker::Attack(
    uint64_t round, const ParameterLayout& layout, const torch::Tensor& global,
    std::vector<ClientUpdate>& updates, const std::vector<size_t>& attackers,
    const std::vector<uint64_t>& noise_seeds) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> base;
  std::vector<torch::Tensor> dir;
  BasesAndDirections(spec_, updates, attackers, noise_seeds, &base, &dir);
  OracleRound result;
  result.attacked = true;
  // Attackers that take the step (indices into `attackers`): all of them
  // until the probe at step 0 says which the shadow accepts at all.
  std::vector<size_t> stepping(attackers.size());
  std::iota(stepping.begin(), stepping.end(), 0);
  auto candidate = [&](double step) {
    std::vector<ClientUpdate> out = updates;
    for (size_t j = 0; j < attackers.size(); ++j) {
      out[attackers[j]].delta = base[j].to(torch::kFloat).contiguous();
    }
    for (size_t j : stepping) {
      out[attackers[j]].delta =
          (base[j] + step * dir[j]).to(torch::kFloat).contiguous();
    }
    return out;
  };

  FLS_ASSIGN_OR_RETURN(const std::vector<uint8_t> saved, shadow_->SaveState());
  // One probe: the shadow's decisions at `step` (empty when it refused the
  // round), its memory restored after.
  auto decide = [&](double step) -> Result<std::vector<aggfilter::Decision>> {
    ++result.probes;
    auto decisions =
        shadow_->FilterRound(round, layout, global, candidate(step));
    FLS_RETURN_IF_ERROR(shadow_->LoadState(saved));
    if (!decisions.ok() &&
        decisions.status().code() == ErrorCode::kUnsupported) {
      return std::vector<aggfilter::Decision>();
    }
    return decisions;
  };
  auto probe = [&](double step) -> Result<bool> {
    FLS_ASSIGN_OR_RETURN(const auto decisions, decide(step));
    if (decisions.empty()) return false;
    std::vector<size_t> indices;
    for (size_t j : stepping) indices.push_back(attackers[j]);
    return AllAccepted(decisions, indices, spec_.min_weight);
  };

  FLS_ASSIGN_OR_RETURN(const auto at_zero, decide(0.0));
  std::vector<size_t> accepted_at_zero;
  for (size_t j = 0; j < attackers.size() && !at_zero.empty(); ++j) {
    if (AllAccepted(at_zero, {attackers[j]}, spec_.min_weight)) {
      accepted_at_zero.push_back(j);
    }
  }
  stepping = accepted_at_zero;
  if (stepping.empty()) {
    result.step_refused = 0.0;
  } else {
    FLS_RETURN_IF_ERROR(SearchStep(spec_, probe, &result));
  }
  for (size_t j : stepping) result.stepping.push_back(attackers[j]);

  std::vector<ClientUpdate> sent = candidate(result.step_sent);
  for (size_t i : attackers) updates[i].delta = std::move(sent[i].delta);
  FLS_ASSIGN_OR_RETURN(OracleRound fed,
                       Observe(round, layout, global, updates));
  result.decisions = std::move(fed.decisions);
  return result;
}

}  // namespace flsentry::sim
