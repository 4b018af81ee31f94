// fl_server_impl.h — the reference server's state (Simulation::Impl) and
// its seed streams, shared by the files that implement it: fl_server.cc
// (set-up, rounds, filtering, recording) and fl_server_attacks.cc (what the
// attackers do to a round). Internal to integration/: include it from
// nowhere else. Not thread-safe (one Simulation per thread).
#ifndef FLSENTRY_INTEGRATION_FL_SERVER_IMPL_H_
#define FLSENTRY_INTEGRATION_FL_SERVER_IMPL_H_

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/round_archive.h"
#include "fashion_mnist.h"
#include "filter_client.h"
#include "fl_server.h"
#include "local_training.h"
#include "models.h"
#include "oracle_attack.h"

namespace flsentry::sim {

// Independent random streams derived from the one seed, so that adding a
// draw to one step never shifts another step's numbers.
enum SeedStream : uint64_t {
  kModelInit = 1,
  kTrainSubset,
  kPartition,
  kMaliciousSet,
  kSampling,
  kLocalTraining,
  kPoisonData,
  kAttackNoise,
  kNonfinite,
  kOracleNoise,
};

inline uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t Seed(uint64_t seed, SeedStream stream, uint64_t a = 0,
                     uint64_t b = 0) {
  return SplitMix(SplitMix(SplitMix(seed ^ SplitMix(stream)) ^ a) ^ b);
}

struct Simulation::Impl {
  SimConfig config;
  RunOptions options;
  Dataset test;
  std::vector<torch::Tensor> images, labels;  // per client, clean
  // Per client; defined only for malicious clients of a data-poisoning run.
  std::vector<torch::Tensor> poisoned_images, poisoned_labels;
  std::vector<bool> malicious;
  std::optional<BackdoorTrigger> trigger;
  std::shared_ptr<Model> model;
  ParameterLayout layout;
  torch::Tensor global;  // flat float32
  // The last round's step of the global model (undefined before round 1's
  // end): what Neurotoxin's attackers take benign clients to change.
  torch::Tensor last_global_step;
  BackdoorAttack backdoor;  // the attack's parameters (IsBackdoorAttack)
  std::unique_ptr<FilterClient> filter;
  std::unique_ptr<OracleAttacker> oracle;  // the oracle attack's shadow
  // The shadow's action on each update of this round (oracle runs only).
  std::vector<std::string> shadow_actions;
  std::optional<RoundArchiveWriter> archive;
  int round = 0;
  std::vector<double> class_accuracy;  // of the last round's global model

  Status Init();
  std::vector<int> SampleParticipants() const;
  Status ApplyModelPoisoning(const std::vector<int>& participants,
                             std::vector<ClientUpdate>& updates) const;
  Status ApplyOracle(const std::vector<int>& participants, bool active,
                     std::vector<ClientUpdate>& updates, RoundResult& result);
  Status ApplyClaimAttack(const std::vector<int>& participants,
                          std::vector<ClientUpdate>& updates) const;
  Status FilterAndAggregate(std::vector<ClientUpdate>& updates,
                            RoundResult& result);
  Status Record(const std::vector<ClientUpdate>& updates,
                const std::vector<ClientOutcome>& outcomes);
  Status Export(const std::vector<ClientUpdate>& updates,
                const std::vector<ClientOutcome>& outcomes) const;
  // The attackers' own training this round: neurotoxin's mask (kept in
  // *mask), constrain_scale's pull towards the round's global model.
  TrainingConstraint AttackerConstraint(bool active, torch::Tensor* mask) const;
  Result<RoundResult> Run();
};

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_FL_SERVER_IMPL_H_
