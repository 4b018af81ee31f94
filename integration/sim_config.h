// sim_config.h — the configuration of one simulated federated training run
// (configs/sim/*.yaml; every key is documented in configs/sim/README.md).
//
// Parsing is strict, through the one YAML reader (base/yaml_reader.h): an
// unknown key, a key given twice, a quoted number, a wrong type or a value
// out of range is an error naming the key path with its line and column.
// Host-side harness code, not part of the plugin; no LibTorch (the
// benchmark's planner checks every run's config with it).
#ifndef FLSENTRY_INTEGRATION_SIM_CONFIG_H_
#define FLSENTRY_INTEGRATION_SIM_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "base/status.h"

namespace flsentry::sim {

using Params = std::map<std::string, double>;

// The model a run trains (models.h builds it).
struct ModelSpec {
  std::string kind = "mlp";  // "mlp" (784-hidden-10) or "cnn"
  int hidden = 64;           // MLP hidden units; CNN fully connected units
};

// Attacks run by the simulator itself (data poisoning, broken clients).
// Every other type is a model-poisoning attack crafted by
// CraftMaliciousUpdate (integration/attacks.h).
// The trigger backdoors, all on the same poisoned data: "backdoor",
// "neurotoxin" (trained only on coordinates the federation rarely changes)
// and "constrain_scale" (trained close to the global model, then scaled).
inline bool IsBackdoorAttack(const std::string& type) {
  return type == "backdoor" || type == "neurotoxin" ||
         type == "constrain_scale";
}

inline bool IsDataPoisoning(const std::string& type) {
  return type == "label_flip" || IsBackdoorAttack(type);
}

// The filter-aware attack (oracle_attack.h): "oracle" and "oracle:<anything>"
// (the latter may still be refused by ParseOracleSpec).
inline bool IsOracleAttack(const std::string& type) {
  return type == "oracle" || type.rfind("oracle:", 0) == 0;
}

struct AttackConfig {
  // "none"; data poisoning: "label_flip", "backdoor", "neurotoxin",
  // "constrain_scale"; a broken client:
  // "nonfinite" (sends NaN in `count` coordinates); a false claim:
  // "sample_inflation" (claim_attacks.h); model poisoning: "sign_flip",
  // "gaussian_noise", "scaling", "alie", "ipm", "min_max", "min_sum",
  // "slow_drift";
  // filter-aware: "oracle[:neg_mean|:sign_flip]" (oracle_attack.h).
  std::string type = "none";
  double fraction = 0.0;  // of all clients, malicious for the whole run
  int start_round = 1;    // first round (1-based) in which they attack
  Params params;          // type-specific, see configs/sim/README.md
};

struct AggregatorConfig {
  // "fedavg", "median", "trimmed_mean", "multikrum", "normclip".
  std::string type = "fedavg";
  Params params;
};

struct SimConfig {
  ModelSpec model;
  std::string dataset_dir = "/usr/share/datasets/fashion-mnist";
  int64_t train_examples = 0;  // 0: all 60000; else a seeded subset
  int64_t test_examples = 0;   // 0: all 10000; else the first N
  int clients = 50;
  std::string partition = "dirichlet";  // or "iid"
  double alpha = 0.5;                   // Dirichlet concentration
  int local_epochs = 1;
  double lr = 0.05;
  // Round r (1-based) trains at lr * lr_decay^(r - 1): an exponential
  // schedule, as in most FedAvg experiments; 1 keeps lr fixed.
  double lr_decay = 1.0;
  double momentum = 0.0;
  int batch_size = 32;
  double participation = 0.2;  // fraction of clients sampled per round
  int rounds = 30;
  uint64_t seed = 1;
  int threads = 1;  // LibTorch intra-op threads
  AttackConfig attack;
  AggregatorConfig aggregator;
  // A trigger to measure backdoor_success with in a run without a backdoor
  // attack: the chance level of the attack success rate. Params "target"
  // [0] and "trigger_size" [3], as the backdoor attack's; checked by
  // Simulation::Create (not allowed together with a backdoor attack, which
  // measures its own trigger). nullopt: not measured.
  std::optional<Params> eval_backdoor;

  // Clients sampled per round: max(1, round(participation * clients)).
  int ClientsPerRound() const;
  // The local learning rate of round `round` (1-based), see lr_decay.
  double LearningRate(int round) const;
  // Clients that are malicious for the whole run:
  // round(attack.fraction * clients), 0 when attack.type is "none".
  int NumMalicious() const;
};

// Parses YAML text. `source` names the text in error messages (a path).
// Returns kConfig naming the offending key.
Result<SimConfig> ParseSimConfig(const std::string& yaml_text,
                                 const std::string& source);

// Reads and parses a file; kNotFound / kIo when it cannot be read.
Result<SimConfig> LoadSimConfig(const std::string& path);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_SIM_CONFIG_H_
