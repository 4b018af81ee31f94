// What the attackers do to a round of the reference server
// (fl_server_impl.h): model poisoning (attacks.h), the oracle attack
// (oracle_attack.h), false claims (claim_attacks.h), and the constraint on
// the local training of attackers that train (neurotoxin, constrain_scale).
#include <algorithm>
#include <cmath>
#include <random>

#include "attacks.h"
#include "claim_attacks.h"
#include "fl_server_impl.h"

namespace flsentry::sim {

// Replaces the malicious participants' honest deltas. Attackers see the
// honest deltas of the round's benign participants (omniscient attacks, as
// in the papers); in a round without benign participants, the honest deltas
// of everyone, their own included.
Status Simulation::Impl::ApplyModelPoisoning(
    const std::vector<int>& participants,
    std::vector<ClientUpdate>& updates) const {
  const std::string& type = config.attack.type;
  AttackContext ctx;
  std::vector<size_t> attackers;
  for (size_t i = 0; i < participants.size(); ++i) {
    if (malicious[participants[i]]) {
      attackers.push_back(i);
    } else {
      ctx.benign.push_back(updates[i].delta);
    }
  }
  if (attackers.empty()) return Status::Ok();
  // A model already broken by earlier rounds (non-finite weights: FedAvg
  // under IPM with a large epsilon) trains non-finite updates, from which no
  // attack can be crafted: the attackers send what they trained, and the run
  // goes on showing the broken model instead of stopping.
  const bool broken =
      std::any_of(updates.begin(), updates.end(), [](const ClientUpdate& u) {
        return !torch::isfinite(u.delta).all().item<bool>();
      });
  if (broken) return Status::Ok();
  if (ctx.benign.empty()) {
    for (const auto& u : updates) ctx.benign.push_back(u.delta);
  }
  ctx.num_byzantine = static_cast<int>(attackers.size());
  ctx.num_total = static_cast<int>(participants.size());
  Params params = config.attack.params;
  if (type == "alie" && !params.count("z_max") &&
      ctx.num_byzantine > ctx.num_total / 2 && ctx.num_total >= 2) {
    // Attackers holding a majority of the sampled round need no benign
    // supporter; z_max(n, f) is undefined there (s < 1), so take s = 1,
    // the formula's largest value for this n.
    FLS_ASSIGN_OR_RETURN(params["z_max"],
                         AlieZMax(ctx.num_total, ctx.num_total / 2));
  }
  std::vector<torch::Tensor> crafted;
  for (size_t i : attackers) {
    const int client = participants[i];
    if (type == "nonfinite") {
      torch::Tensor bad = updates[i].delta.clone();
      const auto count = static_cast<int64_t>(
          config.attack.params.count("count") ? config.attack.params.at("count")
                                              : 1.0);
      std::mt19937_64 rng(Seed(config.seed, kNonfinite, round, client));
      float* data = bad.data_ptr<float>();
      for (int64_t k = 0; k < std::min(count, bad.numel()); ++k) {
        data[rng() % static_cast<uint64_t>(bad.numel())] = std::nanf("");
      }
      crafted.push_back(bad);
      continue;
    }
    ctx.seed = Seed(config.seed, kAttackNoise, round, client);
    ctx.attack_round = round - config.attack.start_round + 1;
    Result<torch::Tensor> bad =
        CraftMaliciousUpdate(type, params, updates[i].delta, ctx);
    if (!bad.ok()) {
      return InternalError("round " + std::to_string(round) + ": attack " +
                           type + " failed for " + updates[i].client_id + ": " +
                           bad.status().message());
    }
    crafted.push_back(bad->contiguous());
  }
  for (size_t j = 0; j < attackers.size(); ++j) {
    updates[attackers[j]].delta = crafted[j];
  }
  return Status::Ok();
}

// The oracle attack (oracle_attack.h): the attackers' shadow filter sees
// every round (full knowledge, as the omniscient attacks); in an attacked
// round with attackers in it they replace their updates.
Status Simulation::Impl::ApplyOracle(const std::vector<int>& participants,
                                     bool active,
                                     std::vector<ClientUpdate>& updates,
                                     RoundResult& result) {
  std::vector<size_t> attackers;
  std::vector<uint64_t> seeds;
  for (size_t i = 0; active && i < participants.size(); ++i) {
    if (!malicious[participants[i]]) continue;
    attackers.push_back(i);
    seeds.push_back(Seed(config.seed, kOracleNoise, round, participants[i]));
  }
  // As in ApplyModelPoisoning: a broken model's updates are sent as trained.
  const bool broken =
      std::any_of(updates.begin(), updates.end(), [](const ClientUpdate& u) {
        return !torch::isfinite(u.delta).all().item<bool>();
      });
  const auto r = static_cast<uint64_t>(round);
  Result<OracleRound> done =
      attackers.empty() || broken
          ? oracle->Observe(r, layout, global, updates)
          : oracle->Attack(r, layout, global, updates, attackers, seeds);
  if (!done.ok()) {
    return InternalError("round " + std::to_string(round) +
                         ": attack oracle: " + done.status().message());
  }
  if (done->attacked) result.oracle_step = done->step_sent;
  shadow_actions.clear();
  for (const aggfilter::Decision& d : done->decisions) {
    shadow_actions.emplace_back(aggfilter::action_name(d.action));
  }
  return Status::Ok();
}

// The malicious participants keep their honest deltas and claim more
// examples than they trained on (claim_attacks.h).
Status Simulation::Impl::ApplyClaimAttack(
    const std::vector<int>& participants,
    std::vector<ClientUpdate>& updates) const {
  for (size_t i = 0; i < participants.size(); ++i) {
    if (!malicious[participants[i]]) continue;
    FLS_ASSIGN_OR_RETURN(
        updates[i].num_examples,
        ClaimedNumExamples(config.attack.type, config.attack.params,
                           updates[i].num_examples));
  }
  return Status::Ok();
}

TrainingConstraint Simulation::Impl::AttackerConstraint(
    bool active, torch::Tensor* mask) const {
  TrainingConstraint constraint;
  if (!active) return constraint;
  if (config.attack.type == "neurotoxin") {
    *mask =
        NeurotoxinMask(last_global_step, global.numel(), backdoor.keep_ratio);
    constraint.gradient_mask = mask;
  } else if (config.attack.type == "constrain_scale") {
    constraint.anchor = &global;
    constraint.class_weight = backdoor.class_weight;
  }
  return constraint;
}

}  // namespace flsentry::sim
