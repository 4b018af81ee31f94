#include "round_results.h"

#include <algorithm>
#include <cmath>

namespace flsentry::sim {
namespace {

nlohmann::json Number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

nlohmann::json ParamsToJson(const Params& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : params) j[k] = v;
  return j;
}

}  // namespace

nlohmann::json RoundToJson(const RoundResult& r) {
  nlohmann::json j;
  j["round"] = r.round;
  j["accuracy"] = Number(r.accuracy);
  j["test_loss"] = Number(r.test_loss);
  if (r.backdoor_success) j["backdoor_success"] = Number(*r.backdoor_success);
  j["attack_active"] = r.attack_active;
  j["filter_failed"] = r.filter_failed;
  j["aggregated"] = r.aggregated;
  j["train_loss"] = Number(r.train_loss);
  j["seconds"] = r.seconds;
  int malicious_sent = 0, malicious_aggregated = 0, benign_dropped = 0;
  nlohmann::json clients = nlohmann::json::array();
  for (const ClientOutcome& c : r.clients) {
    const bool aggregated = c.weight > 0.0;
    malicious_sent += c.malicious;
    malicious_aggregated += c.malicious && aggregated;
    benign_dropped += !c.malicious && !aggregated;
    nlohmann::json cj;
    cj["id"] = c.client_id;
    cj["num_examples"] = c.num_examples;
    cj["malicious"] = c.malicious;
    if (!c.attack.empty()) cj["attack"] = c.attack;
    cj["action"] = c.action;
    cj["weight"] = Number(c.weight);
    cj["score"] = Number(c.score);
    cj["reason"] = c.reason;
    cj["delta_norm"] = Number(c.delta_norm);
    clients.push_back(std::move(cj));
  }
  j["malicious_sent"] = malicious_sent;
  j["malicious_aggregated"] = malicious_aggregated;
  j["benign_dropped"] = benign_dropped;
  j["clients"] = std::move(clients);
  return j;
}

nlohmann::json ConfigToJson(const SimConfig& c) {
  nlohmann::json j;
  j["model"] = c.model.kind;
  j["hidden"] = c.model.hidden;
  j["dataset_dir"] = c.dataset_dir;
  j["train_examples"] = c.train_examples;
  j["test_examples"] = c.test_examples;
  j["clients"] = c.clients;
  j["partition"] = c.partition;
  j["alpha"] = c.alpha;
  j["local_epochs"] = c.local_epochs;
  j["lr"] = c.lr;
  j["momentum"] = c.momentum;
  j["batch_size"] = c.batch_size;
  j["participation"] = c.participation;
  j["rounds"] = c.rounds;
  j["seed"] = c.seed;
  j["threads"] = c.threads;
  j["attack"] = {{"type", c.attack.type},
                 {"fraction", c.attack.fraction},
                 {"start_round", c.attack.start_round},
                 {"params", ParamsToJson(c.attack.params)}};
  j["aggregator"] = {{"type", c.aggregator.type},
                     {"params", ParamsToJson(c.aggregator.params)}};
  if (c.eval_backdoor) j["eval_backdoor"] = ParamsToJson(*c.eval_backdoor);
  return j;
}

nlohmann::json SummaryToJson(const SimConfig& config,
                             const std::string& filter_description,
                             const std::vector<std::string>& malicious_clients,
                             const std::vector<RoundResult>& results) {
  nlohmann::json j;
  j["config"] = ConfigToJson(config);
  j["filter"] = filter_description.empty() ? nlohmann::json(nullptr)
                                           : nlohmann::json(filter_description);
  j["aggregator"] = config.aggregator.type;
  j["malicious_clients"] = malicious_clients;
  j["rounds"] = results.size();
  nlohmann::json by_round = nlohmann::json::array();
  double best = 0.0, total_seconds = 0.0;
  for (const RoundResult& r : results) {
    by_round.push_back(Number(r.accuracy));
    if (std::isfinite(r.accuracy)) best = std::max(best, r.accuracy);
    total_seconds += r.seconds;
  }
  j["final_accuracy"] = Number(results.back().accuracy);
  j["best_accuracy"] = best;
  if (results.back().backdoor_success) {
    j["final_backdoor_success"] = Number(*results.back().backdoor_success);
  }
  j["total_seconds"] = total_seconds;
  j["accuracy_by_round"] = std::move(by_round);
  return j;
}

}  // namespace flsentry::sim
