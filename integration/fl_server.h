// fl_server.h — the reference FedAvg server: simulated clients train on
// Fashion-MNIST, a fixed set of them attack, an optional aggregation filter
// (loaded through host_api/ only) decides which updates are averaged, and
// the global model is tested every round.
//
//   FLS_ASSIGN_OR_RETURN(auto sim, Simulation::Create(config, options));
//   for (int r = 1; r <= config.rounds; ++r) {
//     FLS_ASSIGN_OR_RETURN(RoundResult result, sim->RunRound());
//   }
//
// Reproducibility: with the same config, options and LibTorch thread count,
// every round's updates, decisions and accuracies are bit-identical run to
// run. Create sets LibTorch's process-wide thread count and global seed.
// Threading: one thread; at most one Simulation per process at a time.
// Host-side harness code, not part of the plugin.
#ifndef FLSENTRY_INTEGRATION_FL_SERVER_H_
#define FLSENTRY_INTEGRATION_FL_SERVER_H_

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "filter_client.h"
#include "sim_config.h"

namespace flsentry::sim {

struct RunOptions {
  std::string plugin_path;         // "" = no filter
  std::string filter_config_path;  // policy YAML for the plugin
  // The oracle attack's shadow filter (oracle_attack.h); each "" = the
  // server's plugin_path / filter_config_path. Set both to run the attack
  // against a server without a filter.
  std::string oracle_plugin_path;
  std::string oracle_filter_config_path;
  std::string record_dir;  // "" = no round archive
  // Each round's updates as a flat folder of .pth files
  // (r<round>_<client>.pth), for `flsentry train`. Only the updates of
  // honest clients unless export_all.
  std::string export_dir;
  bool export_all = false;
  // Gives the filter each round on arrival (ABI 1.2), one update at a
  // time, spilling each to a scratch file and freeing it; FedAvg then
  // reads the kept ones back one at a time (update_spill.h). The same
  // decisions and, bit for bit, the same average as the one-call mode.
  // REQUIRES a plugin and aggregator fedavg (Create refuses otherwise).
  bool on_arrival = false;
  // Called with every round's updates after attacks were applied, before
  // filtering (what the archive records). For tests.
  std::function<void(int round, const std::vector<ClientUpdate>&)> on_updates;
};

// What the server did with one client's update in one round.
struct ClientOutcome {
  std::string client_id;
  uint64_t num_examples = 0;
  bool malicious = false;         // this update was attacked (ground truth)
  std::string attack;             // the attack type when malicious
  std::string action = "accept";  // accept | downweight | drop
  double weight = 1.0;            // multiplier of num_examples in the average
  double score = 0.0;             // the filter's score (NaN without a filter)
  std::string reason;             // the filter's reason ("" without a filter)
  double delta_norm = 0.0;        // L2 norm of the update sent
  // With the oracle attack: its shadow filter's action on this update as
  // sent (what the attackers predict); "" otherwise or when the shadow
  // refused the round.
  std::string shadow_action;
};

struct RoundResult {
  int round = 0;
  double accuracy = 0.0;  // global model after this round, on the test set
  double test_loss = 0.0;
  // When a backdoor attack runs, or config.eval_backdoor is set.
  std::optional<double> backdoor_success;
  bool attack_active = false;
  // The oracle attack's step sent this round (oracle_attack.h), in units of
  // its direction's norm; unset when it did not attack.
  std::optional<double> oracle_step;
  bool filter_failed = false;  // the filter refused the round; no update
  int aggregated = 0;          // updates that entered the average
  double train_loss = 0.0;     // mean over clients of local training loss
  double seconds = 0.0;        // wall time of the round
  std::vector<ClientOutcome> clients;  // in client-id order
};

class Simulation {
 public:
  // Loads the data, partitions it, picks the malicious clients, builds the
  // model and (when options say so) loads the filter and opens the archive.
  // Errors: the dataset's, the config's (kConfig for attack or aggregator
  // parameters that attacks.h / baselines.h refuse), the filter's, kIo.
  static Result<std::unique_ptr<Simulation>> Create(const SimConfig& config,
                                                    RunOptions options);
  ~Simulation();

  // Runs the next round (1, 2, ...). Errors: a failing aggregator or
  // attack (kInternal with its message), the archive's, the filter's
  // (except a refused round, reported in RoundResult::filter_failed).
  Result<RoundResult> RunRound();

  // Rounds completed so far.
  int rounds_done() const;
  // The global model's parameters, flat (ParameterLayout order); a copy.
  torch::Tensor GlobalParameters() const;
  const ParameterLayout& layout() const;
  // Client ids of the malicious clients, sorted.
  std::vector<std::string> MaliciousClients() const;
  // Examples held by each client, by client index (what an honest client
  // claims as num_examples).
  std::vector<int64_t> ClientSizes() const;
  // Test accuracy of the global model after the last round, per true class
  // (kNumClasses shares; NaN for a class without test examples); empty
  // before the first round.
  std::vector<double> ClassAccuracy() const;
  // Each client's training labels counted per class (kNumClasses counts per
  // client), by client index: its partition, before any poisoning.
  std::vector<std::vector<int64_t>> ClientLabelCounts() const;
  // "name version (path)" of the loaded filter, "" when none.
  std::string FilterDescription() const;

 private:
  struct Impl;
  explicit Simulation(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The id of client `index`: "client_000", "client_001", ...
std::string ClientId(int index);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_FL_SERVER_H_
