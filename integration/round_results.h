// round_results.h — the reference server's machine output: one JSON object
// per round (rounds.jsonl) and a run summary (summary.json). Field names are
// a contract for scripts and the benchmark (documented in
// configs/sim/README.md). Non-finite numbers are written as null.
#ifndef FLSENTRY_INTEGRATION_ROUND_RESULTS_H_
#define FLSENTRY_INTEGRATION_ROUND_RESULTS_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fl_server.h"
#include "sim_config.h"

namespace flsentry::sim {

// {"round", "accuracy", "test_loss", "backdoor_success"?, "attack_active",
//  "filter_failed", "aggregated", "train_loss", "seconds",
//  "malicious_sent", "malicious_aggregated", "benign_dropped",
//  "clients": [{"id", "num_examples", "malicious", "attack"?, "action",
//               "weight", "score", "reason", "delta_norm"}]}
nlohmann::json RoundToJson(const RoundResult& result);

// The configuration as parsed (every key, defaults filled in).
nlohmann::json ConfigToJson(const SimConfig& config);

// {"config", "filter", "aggregator", "malicious_clients", "rounds",
//  "final_accuracy", "best_accuracy", "final_backdoor_success"?,
//  "total_seconds", "accuracy_by_round": [...]}.
// REQUIRES: results non-empty.
nlohmann::json SummaryToJson(const SimConfig& config,
                             const std::string& filter_description,
                             const std::vector<std::string>& malicious_clients,
                             const std::vector<RoundResult>& results);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_ROUND_RESULTS_H_
