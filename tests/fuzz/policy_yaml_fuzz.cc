// libFuzzer target: arbitrary bytes as a policy file. ParsePolicyYaml must
// never crash, throw or hang; a policy it accepts must then decide a fixed
// round (with guards, scores, NaNs, a failing score and a calibration) and
// round-trip its state, without crashing and with weights in [0, 1].
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "policy/policy_config.h"

namespace {

std::vector<flsentry::PolicyInput> FixedRound() {
  std::vector<flsentry::PolicyInput> inputs;
  const double scores[] = {1.0, 1.1, 0.9, 1.05, 9.0, NAN, 0.0, 1e300};
  for (int i = 0; i < 8; ++i) {
    flsentry::PolicyInput in;
    in.client_id = "c" + std::to_string(i);
    in.num_examples = 10;
    in.score.score = scores[i];
    in.score.scored = std::isfinite(scores[i]);
    in.score.norm = 1.0 + i;
    inputs.push_back(in);
  }
  inputs[5].score.error = "scoring failed";
  inputs[6].guard_flags = flsentry::kFlagNonFinite;
  inputs[6].guard_reason = "nonfinite";
  return inputs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  flsentry::Result<flsentry::PolicyConfig> config =
      flsentry::ParsePolicyYaml(text);
  if (!config.ok()) {
    if (config.status().code() != flsentry::ErrorCode::kConfig) {
      __builtin_trap();
    }
    return 0;
  }
  flsentry::Policy policy(*config);
  flsentry::Calibration calibration;
  calibration.count = 10;
  calibration.mean = 1.0;
  calibration.stddev = 0.1;
  calibration.quantiles = {{0.5, 1.0}, {0.99, 1.3}, {1.0, 1.5}};
  const std::vector<flsentry::PolicyInput> inputs = FixedRound();
  for (uint64_t round = 1; round <= 3; ++round) {
    auto outcome = policy.DecideRound(round, inputs, &calibration);
    if (!outcome.ok()) continue;
    for (const flsentry::Decision& d : outcome->decisions) {
      if (!(d.weight >= 0.0 && d.weight <= 1.0)) __builtin_trap();
    }
  }
  flsentry::Policy restored(*config);
  if (!restored.LoadState(policy.SaveState()).ok()) __builtin_trap();
  return 0;
}
