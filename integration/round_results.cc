#include "round_results.h"

#include <algorithm>
#include <cmath>
#include <set>

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
  if (r.oracle_step) j["oracle_step"] = Number(*r.oracle_step);
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
    if (!c.shadow_action.empty()) cj["shadow_action"] = c.shadow_action;
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
  j["lr_decay"] = c.lr_decay;
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

double OwnDistributionAccuracy(const std::vector<double>& class_accuracy,
                               const std::vector<int64_t>& label_counts) {
  double weighted = 0.0;
  double total = 0.0;
  const size_t n = std::min(class_accuracy.size(), label_counts.size());
  for (size_t c = 0; c < n; ++c) {
    if (!std::isfinite(class_accuracy[c]) || label_counts[c] <= 0) continue;
    const auto count = static_cast<double>(label_counts[c]);
    weighted += count * class_accuracy[c];
    total += count;
  }
  return total > 0.0 ? weighted / total : std::nan("");
}

nlohmann::json SummaryToJson(const SimConfig& config,
                             const std::string& filter_description,
                             const std::vector<std::string>& malicious_clients,
                             const std::vector<RoundResult>& results,
                             const FinalModelView& final_model) {
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
  nlohmann::json classes = nlohmann::json::array();
  for (const double a : final_model.class_accuracy)
    classes.push_back(Number(a));
  j["class_accuracy"] = std::move(classes);
  const std::set<std::string> bad(malicious_clients.begin(),
                                  malicious_clients.end());
  nlohmann::json clients = nlohmann::json::array();
  for (size_t k = 0; k < final_model.label_counts.size(); ++k) {
    const std::vector<int64_t>& counts = final_model.label_counts[k];
    const std::string id = ClientId(static_cast<int>(k));
    int64_t examples = 0;
    for (const int64_t c : counts) examples += c;
    clients.push_back(
        {{"id", id},
         {"malicious", bad.count(id) > 0},
         {"examples", examples},
         {"label_counts", counts},
         {"own_accuracy", Number(OwnDistributionAccuracy(
                              final_model.class_accuracy, counts))}});
  }
  j["clients"] = std::move(clients);
  return j;
}

}  // namespace flsentry::sim
