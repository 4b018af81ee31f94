#include "fl_server.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <stdexcept>

#include "archive/round_archive.h"
#include "attacks.h"
#include "baselines.h"
#include "claim_attacks.h"
#include "fashion_mnist.h"
#include "fl_server_impl.h"
#include "local_training.h"
#include "oracle_attack.h"
#include "sim_checks.h"
#include "tensor/tensor_file.h"
#include "update_spill.h"

namespace flsentry::sim {
namespace {

// Views of a flat vector's named parameters. OWNERSHIP: borrows layout and
// the flat tensor's storage.
std::vector<TensorView> ViewsOf(const ParameterLayout& layout,
                                const torch::Tensor& flat) {
  std::vector<TensorView> views;
  const float* base = flat.data_ptr<float>();
  for (const auto& e : layout.entries) {
    views.push_back(
        TensorView{e.name, DType::kF32, e.shape, {}, base + e.offset});
  }
  return views;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

}  // namespace

std::string ClientId(int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "client_%03d", index);
  return buf;
}

Status Simulation::Impl::Init() {
  const SimConfig& c = config;
  at::set_num_threads(c.threads);
  FLS_RETURN_IF_ERROR(CheckSimSpecs(c));

  FLS_ASSIGN_OR_RETURN(Dataset train,
                       LoadFashionMnist(c.dataset_dir, Split::kTrain));
  FLS_ASSIGN_OR_RETURN(test, LoadFashionMnist(c.dataset_dir, Split::kTest));
  if (c.train_examples > 0 && c.train_examples < train.size()) {
    at::Generator gen =
        at::detail::createCPUGenerator(Seed(c.seed, kTrainSubset));
    torch::Tensor keep =
        std::get<0>(torch::randperm(train.size(), gen, torch::kInt64)
                        .narrow(0, 0, c.train_examples)
                        .sort());
    train = Dataset{train.images.index_select(0, keep),
                    train.labels.index_select(0, keep)};
  }
  if (c.test_examples > 0 && c.test_examples < test.size()) {
    test = Dataset{test.images.narrow(0, 0, c.test_examples).clone(),
                   test.labels.narrow(0, 0, c.test_examples).clone()};
  }

  const uint64_t partition_seed = Seed(c.seed, kPartition);
  FLS_ASSIGN_OR_RETURN(
      Partition parts,
      c.partition == "iid"
          ? PartitionIid(train.labels, c.clients, partition_seed)
          : PartitionDirichlet(train.labels, c.clients, c.alpha,
                               partition_seed));
  for (const auto& indices : parts) {
    torch::Tensor idx = torch::tensor(indices, torch::kInt64);
    images.push_back(train.images.index_select(0, idx));
    labels.push_back(train.labels.index_select(0, idx));
  }

  // The malicious clients: a seeded choice, fixed for the whole run.
  std::vector<int> order(static_cast<size_t>(c.clients));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(),
               std::mt19937_64(Seed(c.seed, kMaliciousSet)));
  malicious.assign(static_cast<size_t>(c.clients), false);
  for (int i = 0; i < c.NumMalicious(); ++i) malicious[order[i]] = true;

  poisoned_images.resize(images.size());
  poisoned_labels.resize(labels.size());
  double poison_fraction = 0.0;
  if (IsBackdoorAttack(c.attack.type)) {
    FLS_ASSIGN_OR_RETURN(
        backdoor, BackdoorAttackFromParams(c.attack.type, c.attack.params));
    trigger = backdoor.trigger;
    poison_fraction = backdoor.poison_fraction;
  } else if (c.eval_backdoor) {
    double unused = 0.0;
    FLS_ASSIGN_OR_RETURN(trigger,
                         BackdoorTriggerFromParams(*c.eval_backdoor, &unused));
  }
  for (size_t k = 0; k < images.size(); ++k) {
    if (!malicious[k]) continue;
    if (c.attack.type == "label_flip") {
      poisoned_images[k] = images[k];
      FLS_ASSIGN_OR_RETURN(poisoned_labels[k],
                           FlipLabels(labels[k], c.attack.params));
    } else if (IsBackdoorAttack(c.attack.type)) {
      std::tie(poisoned_images[k], poisoned_labels[k]) =
          PoisonWithBackdoor(images[k], labels[k], *trigger, poison_fraction,
                             Seed(c.seed, kPoisonData, k));
    }
  }

