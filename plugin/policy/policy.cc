#include "policy/policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <utility>

#include "policy/policy_judge.h"
#include "policy/thresholds.h"

namespace flsentry {

namespace {

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b
             ? std::numeric_limits<uint64_t>::max()
             : a + b;
}

nlohmann::json NumberOrNull(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
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

template <typename T>
void PushBounded(std::vector<T>& values, T value, size_t max_size) {
  values.push_back(value);
  if (values.size() > max_size) {
    values.erase(values.begin(), values.end() - max_size);
  }
}

// Whether the update joins the client's tail (ClientBaselineConfig): kept
// clean, or pointing the client's usual way with the score as the only
// signal, outside quarantine.
bool InClientTail(const ClientBaselineConfig& b, const PolicyInput& in,
                  const Working& w) {
  if (KeptClean(w.decision)) return true;
  constexpr uint32_t kExcluded =
      kGuardSignalFlags | kFlagScoreFailed | kFlagQuarantined;
  return in.guard_flags == 0 && w.status != ClientStatus::kQuarantined &&
         (w.decision.flags & kExcluded) == 0 &&
         PointsUsualWay(b, in.score.consistency);
}

// The claim the client's history keeps (ExamplesGuardConfig): at most the
// round's limit, so that a first claim the round capped is remembered as
// what it counted for.
uint64_t RecordedClaim(uint64_t claim, double round_limit) {
  if (!(round_limit < static_cast<double>(claim))) return claim;
  return std::max<uint64_t>(1, static_cast<uint64_t>(round_limit));
}

// The client-memory half of a round for one update (policy.h): strikes,
// quarantine, probation, reputation and the client's own history.
void UpdateClient(const PolicyConfig& c, uint64_t round, const PolicyInput& in,
                  Working& w, ClientRecord& r) {
  const QuarantineConfig& q = c.quarantine;
  const ProbationConfig& probation = q.probation;
  const double weight =
      w.status == ClientStatus::kQuarantined ? 0.0 : StrikeWeight(c, w);
  const bool strike =
      weight > 0 && (r.strikes.empty() || r.strikes.back().round < round);
  if (strike) {
    w.strike_weight = weight;
    r.strikes.push_back({round, weight});
    if (w.status == ClientStatus::kProbation) r.probation_strikes += weight;
  }
  std::erase_if(r.strikes, [&](const Strike& s) {
    return SaturatingAdd(s.round, static_cast<uint64_t>(q.window_rounds)) <=
               round ||
           s.round > round;
  });
  // Sums of weights in [0.25, 1] compared with a configured number: a
  // tolerance absorbs the rounding of e.g. 0.7 + 0.3.
  constexpr double kTolerance = 1e-9;
  const bool requarantine =
      w.status == ClientStatus::kProbation &&
      r.probation_strikes + kTolerance >= probation.strikes_to_requarantine;
  if (strike && q.enabled &&
      (r.StrikeWeight() + kTolerance >= q.strikes || requarantine)) {
    r.quarantine_end = SaturatingAdd(round, static_cast<uint64_t>(q.rounds));
    r.probation_end = SaturatingAdd(r.quarantine_end,
                                    static_cast<uint64_t>(probation.rounds));
    r.strikes.clear();
    r.probation_strikes = 0;
    ++r.quarantines;
    w.decision.flags = (w.decision.flags & ~kFlagProbation) | kFlagQuarantined;
    w.decision.action = Action::kDrop;
    w.decision.weight = 0.0;
    w.decision.reason = "quarantined";
  }
  if (r.StatusAt(round) != ClientStatus::kProbation) r.probation_strikes = 0;
  const ReputationConfig& rep = c.reputation;
  const bool bad =
      (w.strike_events & q.strike_on) != 0 && w.failsafe == nullptr;
  r.reputation = std::clamp(
      (1.0 - rep.rate) * r.reputation + rep.rate * (bad ? 0.0 : 1.0), 0.0, 1.0);
  r.last_round = round;
  r.rounds_seen = SaturatingAdd(r.rounds_seen, 1);
  const Decision& d = w.decision;
  const ClientBaselineConfig& baseline = c.thresholds.client_baseline;
  if (w.grace)
    PushBounded(r.graces, round, static_cast<size_t>(kMaxClientGrace));
  std::erase_if(r.graces, [&](uint64_t g) {
    return SaturatingAdd(g, static_cast<uint64_t>(q.window_rounds)) <= round;
  });
  if (InClientTail(baseline, in, w) && std::isfinite(w.score_ratio)) {
    PushBounded(r.score_ratios, w.score_ratio,
                static_cast<size_t>(kMaxClientBaselineRounds));
  }
  if (in.guard_flags == 0 && in.num_examples > 0 && d.action != Action::kDrop &&
      !w.examples_over_own) {
    PushBounded(r.claims,
                RecordedClaim(in.num_examples, w.examples_round_limit),
                kMaxClaimHistory);
  }
}

// One audit record (docs/audit-log.md).
// `rule_values` and `limits` are the round's.
nlohmann::json AuditRecord(uint64_t round, const PolicyInput& in,
                           const Working& w, const ClientRecord& r,
                           const nlohmann::json& rule_values,
                           const RoundLimits& limits, bool suspicious) {
  const Decision& d = w.decision;
  nlohmann::json record = {
      {"round", round},
      {"client", in.client_id},
      {"num_examples", in.num_examples},
      {"examples_limit", NumberOrNull(w.examples_limit)},
      {"score", NumberOrNull(d.score)},
      {"score_ratio", NumberOrNull(w.score_ratio)},
      {"client_factor", w.client_factor},
      {"norm", NumberOrNull(in.score.norm)},
      {"norm_limit", NumberOrNull(limits.norm_limit)},
      {"max_similarity", NumberOrNull(in.score.max_similarity)},
      {"centrality", NumberOrNull(in.score.centrality)},
      {"typicality", NumberOrNull(w.typicality)},
      {"consistency", NumberOrNull(in.score.consistency)},
      {"rejected_similarity", NumberOrNull(in.score.rejected_similarity)},
      {"agreement", NumberOrNull(in.score.agreement)},
      {"newcomer_limit", NumberOrNull(limits.newcomer_min_agreement)},
      {"drift_limit", NumberOrNull(limits.drift_min_agreement)},
      {"opposition", NumberOrNull(w.opposition)},
      {"column_share", NumberOrNull(in.score.column_share)},
      {"column_peak_share", NumberOrNull(in.score.column_peak_share)},
      {"suspicion", NumberOrNull(d.suspicion)},
      {"thresholds", rule_values},
      {"threshold", NumberOrNull(d.threshold)},
      {"action", ActionName(d.action)},
      {"weight", d.weight},
      {"reason", d.reason},
      {"flags", FlagNames(d.flags)},
      {"failsafe", w.failsafe ? nlohmann::json(w.failsafe) : nlohmann::json()},
      {"strike_weight", w.strike_weight},
      {"client_status", ClientStatusName(r.StatusAt(round))},
      {"quarantine_end", r.quarantine_end},
      {"probation_end", r.probation_end},
      {"strikes", r.StrikeWeight()},
      {"reputation", r.reputation},
      {"suspicious_round", suspicious},
  };
  if (!in.score.error.empty()) record["score_error"] = in.score.error;
  return record;
}

// The audit record of an update no client answers for (PolicyInput::
// no_record): the id it claimed, if any, under "claimed_client".
nlohmann::json NoRecordAudit(uint64_t round, const PolicyInput& in,
                             const Decision& d, bool suspicious) {
  nlohmann::json record = {{"round", round},
                           {"client", nullptr},
                           {"num_examples", in.num_examples},
                           {"action", ActionName(d.action)},
                           {"weight", d.weight},
                           {"reason", d.reason},
                           {"flags", FlagNames(d.flags)},
                           {"suspicious_round", suspicious}};
  if (!in.client_id.empty()) record["claimed_client"] = in.client_id;
  return record;
}

// Sets kFlagNoAverage on every decision when no update keeps a positive
// num_examples x weight; returns the note saying why, or "".
std::string CheckSomethingToAverage(std::span<const PolicyInput> inputs,
                                    std::vector<Working>& work) {
  if (work.empty()) return "";
  std::map<std::string, size_t> dropped;
  size_t zero_claims = 0;
  for (size_t i = 0; i < work.size(); ++i) {
    const Decision& d = work[i].decision;
    if (d.weight > 0 && inputs[i].num_examples > 0) return "";
    if (d.action == Action::kDrop) {
      ++dropped[d.reason.substr(0, d.reason.find(':'))];
    } else {
      ++zero_claims;
    }
  }
  std::string why;
  for (const auto& [reason, count] : dropped) {
    why += (why.empty() ? "" : ", ") + std::to_string(count) + " " + reason;
  }
  if (zero_claims > 0) {
    why += (why.empty() ? "" : ", ") + std::to_string(zero_claims) +
           " kept but claiming 0 examples";
  }
  for (Working& w : work) w.decision.flags |= kFlagNoAverage;
  return "no update can be averaged (nothing keeps a positive num_examples "
         "x weight): " +
         std::to_string(work.size()) + " update(s): " + why +
         "; keep the global model for this round";
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
  const RoundLimits limits = ComputeRoundLimits(
      c, inputs, state_.score_history, state_.norm_history, calibration);

  // Per-update decisions (no state changes yet), then the fail-safes.
  std::vector<Working> work(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto record = inputs[i].no_record
                      ? state_.clients.end()
                      : state_.clients.find(inputs[i].client_id);
    const ClientRecord* r =
        record == state_.clients.end() ? nullptr : &record->second;
    work[i].status = r ? r->StatusAt(round) : ClientStatus::kNormal;
    JudgeUpdate(c, round, inputs[i], limits, r, work[i]);
  }
  RoundOutcome out;
  out.notes = ApplyFailSafes(c, inputs, work);
  out.suspicious = !out.notes.empty();

  // Client memory.
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].no_record) continue;  // no client answers for it
    auto [it, inserted] = state_.clients.try_emplace(inputs[i].client_id);
    if (inserted) it->second.reputation = c.reputation.initial;
    UpdateClient(c, round, inputs[i], work[i], it->second);
  }
  const std::string nothing = CheckSomethingToAverage(inputs, work);
  if (!nothing.empty()) {
    out.notes.push_back(nothing);
    out.no_average = true;
  }

  // Scores kept for small later rounds.
  const size_t keep_rounds = HistoryRoundsNeeded(c.thresholds);
  if (keep_rounds > 0 && !limits.scores.empty()) {
    state_.score_history.push_back(
        {round, SampleScores(limits.scores, kMaxHistoryScores)});
  }
  while (state_.score_history.size() > keep_rounds) {
    state_.score_history.pop_front();
  }
  // Accepted norms that anchor the norm guard's later rounds.
  const size_t keep_norms = static_cast<size_t>(c.guards.norm.history_rounds);
  if (keep_norms > 0) {
    if (auto norm = AcceptedMedianNorm(round, inputs, work)) {
      state_.norm_history.push_back(*norm);
    }
  }
  while (state_.norm_history.size() > keep_norms) {
    state_.norm_history.pop_front();
  }
  state_.last_round = round;

  nlohmann::json rule_values = nlohmann::json::object();
  for (const RuleThreshold& t : limits.thresholds.rules) {
    rule_values[t.name] = NumberOrNull(t.value);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    out.decisions.push_back(work[i].decision);
    if (inputs[i].no_record) {
      out.audit_records.push_back(
          NoRecordAudit(round, inputs[i], work[i].decision, out.suspicious));
      continue;
    }
    const ClientRecord& r = state_.clients.at(inputs[i].client_id);
    out.audit_records.push_back(AuditRecord(
        round, inputs[i], work[i], r, rule_values, limits, out.suspicious));
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
