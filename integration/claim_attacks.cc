#include "claim_attacks.h"

#include <algorithm>
#include <cmath>

namespace flsentry::sim {
namespace {

constexpr double kDefaultInflationFactor = 100.0;

// The factor of a valid sample_inflation parameter map.
Result<double> InflationFactor(const std::map<std::string, double>& params) {
  double factor = kDefaultInflationFactor;
  for (const auto& [key, value] : params) {
    if (key != "factor") {
      return ConfigError("'attack.params." + key +
                         "' is not a parameter of sample_inflation (factor)");
    }
    factor = value;
  }
  if (!std::isfinite(factor) || factor < 1.0 || factor > kMaxInflationFactor) {
    return ConfigError(
        "'attack.params.factor' of sample_inflation must be in [1, 1e6]");
  }
  return factor;
}

}  // namespace

bool IsClaimAttack(const std::string& type) {
  return type == "sample_inflation";
}

Status CheckClaimAttack(const std::string& type,
                        const std::map<std::string, double>& params) {
  if (!IsClaimAttack(type)) {
    return InvalidArgument("'" + type + "' is not a claim attack");
  }
  return InflationFactor(params).status();
}

Result<uint64_t> ClaimedNumExamples(const std::string& type,
                                    const std::map<std::string, double>& params,
                                    uint64_t real) {
  if (!IsClaimAttack(type)) {
    return InvalidArgument("'" + type + "' is not a claim attack");
  }
  FLS_ASSIGN_OR_RETURN(const double factor, InflationFactor(params));
  // Clamped below 2^63 before the conversion (a huge `real` times 1e6 could
  // exceed it).
  const double claimed = std::round(factor * static_cast<double>(real));
  constexpr double kMax = 9.0e18;
  return static_cast<uint64_t>(std::clamp(claimed, 1.0, kMax));
}

}  // namespace flsentry::sim
