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

// A client's accuracy on its own data distribution: the final global
// model's per-class test accuracy weighted by the client's training label
// distribution, sum_c p(c) acc(c) with p(c) = label_counts[c] / total.
// Classes whose accuracy is NaN (no test example) are left out and p is
// renormalised over the others; NaN when nothing is left.
// REQUIRES: both have kNumClasses entries.
double OwnDistributionAccuracy(const std::vector<double>& class_accuracy,
                               const std::vector<int64_t>& label_counts);

// What the summary reports about the final model per client.
struct FinalModelView {
  std::vector<double> class_accuracy;  // Simulation::ClassAccuracy()
  // Simulation::ClientLabelCounts(), by client index.
  std::vector<std::vector<int64_t>> label_counts;
};

// {"config", "filter", "aggregator", "malicious_clients", "rounds",
//  "final_accuracy", "best_accuracy", "final_backdoor_success"?,
//  "total_seconds", "accuracy_by_round": [...],
//  "class_accuracy": [kNumClasses shares],
//  "clients": [{"id", "malicious", "examples", "label_counts": [...],
//               "own_accuracy"}]} (own_accuracy: OwnDistributionAccuracy of
// the final model; "malicious" is the fixed attacker set, whether or not the
// attack had started).
// REQUIRES: results non-empty; final_model.label_counts has one entry per
// client of the config.
nlohmann::json SummaryToJson(const SimConfig& config,
                             const std::string& filter_description,
                             const std::vector<std::string>& malicious_clients,
                             const std::vector<RoundResult>& results,
                             const FinalModelView& final_model);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_ROUND_RESULTS_H_