  torch::manual_seed(Seed(c.seed, kModelInit));
  FLS_ASSIGN_OR_RETURN(model, MakeModel(c.model));
  layout = ParameterLayout::Of(*model);
  global = FlattenParameters(*model);

  if (options.on_arrival &&
      (options.plugin_path.empty() || c.aggregator.type != "fedavg")) {
    return InvalidArgument(
        "on-arrival mode needs a filter plugin and aggregator fedavg (a "
        "robust aggregator needs every update at once)");
  }
  if (!options.plugin_path.empty()) {
    FLS_ASSIGN_OR_RETURN(
        filter,
        FilterClient::Load(options.plugin_path, options.filter_config_path));
  } else if (!options.filter_config_path.empty()) {
    return InvalidArgument("a filter config needs --plugin");
  }
  if (IsOracleAttack(c.attack.type)) {
    const std::string& plugin = options.oracle_plugin_path.empty()
                                    ? options.plugin_path
                                    : options.oracle_plugin_path;
    if (plugin.empty()) {
      return ConfigError(
          "attack 'oracle' needs a filter to shadow: --plugin, or "
          "--oracle-plugin for a server without a filter");
    }
    FLS_ASSIGN_OR_RETURN(const OracleSpec spec,
                         ParseOracleSpec(c.attack.type, c.attack.params));
    FLS_ASSIGN_OR_RETURN(oracle, OracleAttacker::Create(
                                     spec, plugin,
                                     options.oracle_filter_config_path.empty()
                                         ? options.filter_config_path
                                         : options.oracle_filter_config_path));
  }
  if (!options.record_dir.empty()) {
    FLS_ASSIGN_OR_RETURN(RoundArchiveWriter writer,
                         RoundArchiveWriter::Open(options.record_dir));
    archive.emplace(std::move(writer));
  }
  if (!options.export_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.export_dir, ec);
    if (ec) return IoError(options.export_dir + ": " + ec.message());
  }
  return Status::Ok();
}

std::vector<int> Simulation::Impl::SampleParticipants() const {
  std::vector<int> order(static_cast<size_t>(config.clients));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(),
               std::mt19937_64(Seed(config.seed, kSampling, round)));
  order.resize(static_cast<size_t>(config.ClientsPerRound()));
  std::sort(order.begin(), order.end());
  return order;
}

Status Simulation::Impl::Record(const std::vector<ClientUpdate>& updates,
                                const std::vector<ClientOutcome>& outcomes) {
  if (!archive) return Status::Ok();
  const std::vector<TensorView> global_views = ViewsOf(layout, global);
  FLS_RETURN_IF_ERROR(archive->BeginRound(static_cast<uint64_t>(round),
                                          ArchiveKind::kDelta, global_views));
  for (size_t i = 0; i < updates.size(); ++i) {
    ArchiveClientRecord record;
    record.id = updates[i].client_id;
    record.num_examples = updates[i].num_examples;
    record.label = outcomes[i].malicious ? ArchiveLabel::kMalicious
                                         : ArchiveLabel::kBenign;
    record.attack = outcomes[i].attack;
    const std::vector<TensorView> views = ViewsOf(layout, updates[i].delta);
    Status s = archive->AddClient(record, views);
    if (!s.ok()) {
      archive->AbandonRound();
      return s;
    }
  }
  return archive->FinishRound();
}

Status Simulation::Impl::Export(
    const std::vector<ClientUpdate>& updates,
    const std::vector<ClientOutcome>& outcomes) const {
  if (options.export_dir.empty()) return Status::Ok();
  for (size_t i = 0; i < updates.size(); ++i) {
    if (outcomes[i].malicious && !options.export_all) continue;
    char name[64];
    std::snprintf(name, sizeof name, "r%04d_%s.pth", round,
                  updates[i].client_id.c_str());
    const std::map<std::string, std::string> metadata = {
        {"round", std::to_string(round)},
        {"client_id", updates[i].client_id},
        {"num_examples", std::to_string(updates[i].num_examples)},
        {"label", outcomes[i].malicious ? "malicious" : "benign"}};
    FLS_RETURN_IF_ERROR(WriteTensorFile(
        (std::filesystem::path(options.export_dir) / name).string(),
        ViewsOf(layout, updates[i].delta), metadata));
  }
  return Status::Ok();
}

