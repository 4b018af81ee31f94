// claim_attacks.h — attacks on what a client claims about its update rather
// than on the update itself, for the reference FL server (a test harness,
// not part of the plugin). docs/attacks.md gives the source of each.
//
//   sample_inflation  the client trains honestly and sends its honest
//                     update, but claims `factor` x its real num_examples
//                     (param factor, default 100), so that a server that
//                     weights the average by num_examples (FedAvg) gives
//                     it factor x its due weight.
//
// Errors are Status/Result (kConfig naming the parameter); nothing throws.
// Pure functions, safe from any thread.
#ifndef FLSENTRY_INTEGRATION_CLAIM_ATTACKS_H_
#define FLSENTRY_INTEGRATION_CLAIM_ATTACKS_H_

#include <cstdint>
#include <map>
#include <string>

#include "base/status.h"

namespace flsentry::sim {

// The largest factor accepted: keeps factor x any real count far below
// 2^63 and the weights finite.
inline constexpr double kMaxInflationFactor = 1e6;

// True for the claim attacks ("sample_inflation").
bool IsClaimAttack(const std::string& type);

// Checks a claim attack's parameters before any training. sample_inflation
// takes only `factor`, finite and in [1, kMaxInflationFactor]. Returns
// kConfig naming the parameter ("attack.params.factor"), or
// kInvalidArgument when `type` is not a claim attack.
Status CheckClaimAttack(const std::string& type,
                        const std::map<std::string, double>& params);

// The num_examples an attacker claims for an update trained on `real`
// examples: max(1, round(factor x real)). Errors as CheckClaimAttack.
Result<uint64_t> ClaimedNumExamples(const std::string& type,
                                    const std::map<std::string, double>& params,
                                    uint64_t real);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_CLAIM_ATTACKS_H_
