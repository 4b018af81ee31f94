#include "sim_checks.h"

#include <torch/torch.h>

#include <cmath>

#include "attacks.h"
#include "baselines.h"
#include "claim_attacks.h"
#include "local_training.h"
#include "oracle_attack.h"

namespace flsentry::sim {
namespace {

bool IsModelPoisoning(const std::string& type) {
  return type != "none" && type != "nonfinite" && !IsDataPoisoning(type) &&
         !IsClaimAttack(type) && !IsOracleAttack(type);
}

}  // namespace

Status CheckSimSpecs(const SimConfig& config) {
  const AttackConfig& a = config.attack;
  if (a.type == "none" && !a.params.empty()) {
    return ConfigError("'attack.params' given but attack.type is none");
  }
  if (a.type == "label_flip") {
    FLS_RETURN_IF_ERROR(
        FlipLabels(torch::zeros({1}, torch::kInt64), a.params).status());
  } else if (IsBackdoorAttack(a.type)) {
    FLS_RETURN_IF_ERROR(BackdoorAttackFromParams(a.type, a.params).status());
  } else if (a.type == "nonfinite") {
    for (const auto& [key, value] : a.params) {
      if (key != "count" || value != std::floor(value) || value < 1 ||
          value > 1e6) {
        return ConfigError(
            "nonfinite takes one parameter, 'count' (1..1000000 coordinates)");
      }
    }
  } else if (IsClaimAttack(a.type)) {
    FLS_RETURN_IF_ERROR(CheckClaimAttack(a.type, a.params));
  } else if (IsOracleAttack(a.type)) {
    const auto spec = ParseOracleSpec(a.type, a.params);
    if (!spec.ok()) return ConfigError("'attack': " + spec.status().message());
  } else if (IsModelPoisoning(a.type)) {
    const Status spec = CheckAttackSpec(a.type, a.params);
    if (!spec.ok()) return ConfigError("'attack': " + spec.message());
  }
  if (config.eval_backdoor) {
    if (IsBackdoorAttack(a.type)) {
      return ConfigError(
          "'eval_backdoor' is for runs without a backdoor attack (a backdoor "
          "attack measures its own trigger)");
    }
    for (const auto& [key, value] : *config.eval_backdoor) {
      const bool whole = value == std::floor(value);
      if (key == "target") {
        if (!whole || value < 0 || value > 9) {
          return ConfigError("'eval_backdoor.target' must be a class 0..9");
        }
      } else if (key == "trigger_size") {
        if (!whole || value < 1 || value > 10) {
          return ConfigError(
              "'eval_backdoor.trigger_size' must be 1..10 pixels");
        }
      } else {
        return ConfigError("'eval_backdoor." + key +
                           "' is not a key (target, trigger_size)");
      }
    }
  }
  const Status aggregator =
      CheckAggregatorSpec(config.aggregator.type, config.aggregator.params);
  if (!aggregator.ok()) {
    return ConfigError("'aggregator': " + aggregator.message());
  }
  return Status::Ok();
}

}  // namespace flsentry::sim