// The filter's decisions, then aggregation of what it let through into the
// global model. Fills the outcomes' action, weight, score and reason.
Status Simulation::Impl::FilterAndAggregate(std::vector<ClientUpdate>& updates,
                                            RoundResult& result) {
  std::optional<UpdateSpill> spill;  // the on-arrival mode's updates
  if (filter) {
    Result<std::vector<aggfilter::Decision>> decisions =
        InternalError("not filtered");
    if (options.on_arrival) {
      FLS_ASSIGN_OR_RETURN(spill, UpdateSpill::Create(layout.total));
      decisions = FilterOnArrival(*filter, static_cast<uint64_t>(round), layout,
                                  global, updates, *spill);
    } else {
      decisions = filter->FilterRound(static_cast<uint64_t>(round), layout,
                                      global, updates);
    }
    if (!decisions.ok() &&
        decisions.status().code() != ErrorCode::kUnsupported) {
      return decisions.status();
    }
    if (!decisions.ok()) {
      result.filter_failed = true;
      for (auto& o : result.clients) {
        o.action = "drop";
        o.weight = 0.0;
        o.reason = "round refused by the filter";
      }
    } else {
      for (size_t i = 0; i < decisions->size(); ++i) {
        const aggfilter::Decision& d = (*decisions)[i];
        ClientOutcome& o = result.clients[i];
        o.action = aggfilter::action_name(d.action);
        o.weight = d.action == AGGF_ACTION_DROP
                       ? 0.0
                       : std::clamp(std::isfinite(d.weight) ? d.weight : 0.0,
                                    0.0, 1.0);
        if (d.action != AGGF_ACTION_DROP && o.weight == 0.0) o.action = "drop";
        o.score = d.score;
        o.reason = d.reason;
      }
    }
  }
  std::vector<torch::Tensor> kept;
  std::vector<double> weights, spilled_weights;
  bool all_finite = true;
  for (size_t i = 0; i < updates.size(); ++i) {
    const ClientOutcome& o = result.clients[i];
    const double weight = static_cast<double>(o.num_examples) * o.weight;
    spilled_weights.push_back(o.weight > 0.0 ? weight : 0.0);
    if (o.weight <= 0.0) continue;
    if (!spill) kept.push_back(updates[i].delta);
    weights.push_back(weight);
    all_finite = all_finite && std::isfinite(o.delta_norm);
  }
  result.aggregated = static_cast<int>(weights.size());
  if (spill && !weights.empty()) {
    FLS_ASSIGN_OR_RETURN(torch::Tensor step,
                         SpilledFedAvg(*spill, spilled_weights));
    global = (global + step).contiguous();
  } else if (!kept.empty()) {
    torch::Tensor step;
    if (!all_finite) {
      // Robust aggregators refuse non-finite input; an undefended server
      // averages it and its model breaks, which is what a run without a
      // filter should show.
      step = torch::zeros_like(global);
      double total = 0.0;
      for (size_t i = 0; i < kept.size(); ++i) {
        step.add_(kept[i], weights[i]);
        total += weights[i];
      }
      step.div_(total);
    } else {
      Result<torch::Tensor> aggregated = Aggregate(
          config.aggregator.type, config.aggregator.params, kept, weights);
      if (!aggregated.ok()) {
        return InternalError("round " + std::to_string(round) +
                             ": aggregator " + config.aggregator.type +
                             " failed on " + std::to_string(kept.size()) +
                             " updates: " + aggregated.status().message());
      }
      step = std::move(aggregated).value();
    }
    global = (global + step).contiguous();
  }

  return Status::Ok();
}

