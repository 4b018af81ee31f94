#include "policy/policy_judge.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/robust_stats.h"
#include "policy/policy.h"

namespace flsentry {
namespace {

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

// (1 - limit) / (1 - cosine): how much closer to 1 (similarity) the cosine
// is than its limit allows; NaN when the cosine is.
double Closeness(double cosine, double limit) {
  if (!std::isfinite(cosine)) return NAN;
  return (1.0 - limit) / std::max(1.0 - cosine, 1e-12);
}

// (1 - cosine) / (1 - limit): how much further from 1 the cosine is than
// its limit allows (the consistency guard fires below its limit).
double Distance(double cosine, double limit) {
  if (!std::isfinite(cosine)) return NAN;
  return (1.0 - cosine) / std::max(1.0 - limit, 1e-12);
}

// The largest of the signals' ratios to their limits, ignoring NaN.
double Largest(std::initializer_list<double> ratios) {
  double out = NAN;
  for (double r : ratios) {
    if (std::isfinite(r) && !(r <= out)) out = r;
  }
  return out;
}

// The column guard's ratio: the larger of share / max_share and peak share
// / max_peak_share; NaN when the guard is off or the shares are.
double ColumnExcess(const ColumnGuardConfig& g, const UpdateScore& s) {
  if (!g.enabled) return NAN;
  return Largest({Ratio(s.column_share, g.max_share),
                  Ratio(s.column_peak_share, g.max_peak_share)});
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

// Whether `round` is within `window` rounds after `event` (event < round).
bool WithinWindow(uint64_t event, uint64_t round, int window) {
  return event < round && round - event < static_cast<uint64_t>(window);
}

// ClientBaselineConfig: clamp(statistic of the client's tail, 1, max_factor)
// when the update points the client's usual way; 1 otherwise.
double ClientFactor(const ClientBaselineConfig& c, const ClientRecord* record,
                    double consistency) {
  if (!c.enabled || record == nullptr ||
      record->score_ratios.size() < static_cast<size_t>(c.min_rounds) ||
      !PointsUsualWay(c, consistency)) {
    return 1.0;
  }
  const size_t keep =
      std::min(record->score_ratios.size(), static_cast<size_t>(c.rounds));
  const std::vector<double> tail(record->score_ratios.end() - keep,
                                 record->score_ratios.end());
  const double b = c.statistic == BaselineStatistic::kMax
                       ? *std::max_element(tail.begin(), tail.end())
                       : Median(tail);
  return std::clamp(b, 1.0, c.max_factor);
}

// ClientBaselineConfig::grace: a score-only anomaly of an update pointing
// the client's usual way, from a client in good standing with a grace left
// in the quarantine window.
bool GraceApplies(const PolicyConfig& c, uint64_t round, const PolicyInput& in,
                  const ClientRecord* record, const Working& w) {
  const ClientBaselineConfig& b = c.thresholds.client_baseline;
  const uint32_t signals = w.decision.flags & (kSignalFlags | kFlagScoreFailed);
  if (signals != kFlagAnomalous || !b.enabled || b.grace == 0 ||
      w.status != ClientStatus::kNormal ||
      !PointsUsualWay(b, in.score.consistency)) {
    return false;
  }
  size_t used = 0;
  if (record != nullptr) {
    used = static_cast<size_t>(std::count_if(
        record->graces.begin(), record->graces.end(), [&](uint64_t r) {
          return WithinWindow(r, round, c.quarantine.window_rounds);
        }));
  }
  return used < static_cast<size_t>(b.grace);
}

// ExamplesGuardConfig's own limit: history_k x the median of the client's
// recorded claims; NaN without any.
double OwnExamplesLimit(const ExamplesGuardConfig& c,
                        const ClientRecord* record) {
  if (record == nullptr || record->claims.empty()) return NAN;
  std::vector<double> claims(record->claims.begin(), record->claims.end());
  const double own = c.history_k * Median(claims);
  return own > 0 ? own : NAN;
}

// ConsistencyGuardConfig: a client with neither a reference nor a rejected
// direction to repeat points against the round's known clients.
bool AgainstRound(const ConsistencyGuardConfig& g, const UpdateScore& s,
                  bool repeats_rejected, double min_agreement) {
  return g.enabled && !std::isfinite(s.consistency) && !repeats_rejected &&
         std::isfinite(s.agreement) && s.agreement < min_agreement;
}

// ConsistencyGuardConfig's newcomer limit for a round whose known clients
// (consistency > 0) agree with the round at `agreements`.
double NewcomerLimit(const ConsistencyGuardConfig& g,
                     const std::vector<double>& agreements) {
  const double floor = g.newcomer_min_agreement;  // -1: the rule is off
  if (g.newcomer_round_k <= 0 || floor <= -1 || floor >= 0 ||
      agreements.size() < static_cast<size_t>(g.newcomer_min_round_size)) {
    return floor;
  }
  return std::clamp(RobustLowerLimit(agreements, g.newcomer_round_k), floor,
                    0.0);
}

// ConsistencyGuardConfig's drift limit for a round whose known clients
// agree with the round at `agreements`, given its newcomer limit: never
// below 0 (an update that turns from its reference and against the round
// has not drifted with it) nor below the newcomer limit.
double DriftLimit(const ConsistencyGuardConfig& g,
                  const std::vector<double>& agreements,
                  double newcomer_limit) {
  if (g.drift_margin <= 0 ||
      agreements.size() < static_cast<size_t>(g.newcomer_min_round_size)) {
    return NAN;
  }
  return std::max(
      {RobustLowerLimit(agreements, g.drift_round_k), newcomer_limit, 0.0});
}

// The cosine below which ConsistencyGuardConfig flags `s`: min_cosine, or
// min_cosine - drift_margin for an update that agrees with the round at
// least at its drift limit.
double ConsistencyLimit(const ConsistencyGuardConfig& g, const UpdateScore& s,
                        const RoundLimits& limits) {
  const bool with_round = s.agreement >= limits.drift_min_agreement;  // NaN: no
  return with_round ? g.min_cosine - g.drift_margin : g.min_cosine;
}

// OppositionGuardConfig's opposition: (norm / reference norm) x
// max(0, -agreement); NaN when the guard is off or abstains.
double Opposition(const OppositionGuardConfig& g, const UpdateScore& s,
                  const RoundLimits& limits) {
  if (!g.enabled || !std::isfinite(s.agreement) || !std::isfinite(s.norm) ||
      !std::isfinite(limits.norm_reference)) {
    return NAN;
  }
  return s.norm / limits.norm_reference * std::max(0.0, -s.agreement);
}

// Signals of a well-formed update: threshold, flags, suspicion, events.
void JudgeSignals(const PolicyConfig& c, uint64_t round, const PolicyInput& in,
                  const RoundLimits& limits, const ClientRecord* record,
                  Working& w) {
  Decision& d = w.decision;
  const UpdateScore& s = in.score;
  const GuardsConfig& g = c.guards;
  w.client_factor =
      ClientFactor(c.thresholds.client_baseline, record, s.consistency);
  d.threshold *= w.client_factor;
  const bool score_failed = !s.error.empty();
  const bool anomalous =
      !score_failed && std::isfinite(d.score) && d.score > d.threshold;
  if (std::isfinite(limits.median_score) && limits.median_score > 0 &&
      s.scored && std::isfinite(s.score)) {
    w.score_ratio = s.score / limits.median_score;
  }
  w.score_excess = Ratio(d.score, d.threshold);
  const bool norm_fired = std::isfinite(limits.norm_limit) &&
                          std::isfinite(s.norm) && s.norm > limits.norm_limit;
  const bool duplicate = g.duplicate.enabled &&
                         std::isfinite(s.max_similarity) &&
                         s.max_similarity > g.duplicate.max_similarity;
  w.typicality = g.centrality.enabled
                     ? Typicality(s.centrality, limits.median_centrality)
                     : NAN;
  const bool central =
      std::isfinite(w.typicality) && w.typicality > g.centrality.max_typicality;
  const double consistency_limit = ConsistencyLimit(g.consistency, s, limits);
  const bool inconsistent = g.consistency.enabled &&
                            std::isfinite(s.consistency) &&
                            s.consistency < consistency_limit;
  w.opposition = Opposition(g.opposition, s, limits);
  const bool opposed = w.opposition > g.opposition.max_opposition;
  const double column_excess = ColumnExcess(g.columns, s);
  const bool column_outlier = column_excess > 1.0;  // false for NaN
  w.repeats_rejected = RepeatsRejected(c, s, round);
  w.against_round = AgainstRound(g.consistency, s, w.repeats_rejected,
                                 limits.newcomer_min_agreement);
  const double claim = static_cast<double>(in.num_examples);
  if (g.num_examples.enabled) {
    w.examples_round_limit = g.num_examples.k * limits.median_claim;
    const double own = OwnExamplesLimit(g.num_examples, record);
    w.examples_limit = std::fmin(w.examples_round_limit, own);
    w.examples_over_own = in.num_examples > 0 && claim > own;
  }
  const bool examples = in.num_examples > 0 &&
                        std::isfinite(w.examples_limit) &&
                        claim > w.examples_limit;
  d.suspicion = Largest(
      {w.score_excess, Ratio(s.norm, limits.norm_limit),
       g.duplicate.enabled
           ? Closeness(s.max_similarity, g.duplicate.max_similarity)
           : NAN,
       Ratio(w.typicality, g.centrality.max_typicality),
       g.consistency.enabled ? Distance(s.consistency, consistency_limit) : NAN,
       w.repeats_rejected ? Closeness(s.rejected_similarity,
                                      g.consistency.max_rejected_similarity)
                          : NAN,
       w.against_round ? Distance(s.agreement, limits.newcomer_min_agreement)
                       : NAN,
       Ratio(w.opposition, g.opposition.max_opposition), column_excess,
       Ratio(claim, w.examples_limit)});
  const std::pair<bool, std::pair<uint32_t, uint32_t>> signals[] = {
      {anomalous, {kFlagAnomalous, kStrikeAnomalous}},
      {norm_fired, {kFlagNormGuard, kStrikeNormGuard}},
      {duplicate, {kFlagDuplicate, kStrikeDuplicate}},
      {central, {kFlagCentral, kStrikeCentral}},
      {inconsistent || w.repeats_rejected,
       {kFlagInconsistent, kStrikeInconsistent}},
      {opposed, {kFlagOpposed, kStrikeOpposed}},
      {column_outlier, {kFlagColumnOutlier, kStrikeColumnOutlier}},
      {examples, {kFlagNumExamples, 0u}},
      {w.examples_over_own, {kFlagNumExamples, kStrikeNumExamples}},
      {w.against_round, {kFlagInconsistent, 0u}},
      {score_failed, {kFlagScoreFailed, 0u}},
  };
  for (const auto& [fired, bits] : signals) {
    if (!fired) continue;
    d.flags |= bits.first;
    w.strike_events |= bits.second;
  }
}

// Rules 6-14 of policy.h, on an update the earlier rules let through.
void ApplySignalRules(const PolicyConfig& c, uint64_t round,
                      const PolicyInput& in, const RoundLimits& limits,
                      const ClientRecord* record, Working& w) {
  const Decision& d = w.decision;
  if (GraceApplies(c, round, in, record, w)) {
    w.grace = true;
    w.decision.reason = "grace";
  } else if (d.flags & kFlagAnomalous) {
    if (c.actions.on_anomalous == AnomalyAction::kDrop) {
      Drop(w, DropKind::kBySignal, "anomalous");
    } else {
      CapWeight(
          w, DownweightMultiplier(c.actions.downweight, d.score, d.threshold),
          "anomalous");
    }
  }
  const std::pair<uint32_t, const char*> drops[] = {
      {kFlagInconsistent,
       w.repeats_rejected ? "repeats_rejected" : "inconsistent"},
      {kFlagDuplicate, "duplicate"},
      {kFlagCentral, "central"},
      {kFlagColumnOutlier, "column_outlier"}};
  for (const auto& [flag, reason] : drops) {
    // A newcomer against the round is flagged inconsistent, not dropped.
    const bool newcomer_only = flag == kFlagInconsistent && w.against_round;
    if ((d.flags & flag) && d.action != Action::kDrop && !newcomer_only) {
      Drop(w, DropKind::kBySignal, reason);
    }
  }
  if (w.against_round && d.action != Action::kDrop) {
    const double weight = c.guards.consistency.newcomer_weight;
    if (weight > 0) {
      CapWeight(w, weight, "against_round");
    } else {
      Drop(w, DropKind::kBySignal, "against_round");
    }
  }
  if ((d.flags & kFlagNormGuard) && d.action != Action::kDrop) {
    const NormGuardMode mode = in.score.norm > limits.norm_drop_limit
                                   ? NormGuardMode::kDrop
                                   : c.guards.norm.mode;
    switch (mode) {
      case NormGuardMode::kClip:
        CapWeight(w, limits.norm_limit / in.score.norm, "norm_guard");
        break;
      case NormGuardMode::kDownweight:
        CapWeight(w,
                  DownweightMultiplier(c.actions.downweight, in.score.norm,
                                       limits.norm_limit),
                  "norm_guard");
        break;
      case NormGuardMode::kDrop:
        Drop(w, DropKind::kBySignal, "norm_guard");
        break;
    }
  }
  if ((d.flags & kFlagOpposed) && d.action != Action::kDrop) {
    CapWeight(w, c.guards.opposition.max_opposition / w.opposition, "opposed");
  }
  if ((d.flags & kFlagNumExamples) && d.action != Action::kDrop) {
    switch (c.guards.num_examples.mode) {
      case ExamplesGuardMode::kCap:
        CapWeight(w, w.examples_limit / static_cast<double>(in.num_examples),
                  "num_examples");
        break;
      case ExamplesGuardMode::kFlag:
        break;
      case ExamplesGuardMode::kDrop:
        Drop(w, DropKind::kBySignal, "num_examples");
        break;
    }
  }
  if (w.status == ClientStatus::kProbation) {
    CapWeight(w, c.quarantine.probation.max_weight, "probation");
  }
}

// Undoes signal drops less suspicious than max_severity, least suspicious
// first, while `more` says so; each restored update keeps min(1, 1 /
// suspicion) (capped on probation). Returns how many it restored.
template <typename Pred>
size_t RestoreDrops(std::vector<Working>& work, double probation_cap,
                    double max_severity, const char* failsafe, Pred more) {
  std::vector<size_t> order;
  for (size_t i = 0; i < work.size(); ++i) {
    if (work[i].drop == DropKind::kBySignal &&
        work[i].severity() < max_severity) {
      order.push_back(i);
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return work[a].severity() < work[b].severity();
  });
  size_t restored = 0;
  for (size_t i : order) {
    if (!more()) break;
    Working& w = work[i];
    const double severity = w.severity();
    double weight = severity > 1.0 ? 1.0 / severity : 1.0;
    if (w.status == ClientStatus::kProbation) {
      weight = std::min(weight, probation_cap);
    }
    w.drop = DropKind::kNone;
    w.failsafe = failsafe;
    w.decision.weight = weight;
    w.decision.action = weight < 1.0 ? Action::kDownweight : Action::kAccept;
    w.decision.reason = "failsafe_kept";
    w.decision.flags |= kFlagFailsafe;
    ++restored;
  }
  return restored;
}

size_t CountDrops(const std::vector<Working>& work) {
  return static_cast<size_t>(std::count_if(
      work.begin(), work.end(),
      [](const Working& w) { return w.decision.action == Action::kDrop; }));
}

// "restored 2 of 6 signal drops (...): client_3 at weight 0.41, ...".
std::string RestoreNote(const char* failsafe, const std::string& why,
                        std::span<const PolicyInput> inputs,
                        const std::vector<Working>& work) {
  std::string clients;
  size_t shown = 0, restored = 0;
  for (size_t i = 0; i < work.size(); ++i) {
    if (work[i].failsafe != failsafe) continue;
    ++restored;
    if (shown++ >= 5) continue;
    char weight[32];
    std::snprintf(weight, sizeof weight, "%.3g", work[i].decision.weight);
    clients += (clients.empty() ? "" : ", ") + inputs[i].client_id +
               " at weight " + weight;
  }
  if (shown > 5) clients += ", ...";
  return std::string("fail-safe ") + failsafe + " restored " +
         std::to_string(restored) + " update(s) that " + why +
         ", least suspicious first, each at weight min(1, 1/suspicion): " +
         clients;
}

}  // namespace

bool PointsRejectedWay(const PolicyConfig& c, const UpdateScore& s) {
  const ConsistencyGuardConfig& g = c.guards.consistency;
  return g.enabled && std::isfinite(s.rejected_similarity) &&
         s.rejected_similarity > g.max_rejected_similarity;
}

bool RepeatsRejected(const PolicyConfig& c, const UpdateScore& s,
                     uint64_t round) {
  return PointsRejectedWay(c, s) &&
         WithinWindow(s.rejected_round, round, c.quarantine.window_rounds);
}

// NormGuardConfig's reference norm: the round's median norm, or max_growth
// x the anchor (the median of the last history_rounds accepted medians)
// when that is smaller.
double NormReference(const NormGuardConfig& ng, double round_median,
                     const std::deque<RoundNorm>& norm_history) {
  const size_t keep = static_cast<size_t>(ng.history_rounds);
  if (keep == 0 || norm_history.empty()) return round_median;
  std::vector<double> medians;
  const size_t first =
      norm_history.size() > keep ? norm_history.size() - keep : 0;
  for (size_t i = first; i < norm_history.size(); ++i) {
    medians.push_back(norm_history[i].median_norm);
  }
  return std::min(round_median, ng.max_growth * Median(medians));
}

std::optional<RoundNorm> AcceptedMedianNorm(uint64_t round,
                                            std::span<const PolicyInput> inputs,
                                            std::span<const Working> work) {
  std::vector<double> norms;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const double norm = inputs[i].score.norm;
    if (work[i].decision.action == Action::kAccept && std::isfinite(norm) &&
        norm > 0) {
      norms.push_back(norm);
    }
  }
  if (norms.empty()) return std::nullopt;
  return RoundNorm{round, Median(norms)};
}

RoundLimits ComputeRoundLimits(const PolicyConfig& c,
                               std::span<const PolicyInput> inputs,
                               const std::deque<RoundScores>& history,
                               const std::deque<RoundNorm>& norm_history,
                               const Calibration* calibration) {
  RoundLimits limits;
  std::vector<double> norms, centralities, claims, agreements;
  for (const PolicyInput& in : inputs) {
    if (in.guard_flags != 0) continue;
    if (in.score.consistency > 0 && std::isfinite(in.score.agreement)) {
      agreements.push_back(in.score.agreement);
    }
    if (in.score.error.empty() && std::isfinite(in.score.score)) {
      limits.scores.push_back(in.score.score);
    }
    if (std::isfinite(in.score.norm)) norms.push_back(in.score.norm);
    if (std::isfinite(in.score.centrality)) {
      centralities.push_back(in.score.centrality);
    }
    if (in.num_examples > 0) {
      claims.push_back(static_cast<double>(in.num_examples));
    }
  }
  limits.thresholds =
      ComputeThresholds(c.thresholds, limits.scores, history, calibration);
  if (limits.scores.size() >= 3) limits.median_score = Median(limits.scores);
  const NormGuardConfig& ng = c.guards.norm;
  if (norms.size() >= static_cast<size_t>(ng.min_round_size)) {
    const double reference = NormReference(ng, Median(norms), norm_history);
    if (reference > 0) limits.norm_reference = reference;
  }
  if (ng.enabled && std::isfinite(limits.norm_reference)) {
    limits.norm_limit = ng.k * limits.norm_reference;
    if (ng.drop_k > 0)
      limits.norm_drop_limit = ng.drop_k * limits.norm_reference;
  }
  const CentralityGuardConfig& cg = c.guards.centrality;
  if (cg.enabled &&
      centralities.size() >= static_cast<size_t>(cg.min_round_size)) {
    limits.median_centrality = Median(centralities);
  }
  const ExamplesGuardConfig& eg = c.guards.num_examples;
  if (eg.enabled && claims.size() >= static_cast<size_t>(eg.min_round_size)) {
    limits.median_claim = Median(claims);
  }
  if (c.guards.consistency.enabled) {
    limits.newcomer_min_agreement =
        NewcomerLimit(c.guards.consistency, agreements);
    limits.drift_min_agreement = DriftLimit(c.guards.consistency, agreements,
                                            limits.newcomer_min_agreement);
  }
  return limits;
}

void JudgeUpdate(const PolicyConfig& c, uint64_t round, const PolicyInput& in,
                 const RoundLimits& limits, const ClientRecord* record,
                 Working& w) {
  Decision& d = w.decision;
  d.score = in.score.score;
  d.threshold = limits.thresholds.effective;
  if (w.status == ClientStatus::kProbation) {
    d.threshold *= c.quarantine.probation.threshold_scale;
    d.flags |= kFlagProbation;
  }
  if (in.guard_flags != 0) {  // rule 1: the engine's guards
    d.flags |= in.guard_flags;
    w.strike_events |= kStrikeGuard;
    Drop(w, DropKind::kMandatory,
         in.guard_reason.empty() ? "invalid" : in.guard_reason);
    return;
  }
  JudgeSignals(c, round, in, limits, record, w);
  if (c.lists.deny.count(in.client_id)) {  // rule 2
    d.flags |= kFlagDenylisted;
    w.listed = true;
    Drop(w, DropKind::kMandatory, "denylisted");
    return;
  }
  if (w.status == ClientStatus::kQuarantined) {  // rule 3
    d.flags |= kFlagQuarantined;
    Drop(w, DropKind::kMandatory, "quarantined");
    return;
  }
  if (!in.score.error.empty()) {  // rule 4
    if (c.fail_safes.on_error == OnScoreError::kDrop) {
      Drop(w, DropKind::kMandatory, "score_failed");
      return;
    }
    d.reason = "score_failed_accepted";
  }
  if (c.lists.allow.count(in.client_id)) {  // rule 5
    d.flags |= kFlagAllowlisted;
    w.listed = true;
    d.reason = "allowlisted";
    return;
  }
  ApplySignalRules(c, round, in, limits, record, w);  // rules 6-14
}

std::vector<std::string> ApplyFailSafes(const PolicyConfig& c,
                                        std::span<const PolicyInput> inputs,
                                        std::vector<Working>& work) {
  const FailSafesConfig& fs = c.fail_safes;
  const double cap = c.quarantine.probation.max_weight;
  const size_t n = work.size();
  std::vector<std::string> notes;
  const size_t max_drops = static_cast<size_t>(
      std::floor(fs.max_drop_fraction * static_cast<double>(n)));
  const size_t drops = CountDrops(work);
  const double restorable = fs.restore_severe ? INFINITY : fs.severe_suspicion;
  if (drops > max_drops &&
      RestoreDrops(work, cap, restorable, "max_drop_fraction",
                   [&] { return CountDrops(work) > max_drops; }) > 0) {
    notes.push_back(RestoreNote("max_drop_fraction",
                                "the policy would have dropped (" +
                                    std::to_string(drops) + " of " +
                                    std::to_string(n) + " dropped, at most " +
                                    std::to_string(max_drops) + " allowed)",
                                inputs, work));
  }
  const size_t min_kept = std::min(static_cast<size_t>(fs.min_accepted), n);
  if (n - CountDrops(work) < min_kept &&
      RestoreDrops(work, cap, INFINITY, "min_accepted",
                   [&] { return n - CountDrops(work) < min_kept; }) > 0) {
    notes.push_back(RestoreNote("min_accepted",
                                "the policy would have dropped (at least " +
                                    std::to_string(min_kept) + " must be kept)",
                                inputs, work));
  }
  return notes;
}

double StrikeWeight(const PolicyConfig& c, const Working& w) {
  const uint32_t events = w.strike_events & c.quarantine.strike_on;
  if (events == 0 || w.listed || w.grace) return 0.0;
  if (w.failsafe != nullptr &&
      !(w.severity() >= c.fail_safes.severe_suspicion)) {
    return 0.0;
  }
  if (events != kStrikeAnomalous) return 1.0;  // a guard fired
  const StrikeWeightConfig& sw = c.quarantine.strike_weight;
  const double weight = (w.score_excess - 1.0) / (sw.full_at - 1.0);
  return std::clamp(std::isfinite(weight) ? weight : 1.0, sw.min_weight, 1.0);
}

bool PointsUsualWay(const ClientBaselineConfig& c, double consistency) {
  return consistency >= c.min_consistency;
}

}  // namespace flsentry
