// sim_checks.h — the reference server's check of a configuration's attack,
// evaluation and aggregator settings, before any data is loaded or any
// client trains (Simulation::Create calls it). Host-side harness code.
#ifndef FLSENTRY_INTEGRATION_SIM_CHECKS_H_
#define FLSENTRY_INTEGRATION_SIM_CHECKS_H_

#include "base/status.h"
#include "sim_config.h"

namespace flsentry::sim {

// Ok, or kConfig naming the setting that attacks.h, baselines.h,
// claim_attacks.h, oracle_attack.h or local_training.h would refuse (the
// attack's parameters, eval_backdoor's keys, the aggregator's).
Status CheckSimSpecs(const SimConfig& config);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_SIM_CHECKS_H_