Result<RoundResult> Simulation::Impl::Run() {
  const auto start = std::chrono::steady_clock::now();
  ++round;
  RoundResult result;
  result.round = round;
  const AttackConfig& attack = config.attack;
  result.attack_active = attack.type != "none" && round >= attack.start_round;

  // Local training from the current global model.
  const std::vector<int> participants = SampleParticipants();
  std::vector<ClientUpdate> updates;
  double train_loss_sum = 0.0;
  const LocalTrainingOptions local{config.local_epochs,
                                   config.LearningRate(round), config.momentum,
                                   config.batch_size};
  torch::Tensor mask;
  const TrainingConstraint constraint =
      AttackerConstraint(result.attack_active, &mask);
  for (int client : participants) {
    FLS_RETURN_IF_ERROR(LoadFlatParameters(*model, global));
    const bool poisoned = result.attack_active && malicious[client] &&
                          IsDataPoisoning(attack.type);
    const torch::Tensor& x =
        poisoned ? poisoned_images[client] : images[client];
    const torch::Tensor& y =
        poisoned ? poisoned_labels[client] : labels[client];
    train_loss_sum += TrainLocal(
        *model, x, y, local, Seed(config.seed, kLocalTraining, round, client),
        poisoned ? constraint : TrainingConstraint{});
    torch::Tensor delta = FlattenParameters(*model) - global;
    if (poisoned) delta *= backdoor.scale;  // 1 but for constrain_scale
    updates.push_back({ClientId(client), static_cast<uint64_t>(y.size(0)),
                       delta.contiguous()});
  }
  result.train_loss = train_loss_sum / static_cast<double>(participants.size());
  if (oracle) {
    FLS_RETURN_IF_ERROR(
        ApplyOracle(participants, result.attack_active, updates, result));
  } else if (result.attack_active && IsClaimAttack(attack.type)) {
    FLS_RETURN_IF_ERROR(ApplyClaimAttack(participants, updates));
  } else if (result.attack_active && !IsDataPoisoning(attack.type)) {
    FLS_RETURN_IF_ERROR(ApplyModelPoisoning(participants, updates));
  }
  for (size_t i = 0; i < participants.size(); ++i) {
    ClientOutcome o;
    o.client_id = updates[i].client_id;
    o.num_examples = updates[i].num_examples;
    o.malicious = result.attack_active && malicious[participants[i]];
    o.attack = o.malicious ? attack.type : "";
    o.score = std::nan("");
    o.delta_norm = updates[i].delta.norm().item<double>();
    if (i < shadow_actions.size()) o.shadow_action = shadow_actions[i];
    result.clients.push_back(std::move(o));
  }
  if (options.on_updates) options.on_updates(round, updates);
  FLS_RETURN_IF_ERROR(Record(updates, result.clients));
  FLS_RETURN_IF_ERROR(Export(updates, result.clients));

  const torch::Tensor before = global;
  FLS_RETURN_IF_ERROR(FilterAndAggregate(updates, result));
  last_global_step = (global - before).contiguous();

  FLS_RETURN_IF_ERROR(LoadFlatParameters(*model, global));
  const Evaluation eval = Evaluate(*model, test.images, test.labels);
  result.accuracy = eval.accuracy;
  result.test_loss = eval.loss;
  class_accuracy = eval.class_accuracy;
  if (trigger) {
    result.backdoor_success =
        BackdoorSuccessRate(*model, test.images, test.labels, *trigger);
  }
  result.seconds = Seconds(start);
  return result;
}

Simulation::Simulation(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Simulation::~Simulation() = default;

Result<std::unique_ptr<Simulation>> Simulation::Create(const SimConfig& config,
                                                       RunOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = std::move(options);
  try {
    FLS_RETURN_IF_ERROR(impl->Init());
  } catch (const std::exception& e) {
    return InternalError(std::string("setting up the simulation: ") + e.what());
  }
  return std::unique_ptr<Simulation>(new Simulation(std::move(impl)));
}

Result<RoundResult> Simulation::RunRound() {
  try {
    return impl_->Run();
  } catch (const std::exception& e) {
    return InternalError("round " + std::to_string(impl_->round) + ": " +
                         e.what());
  }
}

int Simulation::rounds_done() const { return impl_->round; }
torch::Tensor Simulation::GlobalParameters() const {
  return impl_->global.clone();
}
const ParameterLayout& Simulation::layout() const { return impl_->layout; }

std::vector<std::string> Simulation::MaliciousClients() const {
  std::vector<std::string> ids;
  for (size_t k = 0; k < impl_->malicious.size(); ++k) {
    if (impl_->malicious[k]) ids.push_back(ClientId(static_cast<int>(k)));
  }
  return ids;
}

std::vector<int64_t> Simulation::ClientSizes() const {
  std::vector<int64_t> sizes;
  for (const auto& y : impl_->labels) sizes.push_back(y.size(0));
  return sizes;
}

std::vector<double> Simulation::ClassAccuracy() const {
  return impl_->class_accuracy;
}

std::vector<std::vector<int64_t>> Simulation::ClientLabelCounts() const {
  std::vector<std::vector<int64_t>> counts;
  for (const auto& y : impl_->labels) {
    const torch::Tensor c = torch::bincount(y, {}, kNumClasses).contiguous();
    counts.emplace_back(c.data_ptr<int64_t>(),
                        c.data_ptr<int64_t>() + c.numel());
  }
  return counts;
}

std::string Simulation::FilterDescription() const {
  return impl_->filter ? impl_->filter->PluginDescription() : "";
}

}  // namespace flsentry::sim
