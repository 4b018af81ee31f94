// benchmark_report_protocol.h — the published benchmark's protocol
// (integration/benchmark/protocol/*.yaml, format documented in full.yaml)
// and its expansion into runs.
//
// A protocol names a base simulation config and three groups of runs:
//   - the attack table, in the base shape: no attack and every attack at
//     every malicious fraction (fraction_attacks may shorten the list at a
//     fraction), under every aggregator;
//   - honest shapes: other settings (clients, participation, label skew,
//     model) run without attack by the filter and by FedAvg;
//   - detection shapes: other settings run by the filter alone at
//     targets.fraction under targets.detection_attacks.
// adaptive_attacks marks attacks of the table as built against the filter
// (issue 15): planned like the others (an `oracle` attack against another
// aggregator gets the policy as its shadow's), reported in their own section.
// Seeds: the filter's runs and every no-attack FedAvg run (the reference of
// the accuracy target and of the fairness figure) use `seeds`; the other
// aggregators use `baseline_seeds`. A run's seed replaces the config's
// `seed` (data split, malicious set, model init, sampling, training).
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

// The name of the protocol's own setting (base_config + overrides).
inline constexpr const char* kBaseShape = "base";

struct Targets {
  // Filter, no attack, every honest shape: honest updates dropped or
  // down-weighted after the warm-up, a share (mean over seeds); and no
  // honest client quarantined.
  double max_honest_flagged = 0.01;
  double fraction = 0.2;         // fraction of the accuracy/detection targets
  double accuracy_points = 2.0;  // percentage points below no-attack FedAvg
  double max_backdoor_success = 0.10;  // share, at `fraction`
  // Attacks whose detection is a target, at `fraction`, in the base shape
  // and every detection shape: TPR >= min_tpr and FPR <= max_fpr.
  std::vector<std::string> detection_attacks;
  double min_tpr = 0.95;
  double max_fpr = 0.02;
};

// A named setting: sim-config keys (scalars, as YAML text) over the
// protocol's base_config + overrides.
struct Shape {
  std::string name;
  std::map<std::string, std::string> overrides;
};

struct Protocol {
  std::string name;
  std::string base_config;  // relative to the repository root
  std::string policy;       // relative to the repository root
  int rounds = 0;
  int start_round = 1;
  std::map<std::string, std::string> overrides;  // top-level sim keys, scalars
  std::vector<int> seeds;                        // filter + no-attack FedAvg
  std::vector<int> baseline_seeds;               // the other runs
  std::vector<double> fractions;                 // each in (0, 1), ascending
  std::vector<std::string> attacks;              // attack_<name>.yaml suffixes
  // FractionTag -> the attacks run at that fraction (a subset of attacks,
  // in their order); a fraction without an entry runs every attack.
  std::map<std::string, std::vector<std::string>> fraction_attacks;
  // Attacks (names in `attacks`) by attackers who know the filter (issue
  // 15): the report gives them their own accuracy tables and plot; the
  // targets, the worst case and the filter's detection tables count them
  // with the others.
  std::vector<std::string> adaptive_attacks;
  std::vector<std::string> aggregators;    // fedavg filter median trimmed_mean
                                           // multikrum normclip
  std::vector<Shape> shapes;               // named settings other than base
  std::vector<std::string> honest_shapes;  // "base" or a shape's name
  std::vector<std::string> detection_shapes;  // shapes' names (not base)
  Targets targets;

  // The attacks run at `fraction` (empty for 0), in the order of `attacks`.
  std::vector<std::string> AttacksAt(double fraction) const;
  // AttacksAt(fraction) split into those in adaptive_attacks (adaptive =
  // true) and the others.
  std::vector<std::string> AttacksAt(double fraction, bool adaptive) const;
  // True when `attack` is in adaptive_attacks.
  bool IsAdaptive(const std::string& attack) const;
};

// One simulation of the plan.
struct RunSpec {
  std::string id;  // e.g. "base-f20-sign_flip-filter-s1"; a directory name
  std::string shape = kBaseShape;
  double fraction = 0.0;     // 0: no attack
  std::string attack;        // protocol attack name; "none" at fraction 0
  std::string aggregator;    // protocol aggregator name ("filter" included)
  std::string agg_params;    // human-readable, e.g. "beta=0.2"; may be empty
  bool uses_filter = false;  // fedavg + the plugin with the copied policy
  int seed = 1;
  // An `oracle` attack against another aggregator: the plugin with the
  // copied policy is the attackers' shadow filter only (--oracle-plugin).
  bool shadow_filter = false;
};

// A shape as the report describes it.
struct ShapeInfo {
  std::string name;
  int clients = 0;
  int clients_per_round = 0;  // round(participation x clients)
  std::string model;          // e.g. "mlp (hidden 64)"
  std::string partition;      // "dirichlet(0.5)" or "iid"
  std::string setting;        // the data/training keys, "k=v, ..."
};

// The plan as the report needs it (plan.json).
struct Plan {
  Protocol protocol;
  std::vector<ShapeInfo> shapes;  // base first, then protocol.shapes' order
  int policy_warmup_rounds = 0;   // the policy's detector.refresh.warmup_rounds
  std::map<std::string, std::string> attack_details;  // name -> "type k=v ..."
  std::vector<RunSpec> runs;

  // nullptr for an unknown name.
  const ShapeInfo* Shape(const std::string& name) const;
};

// Reads and validates a protocol file with the strict YAML reader
// (base/yaml_reader.h). Unknown or repeated keys, wrong types, quoted
// numbers (and quoted override values), empty lists, fractions outside
// (0, 1), seeds outside 0..2^31-1 or repeated, names with characters other
// than [A-Za-z0-9_.], unknown aggregators, shapes or attacks referenced but
// not defined are ConfigError naming the key (with its line and column
// where one key alone is wrong).
Result<Protocol> LoadProtocol(const std::string& path);

// Expands the protocol into runs and writes, under out_dir (created):
//   runs/<id>/sim.yaml, runs/<id>/policy.yaml (filter and shadow runs),
//   plan.json, plan.tsv ("<id>\t<absolute run dir>\t<mode>" per line; mode
//   1: the filter, 2: the policy is an oracle attack's shadow only, 0: no
//   plugin).
// repo_root resolves base_config, policy and configs/sim/attack_*.yaml.
// base_config and the attack files are read by the simulator's strict
// reader (sim_config.h), and so is every run's sim.yaml before it is
// written: a config flsentry-simulate would refuse is ConfigError here.
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

// Run ids become directory names: letters, digits, '_', '.', '-', no "..".
bool IsRunId(const std::string& s);

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_PROTOCOL_H_
