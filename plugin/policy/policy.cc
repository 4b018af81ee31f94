#include "policy/policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "policy/thresholds.h"

namespace flsentry {

namespace {

// Why an update is dropped, for the fail-safes: only score and norm drops
// may be restored.
enum class DropKind { kNone, kMandatory, kByScore };

struct Working {
  Decision decision;
  DropKind drop = DropKind::kNone;
  double severity = 0.0;  // Decision::suspicion; restores least severe first
  bool strike_event = false;  // an event listed in quarantine.strike_on
  bool restored = false;      // a fail-safe undid a drop
  bool listed = false;        // allow- or deny-listed: never a strike
  ClientStatus status = ClientStatus::kNormal;  // at the start of the round
  double typicality = NAN;                      // for the audit record
};

// How many times closer to the others' mean direction than the round's
// median update: (1 - median) / (1 - centrality). NaN when either is NaN.
double Typicality(double centrality, double median_centrality) {
  if (!std::isfinite(centrality) || !std::isfinite(median_centrality)) {
    return NAN;
  }
  const double distance = std::max(1.0 - centrality, 1e-12);
  return std::max(1.0 - median_centrality, 0.0) / distance;
}

// value / limit, the form every rule fires on (> 1); NaN when either is
// missing. A limit <= 0 (a threshold of a round of zero scores) maps the
// excess instead, so that ordering is kept.
double Ratio(double value, double limit) {
  if (!std::isfinite(value) || !std::isfinite(limit)) return NAN;
  return limit > 0 ? value / limit : 1.0 + (value - limit);
}

// Decision::suspicion: the largest ratio of an update's signals to their
// limits, ignoring the signals that abstained. Similarity enters as a ratio
// of distances, (1 - limit) / (1 - similarity), like typicality: honest
// updates' similarities of 0.6-0.9 would otherwise rank near the limit.
double Suspicion(double score, double threshold, double norm, double norm_limit,
                 double similarity, double max_similarity, double typicality,
                 double max_typicality) {
  const double closeness =
      std::isfinite(similarity)
          ? (1.0 - max_similarity) / std::max(1.0 - similarity, 1e-12)
          : NAN;
  double out = NAN;
  for (double r : {Ratio(score, threshold), Ratio(norm, norm_limit), closeness,
                   Ratio(typicality, max_typicality)}) {
    if (std::isfinite(r) && !(r <= out)) out = r;
  }
  return out;
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b
             ? std::numeric_limits<uint64_t>::max()
             : a + b;
}

nlohmann::json NumberOrNull(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

void Drop(Working& w, DropKind kind, const std::string& reason) {
  w.decision.action = Action::kDrop;
  w.decision.weight = 0.0;
  w.decision.reason = reason;
  w.drop = kind;
}

// Lowers the weight (never raises it); a drop stays a drop.
void CapWeight(Working& w, double weight, const char* reason) {
  if (w.decision.action == Action::kDrop || !(weight < w.decision.weight)) {
    return;
  }
  w.decision.weight = weight;
  w.decision.action = Action::kDownweight;
  if (w.decision.reason == "ok") w.decision.reason = reason;
}

// Keeps `size` evenly spaced order statistics of `scores`.
std::vector<double> SampleScores(std::vector<double> scores, size_t size) {
  if (scores.size() <= size) return scores;
  std::sort(scores.begin(), scores.end());
  std::vector<double> sample;
  sample.reserve(size);
  for (size_t i = 0; i < size; ++i) {
    sample.push_back(scores[i * (scores.size() - 1) / (size - 1)]);
  }
  return sample;
}

size_t HistoryRoundsNeeded(const ThresholdsConfig& config) {
  size_t rounds = 0;
  for (const ThresholdRule& rule : config.rules) {
    if (rule.kind == ThresholdKind::kRoundRobust ||
        rule.kind == ThresholdKind::kRoundRatio) {
      rounds = std::max(rounds, static_cast<size_t>(rule.history_rounds));
    }
  }
  return std::min(rounds, kMaxHistoryRounds);
}

// Undoes score/norm drops, least severe first, while `more` says so.
template <typename Pred>
bool RestoreDrops(std::vector<Working>& work, double probation_cap, Pred more) {
  std::vector<size_t> order;
  for (size_t i = 0; i < work.size(); ++i) {
    if (work[i].drop == DropKind::kByScore) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return work[a].severity < work[b].severity;
  });
  bool changed = false;
  for (size_t i : order) {
    if (!more()) break;
    Working& w = work[i];
    w.drop = DropKind::kNone;
    w.restored = true;
    w.decision.action = Action::kAccept;
    w.decision.weight = 1.0;
    w.decision.reason = "failsafe_kept";
    w.decision.flags |= kFlagFailsafe;
    if (w.status == ClientStatus::kProbation) {
      w.decision.weight = probation_cap;
      if (probation_cap < 1.0) w.decision.action = Action::kDownweight;
    }
    changed = true;
  }
  return changed;
}

}  // namespace

Policy::Policy(PolicyConfig config) : config_(std::move(config)) {}

Result<RoundOutcome> Policy::DecideRound(uint64_t round,
                                         std::span<const PolicyInput> inputs,
                                         const Calibration* calibration) {
  try {
    return DecideRoundImpl(round, inputs, calibration);
  } catch (const std::exception& e) {
    return InternalError(std::string("policy: deciding round ") +
                         std::to_string(round) + " failed: " + e.what());
  }
}

Result<RoundOutcome> Policy::DecideRoundImpl(
    uint64_t round, std::span<const PolicyInput> inputs,
    const Calibration* calibration) {
  const PolicyConfig& c = config_;
  const size_t n = inputs.size();

  // Scoring errors that fail the round are checked before anything changes.
  if (c.fail_safes.on_error == OnScoreError::kFailRound) {
    for (const PolicyInput& in : inputs) {
      if (in.guard_flags == 0 && !in.score.error.empty()) {
        return InvalidArgument("policy: scoring failed for client '" +
                               in.client_id + "' (" + in.score.error +
                               ") and fail_safes.on_error is fail_round");
      }
    }
  }

  // Round-level statistics over well-formed updates.
  std::vector<double> round_scores;
  std::vector<double> norms;
  std::vector<double> centralities;
  for (const PolicyInput& in : inputs) {
    if (in.guard_flags != 0) continue;
    if (in.score.error.empty() && std::isfinite(in.score.score)) {
      round_scores.push_back(in.score.score);
    }
    if (std::isfinite(in.score.norm)) norms.push_back(in.score.norm);
    if (std::isfinite(in.score.centrality)) {
      centralities.push_back(in.score.centrality);
    }
  }
  const RoundThresholds thresholds = ComputeThresholds(
      c.thresholds, round_scores, state_.score_history, calibration);
  const NormGuardConfig& ng = c.guards.norm;
  double norm_limit = NAN;
  if (ng.enabled && norms.size() >= static_cast<size_t>(ng.min_round_size)) {
    const double median = Median(norms);
    if (median > 0) norm_limit = ng.k * median;
  }
  const CentralityGuardConfig& cg = c.guards.centrality;
  double median_centrality = NAN;
  if (cg.enabled &&
      centralities.size() >= static_cast<size_t>(cg.min_round_size)) {
    median_centrality = Median(centralities);
  }
  const DuplicateGuardConfig& dg = c.guards.duplicate;
  const ProbationConfig& probation = c.quarantine.probation;

  // Per-update decisions (no state changes yet).
  std::vector<Working> work(n);
  for (size_t i = 0; i < n; ++i) {
    const PolicyInput& in = inputs[i];
    Working& w = work[i];
    Decision& d = w.decision;
    auto record = state_.clients.find(in.client_id);
    w.status = record == state_.clients.end() ? ClientStatus::kNormal
                                              : record->second.StatusAt(round);
    d.score = in.score.score;
    d.threshold = thresholds.effective;
    if (w.status == ClientStatus::kProbation) {
      d.threshold *= probation.threshold_scale;
      d.flags |= kFlagProbation;
    }
    const bool score_failed = in.guard_flags == 0 && !in.score.error.empty();
    const bool anomalous = in.guard_flags == 0 && !score_failed &&
                           std::isfinite(d.score) && d.score > d.threshold;
    const bool norm_fired = in.guard_flags == 0 && std::isfinite(norm_limit) &&
                            std::isfinite(in.score.norm) &&
                            in.score.norm > norm_limit;
    const bool duplicate = in.guard_flags == 0 && dg.enabled &&
                           std::isfinite(in.score.max_similarity) &&
                           in.score.max_similarity > dg.max_similarity;
    const double typicality =
        Typicality(in.score.centrality, median_centrality);
    const bool central = in.guard_flags == 0 && std::isfinite(typicality) &&
                         typicality > cg.max_typicality;
    if (in.guard_flags == 0) {
      d.suspicion = Suspicion(d.score, d.threshold, in.score.norm, norm_limit,
                              dg.enabled ? in.score.max_similarity : NAN,
                              dg.max_similarity, typicality, cg.max_typicality);
      w.severity = std::isfinite(d.suspicion) ? d.suspicion : 0.0;
    }
    w.typicality = typicality;
    if (anomalous) d.flags |= kFlagAnomalous;
    if (duplicate) d.flags |= kFlagDuplicate;
    if (central) d.flags |= kFlagCentral;
    if (norm_fired) d.flags |= kFlagNormGuard;
    if (score_failed) d.flags |= kFlagScoreFailed;
    const uint32_t strike_on = c.quarantine.strike_on;
    w.strike_event = (anomalous && (strike_on & kStrikeAnomalous)) ||
                     (in.guard_flags != 0 && (strike_on & kStrikeGuard)) ||
                     (norm_fired && (strike_on & kStrikeNormGuard)) ||
                     (duplicate && (strike_on & kStrikeDuplicate)) ||
                     (central && (strike_on & kStrikeCentral));

    if (in.guard_flags != 0) {
      d.flags |= in.guard_flags;
      Drop(w, DropKind::kMandatory,
           in.guard_reason.empty() ? "invalid" : in.guard_reason);
      continue;
    }
    if (c.lists.deny.count(in.client_id)) {
      d.flags |= kFlagDenylisted;
      w.listed = true;
      Drop(w, DropKind::kMandatory, "denylisted");
      continue;
    }
    if (w.status == ClientStatus::kQuarantined) {
      d.flags |= kFlagQuarantined;
      Drop(w, DropKind::kMandatory, "quarantined");
      continue;
    }
    if (score_failed) {
      if (c.fail_safes.on_error == OnScoreError::kDrop) {
        Drop(w, DropKind::kMandatory, "score_failed");
        continue;
      }
      d.reason = "score_failed_accepted";
    }
    if (c.lists.allow.count(in.client_id)) {
      d.flags |= kFlagAllowlisted;
      w.listed = true;
      d.reason = "allowlisted";
      continue;
    }
    if (anomalous) {
      if (c.actions.on_anomalous == AnomalyAction::kDrop) {
        Drop(w, DropKind::kByScore, "anomalous");
      } else {
        CapWeight(
            w, DownweightMultiplier(c.actions.downweight, d.score, d.threshold),
            "anomalous");
      }
    }
    if (duplicate && d.action != Action::kDrop) {
      Drop(w, DropKind::kByScore, "duplicate");
    }
    if (central && d.action != Action::kDrop) {
      Drop(w, DropKind::kByScore, "central");
    }
    if (norm_fired && d.action != Action::kDrop) {
      switch (ng.mode) {
        case NormGuardMode::kClip:
          CapWeight(w, norm_limit / in.score.norm, "norm_guard");
          break;
        case NormGuardMode::kDownweight:
          CapWeight(w,
                    DownweightMultiplier(c.actions.downweight, in.score.norm,
                                         norm_limit),
                    "norm_guard");
          break;
        case NormGuardMode::kDrop:
          Drop(w, DropKind::kByScore, "norm_guard");
          break;
      }
    }
    if (w.status == ClientStatus::kProbation) {
      CapWeight(w, probation.max_weight, "probation");
    }
  }

  // Fail-safes.
  bool suspicious = false;
  auto drops = [&] {
    return static_cast<size_t>(std::count_if(
        work.begin(), work.end(),
        [](const Working& w) { return w.decision.action == Action::kDrop; }));
  };
  const size_t max_drops = static_cast<size_t>(
      std::floor(c.fail_safes.max_drop_fraction * static_cast<double>(n)));
  if (drops() > max_drops) {
    suspicious = true;
    RestoreDrops(work, probation.max_weight,
                 [&] { return drops() > max_drops; });
  }
  const size_t min_kept =
      std::min(static_cast<size_t>(c.fail_safes.min_accepted), n);
  if (n - drops() < min_kept) {
    suspicious = true;
    RestoreDrops(work, probation.max_weight,
                 [&] { return n - drops() < min_kept; });
  }

  // Client memory.
  const QuarantineConfig& q = c.quarantine;
  const ReputationConfig& rep = c.reputation;
  for (size_t i = 0; i < n; ++i) {
    Working& w = work[i];
    const PolicyInput& in = inputs[i];
    auto [it, inserted] = state_.clients.try_emplace(in.client_id);
    ClientRecord& r = it->second;
    if (inserted) r.reputation = rep.initial;
    const bool bad = w.strike_event && !w.restored;
    const bool strike = bad && !w.listed &&
                        w.status != ClientStatus::kQuarantined &&
                        (r.strikes.empty() || r.strikes.back() < round);
    if (strike) {
      r.strikes.push_back(round);
      if (w.status == ClientStatus::kProbation) ++r.probation_strikes;
    }
    std::erase_if(r.strikes, [&](uint64_t s) {
      return SaturatingAdd(s, static_cast<uint64_t>(q.window_rounds)) <=
                 round ||
             s > round;
    });
    const bool requarantine =
        w.status == ClientStatus::kProbation &&
        r.probation_strikes >= probation.strikes_to_requarantine;
    if (strike && q.enabled &&
        (r.strikes.size() >= static_cast<size_t>(q.strikes) || requarantine)) {
      r.quarantine_end = SaturatingAdd(round, static_cast<uint64_t>(q.rounds));
      r.probation_end = SaturatingAdd(r.quarantine_end,
                                      static_cast<uint64_t>(probation.rounds));
      r.strikes.clear();
      r.probation_strikes = 0;
      ++r.quarantines;
      w.decision.flags =
          (w.decision.flags & ~kFlagProbation) | kFlagQuarantined;
      Drop(w, DropKind::kMandatory, "quarantined");
    }
    if (r.StatusAt(round) != ClientStatus::kProbation) r.probation_strikes = 0;
    r.reputation = std::clamp(
        (1.0 - rep.rate) * r.reputation + rep.rate * (bad ? 0.0 : 1.0), 0.0,
        1.0);
    r.last_round = round;
    r.rounds_seen = SaturatingAdd(r.rounds_seen, 1);
  }

  // Scores kept for small later rounds.
  const size_t keep_rounds = HistoryRoundsNeeded(c.thresholds);
  if (keep_rounds > 0 && !round_scores.empty()) {
    state_.score_history.push_back(
        {round, SampleScores(round_scores, kMaxHistoryScores)});
  }
  while (state_.score_history.size() > keep_rounds) {
    state_.score_history.pop_front();
  }
  state_.last_round = round;

  RoundOutcome out;
  out.suspicious = suspicious;
  nlohmann::json rule_values = nlohmann::json::object();
  for (const RuleThreshold& t : thresholds.rules) {
    rule_values[t.name] = NumberOrNull(t.value);
  }
  for (size_t i = 0; i < n; ++i) {
    const PolicyInput& in = inputs[i];
    const Decision& d = work[i].decision;
    const ClientRecord& r = state_.clients.at(in.client_id);
    nlohmann::json record = {
        {"round", round},
        {"client", in.client_id},
        {"num_examples", in.num_examples},
        {"score", NumberOrNull(d.score)},
        {"norm", NumberOrNull(in.score.norm)},
        {"max_similarity", NumberOrNull(in.score.max_similarity)},
        {"centrality", NumberOrNull(in.score.centrality)},
        {"typicality", NumberOrNull(work[i].typicality)},
        {"suspicion", NumberOrNull(d.suspicion)},
        {"thresholds", rule_values},
        {"threshold", NumberOrNull(d.threshold)},
        {"action", ActionName(d.action)},
        {"weight", d.weight},
        {"reason", d.reason},
        {"flags", FlagNames(d.flags)},
        {"client_status", ClientStatusName(r.StatusAt(round))},
        {"quarantine_end", r.quarantine_end},
        {"probation_end", r.probation_end},
        {"strikes", r.strikes.size()},
        {"reputation", r.reputation},
        {"suspicious_round", suspicious},
    };
    if (!in.score.error.empty()) record["score_error"] = in.score.error;
    out.audit_records.push_back(std::move(record));
    out.decisions.push_back(d);
  }
  return out;
}

nlohmann::json Policy::SaveState() const { return PolicyStateToJson(state_); }

Status Policy::LoadState(const nlohmann::json& state) {
  try {
    FLS_ASSIGN_OR_RETURN(PolicyState loaded, PolicyStateFromJson(state));
    state_ = std::move(loaded);
    return Status::Ok();
  } catch (const std::exception& e) {
    return StateError(std::string("policy: state could not be read: ") +
                      e.what());
  }
}

}  // namespace flsentry
