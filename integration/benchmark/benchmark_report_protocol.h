// benchmark_report_protocol.h — the published benchmark's protocol
// (integration/benchmark/protocol/*.yaml) and its expansion into runs.
//
// A protocol names a base simulation config, the malicious fractions, the
// attacks (configs/sim/attack_<name>.yaml, read when the plan is made) and
// the aggregators. WritePlan turns it into one directory per run holding the
// exact sim config (and, for the filter, a private copy of the policy) plus
// plan.json (read by the report) and plan.tsv (read by scripts/benchmark.sh).
//
// Aggregator parameters (stated in docs/results.md by the report):
//   trimmed_mean: beta = the malicious fraction;
//   multikrum:    f = round(fraction x clients per round), capped at the
//                 largest f with n > 2f + 2 (Krum's requirement);
//   normclip:     no tau, i.e. the median of the round's update norms;
//   at fraction 0 the defences are configured as for the smallest attacked
//   fraction (the cost of the defence when nobody attacks).
//
// Threading: none; every function is safe to call from one thread at a time.
#ifndef FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_PROTOCOL_H_
#define FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_PROTOCOL_H_

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace flsentry::bench {

struct Targets {
  double max_fpr_per_round = 0.01;  // filter, no attack; a share, not percent
  double fraction = 0.2;            // fraction at which accuracy is checked
  double accuracy_points = 2.0;     // percentage points below no-attack FedAvg
};

struct Protocol {
  std::string name;
  std::string base_config;  // relative to the repository root
  std::string policy;       // relative to the repository root
  int rounds = 0;
  int start_round = 1;
  std::map<std::string, std::string> overrides;  // top-level sim keys, scalars
  std::vector<double> fractions;                 // each in (0, 1), ascending
  std::vector<std::string> attacks;              // attack_<name>.yaml suffixes
  std::vector<std::string> aggregators;  // fedavg filter median trimmed_mean
                                         // multikrum normclip
  Targets targets;
};

// One simulation of the plan.
struct RunSpec {
  std::string id;            // e.g. "f20-sign_flip-filter"; a directory name
  double fraction = 0.0;     // 0: no attack
  std::string attack;        // protocol attack name; "none" at fraction 0
  std::string aggregator;    // protocol aggregator name ("filter" included)
  std::string agg_params;    // human-readable, e.g. "beta=0.2"; may be empty
  bool uses_filter = false;  // fedavg + the plugin with the copied policy
};

// The plan as the report needs it (plan.json).
struct Plan {
  Protocol protocol;
  int clients = 0;            // after overrides
  int clients_per_round = 0;  // round(participation x clients)
  std::string model;          // e.g. "mlp (hidden 64)"
  std::string setting;  // the base config's data/training keys, "k=v, ..."
  int policy_warmup_rounds = 0;  // the policy's detector.refresh.warmup_rounds
  std::map<std::string, std::string> attack_details;  // name -> "type k=v ..."
  std::vector<RunSpec> runs;
};

// Reads and validates a protocol file. Unknown keys, wrong types, empty
// lists, fractions outside (0, 1), names with characters other than
// [A-Za-z0-9_.] and unknown aggregators are ConfigError naming the key.
Result<Protocol> LoadProtocol(const std::string& path);

// Expands the protocol into runs and writes, under out_dir (created):
//   runs/<id>/sim.yaml, runs/<id>/policy.yaml (filter runs), plan.json,
//   plan.tsv ("<id>\t<absolute run dir>\t<1 if filter else 0>" per line).
// repo_root resolves base_config, policy and configs/sim/attack_*.yaml.
// A run directory that already holds summary.json must have been made from
// identical sim.yaml/policy.yaml text; otherwise StateError naming the run
// (delete the directory to rerun it). Returns the plan.
Result<Plan> WritePlan(const Protocol& protocol, const std::string& repo_root,
                       const std::string& out_dir);

// plan.json <-> Plan. PlanFromJson validates every field it reads
// (InvalidArgument naming the field).
nlohmann::json PlanToJson(const Plan& plan);
Result<Plan> PlanFromJson(const nlohmann::json& j);

// "f20" for 0.2, "f00" for 0, "f34" for 0.34: the fraction in percent.
std::string FractionTag(double fraction);

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_PROTOCOL_H_
