// attacks.h — model-poisoning attacks from the literature, for the reference
// FL server (a test harness, not part of the plugin). docs/attacks.md gives
// each attack's formula and paper.
//
// Updates are flattened client deltas: defined, contiguous or not, 1-D
// float32 CPU tensors of one common length d > 0 with finite values.
// Every function here is pure (no shared state) and may be called from
// several threads at once. Errors are kInvalidArgument statuses with a
// message naming the attack and what is wrong ("attack 'alie': ..."); nothing
// is thrown except std::bad_alloc.
//
// Example:
//   AttackContext ctx{benign, /*num_byzantine=*/10, /*num_total=*/50, seed};
//   Result<torch::Tensor> bad = CraftMaliciousUpdate("alie", {}, own, ctx);
#ifndef FLSENTRY_INTEGRATION_ATTACKS_H_
#define FLSENTRY_INTEGRATION_ATTACKS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"

// LibTorch stays out of this header: callers include torch themselves
// (<ATen/core/Tensor.h> alone costs ~3.4 s of compile per includer).
namespace at {
class Tensor;
}  // namespace at
namespace torch {
using at::Tensor;
}  // namespace torch

namespace flsentry::sim {

// What an attacker knows in one round. Omniscient attacks (alie, ipm,
// min_max, min_sum) read `benign`; the others ignore it except for checking
// its shape when it is non-empty.
struct AttackContext {
  // The round's honest updates (the benign clients' deltas). Borrowed
  // tensors are only read.
  std::vector<torch::Tensor> benign;
  // f: malicious clients in the round, 0 <= f <= num_total.
  int num_byzantine = 0;
  // n: all clients in the round, benign and malicious.
  int num_total = 0;
  // Seeds the random attacks (gaussian_noise); the same seed gives the same
  // update. Pass a distinct seed per (round, client) for independent noise.
  uint64_t seed = 0;
  // Rounds the attack has run, this one included (1 in its first round);
  // slow_drift grows with it. >= 1 for slow_drift.
  int attack_round = 1;
};

// Attack type names accepted by CraftMaliciousUpdate, in documentation
// order: "sign_flip", "gaussian_noise", "scaling", "alie", "ipm", "min_max",
// "min_sum", "slow_drift". min_max and min_sum also accept a deviation
// suffix (":uv", ":std", ":sign"; bare name = ":uv").
const std::vector<std::string>& AttackTypes();

// Checks a type name and its parameters without computing anything, so a
// configuration can be refused before training starts. kInvalidArgument
// exactly when CraftMaliciousUpdate would refuse (type, params) for reasons
// other than the tensors or the context.
Status CheckAttackSpec(const std::string& type,
                       const std::map<std::string, double>& params);

// Returns the malicious update one attacker sends instead of
// `own_honest_update` (its honestly trained delta): a new 1-D float32
// tensor of length d that shares no storage with any input.
//
// type and params (every value must be finite; unknown names are refused):
//   sign_flip        -scale * own.                   scale (default 1, > 0)
//   gaussian_noise   own + N(0, sigma^2) per coordinate.  sigma (required,
//                    >= 0); noise drawn from ctx.seed.
//   scaling          lambda * own (model replacement).  lambda (required).
//   alie             mean_j + z * std_j of ctx.benign per coordinate j (std
//                    with Bessel's correction). z = z_max(n, f) (AlieZMax),
//                    or the param z_max if given. REQUIRES >= 2 benign.
//   ipm              -epsilon * mean(ctx.benign). epsilon (required, > 0;
//                    the paper uses 0.1 and 100). REQUIRES >= 1 benign.
//   min_max[:dev]    mean - gamma * dev, gamma the largest value for which
//                    max_i ||m - b_i|| <= max_{i,j} ||b_i - b_j||.
//   min_sum[:dev]    mean - gamma * dev, gamma the largest value for which
//                    sum_i ||m - b_i||^2 <= max_i sum_j ||b_i - b_j||^2;
//                    param min_score_bound = 1 bounds by the minimum over i
//                    instead (what the authors' released code does).
//                    Both: dev = uv (mean / ||mean||), std (per-coordinate
//                    std of benign) or sign (sign of mean); gamma found by
//                    bisection to relative tolerance `tolerance` (default
//                    1e-6, in (0, 0.1]); REQUIRES >= 2 benign. If dev is 0
//                    the result is the benign mean.
//   slow_drift       own + lambda_t * ||own|| * u, u = -mean(ctx.benign) /
//                    ||mean(ctx.benign)|| (own when the mean is 0), lambda_t
//                    = min(step * ctx.attack_round, max_step): an update
//                    biased against the round's progress, a little more
//                    each round, so that a detector that keeps learning
//                    from accepted updates may learn the bias as normal.
//                    step (default 0.05, > 0), max_step (default 2, >=
//                    step). REQUIRES >= 1 benign, ctx.attack_round >= 1.
// kInvalidArgument for an unknown type, a bad parameter, an own update or
// benign update that is not 1-D float32 of length d with finite values, or
// a context the attack cannot use (too few benign updates; for alie, f and
// n outside what z_max is defined for).
Result<torch::Tensor> CraftMaliciousUpdate(
    const std::string& type, const std::map<std::string, double>& params,
    const torch::Tensor& own_honest_update, const AttackContext& ctx);

// True for the attacks whose result does not depend on the own update
// (alie, ipm, min_max, min_sum, with any suffix): every attacker of a round
// gets the same vector, so a caller may craft it once per round and reuse it.
// kInvalidArgument for an unknown type.
Result<bool> IsOmniscientAttack(const std::string& type);

// ALIE's z_max (Baruch et al. 2019): with s = floor(n/2 + 1) - f supporters
// needed, z_max = Phi^-1((n - s) / n), Phi the standard normal CDF.
// REQUIRES n >= 1, 0 <= f <= n and 1 <= s < n, so that the probability lies
// in (0, 1); kInvalidArgument otherwise.
// Example: AlieZMax(50, 24) = Phi^-1(48/50) ~ 1.751.
Result<double> AlieZMax(int num_total, int num_byzantine);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_ATTACKS_H_
