// oracle_attack.h — the filter-aware evasion attack ("oracle", issue 15):
// the colluding attackers run a shadow copy of the server's filter (the same
// plugin .so and policy, its own instance without state file or audit log),
// feed it every round they observe, and each attacked round push their
// updates along a harmful direction as far as the shadow still accepts them.
// docs/attacks.md gives the formula; configs/sim/attack_oracle.yaml runs it.
//
// Host-side harness code, not part of the plugin. Not thread-safe: one
// OracleAttacker per simulation, one round at a time (the shadow is a plugin
// instance: aggfilter.h convention 8).
#ifndef FLSENTRY_INTEGRATION_ORACLE_ATTACK_H_
#define FLSENTRY_INTEGRATION_ORACLE_ATTACK_H_

#include <torch/types.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "filter_client.h"
#include "models.h"

namespace flsentry::sim {

// The harmful direction v of one attacker's update, u its honest update and
// m the mean of the round's benign updates.
enum class OracleDirection {
  kNegMean,   // v = -m (IPM's and min-max:uv's direction)
  kSignFlip,  // v = -u (step 2 sends exactly -u)
};

// The attack's settings: type "oracle" or "oracle:neg_mean" (kNegMean),
// "oracle:sign_flip" (kSignFlip); the numbers are the config's params.
struct OracleSpec {
  OracleDirection direction = OracleDirection::kNegMean;
  // Attacker j sends u_j + e_j + step * v_j, step = margin * s, s the
  // largest step in [0, max_step] the shadow accepts (found by bisection).
  double margin = 0.9;      // param margin, in (0, 1]
  double max_step = 100;    // param max_step, > 0 (units of ||v||)
  int iterations = 24;      // param iterations: probes of the bisection, 1..64
  double tolerance = 0.01;  // param tolerance: stop when hi - lo <= tol * lo
  // A probe counts as accepted when every attacker's decision is ACCEPT, or
  // DOWNWEIGHT with weight >= min_weight (param min_weight, in (0, 1]; 1:
  // only ACCEPT).
  double min_weight = 1.0;
  // Sybil noise e_j ~ N(0, (noise * ||u_j||)^2 / d · I), so ||e_j|| ~ noise *
  // ||u_j||; drawn from a seed per (round, client). Param noise, in [0, 1].
  double noise = 0.01;
};

// Which attack types are this attack: IsOracleAttack (sim_config.h).
// Reads the type suffix and params (margin, max_step, iterations,
// tolerance, min_weight, noise; all optional). kInvalidArgument "attack
// 'oracle...': ..." naming the suffix or parameter that is wrong.
Result<OracleSpec> ParseOracleSpec(const std::string& type,
                                   const std::map<std::string, double>& params);

// The shadow's policy: `policy_text` with state.path and audit.path set to
// "" (no state file, no audit log), every other key as given. An empty text
// stays empty (the plugin's defaults have neither). kConfig when the text is
// not YAML or its root is not a mapping.
Result<std::string> ShadowPolicyText(const std::string& policy_text);

// What the attack did in one round.
struct OracleRound {
  bool attacked = false;  // false: the round was only observed
  // The largest step the search saw accepted for every stepping attacker
  // (0 when the shadow refused all of them at step 0: the honest updates
  // plus noise).
  double step_found = 0.0;
  // The smallest step the search saw refused; +infinity when max_step
  // itself was accepted.
  double step_refused = std::numeric_limits<double>::infinity();
  // The step sent: margin * step_found, or step_found when the shadow
  // refused the margin's step (a non-monotone boundary).
  double step_sent = 0.0;
  // The attackers (indices into the updates) that took the step: those the
  // shadow accepted at step 0; the others sent u + e.
  std::vector<size_t> stepping;
  int probes = 0;          // filter calls undone by restoring the state
  bool converged = false;  // the bisection reached its tolerance
  // The shadow's decisions on the round actually sent (every update, in
  // order); empty when the shadow refused the round.
  std::vector<aggfilter::Decision> decisions;
};

class OracleAttacker {
 public:
  // Loads the shadow: plugin `plugin_path`, the policy file `policy_path`
  // ("" = the plugin's defaults) rewritten by ShadowPolicyText, its
  // directory as base_dir. Errors: the policy's (kNotFound, kConfig) and
  // FilterClient::FromText's.
  static Result<std::unique_ptr<OracleAttacker>> Create(
      const OracleSpec& spec, const std::string& plugin_path,
      const std::string& policy_path);

  // Feeds the shadow a round the attackers leave as it is (before the
  // attack starts, or without an attacker in it), so that it stays in step
  // with the server's filter. A round the shadow refuses is not an error.
  // Errors: kInternal from the plugin.
  Result<OracleRound> Observe(uint64_t round, const ParameterLayout& layout,
                              const torch::Tensor& global,
                              const std::vector<ClientUpdate>& updates);

  // Replaces updates[i] for every i in `attackers` (their honest updates on
  // entry) by u + e + step * v, one step for all of them, searched as the
  // spec says with the shadow's state saved before the probes and restored
  // after each; then feeds the shadow the round as sent. Attackers the
  // shadow refuses already at step 0 (e.g. an honest update pointing away
  // from the client's last accepted one) send u + e and are left out of
  // the search, so that one of them does not hold the others back.
  // `noise_seeds`
  // holds one seed per attacker. The benign updates (the others; all of
  // them when every update is an attacker's) give m.
  // REQUIRES: attackers non-empty, indices in range, distinct;
  // noise_seeds.size() == attackers.size(); every delta has layout.total
  // finite elements. Errors: kInternal from the plugin.
  Result<OracleRound> Attack(uint64_t round, const ParameterLayout& layout,
                             const torch::Tensor& global,
                             std::vector<ClientUpdate>& updates,
                             const std::vector<size_t>& attackers,
                             const std::vector<uint64_t>& noise_seeds);

  const OracleSpec& spec() const { return spec_; }

 private:
  OracleAttacker(const OracleSpec& spec, std::unique_ptr<FilterClient> shadow)
      : spec_(spec), shadow_(std::move(shadow)) {}

  OracleSpec spec_;
  std::unique_ptr<FilterClient> shadow_;
};

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_ORACLE_ATTACK_H_
