#include "engine/filter_engine.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "base/robust_stats.h"
#include "engine/filter_engine_impl.h"
#include "features/layout_check.h"
#include "features/update_stats.h"
#include "policy/thresholds.h"

namespace flsentry {
namespace {

std::string RoundText(uint64_t round) {
  return "round " + std::to_string(round);
}

// What is judged of an update when no detector scores it: the norm of
// every floating tensor. An update that was embedded (the detector then
// failed to score the round) has it from its two measured parts.
UpdateStats JudgedStats(const UpdateDigest& u) {
  if (!u.embedded) return u.stats;
  UpdateStats stats;
  if (u.features.ok()) {
    stats.l2_norm = std::hypot(u.features->norm, u.outside.l2_norm);
    stats.nonfinite = u.features->nonfinite + u.outside.nonfinite;
  } else {
    stats.l2_norm = NAN;
  }
  return stats;
}

// Undoes the policy's changes of a round unless Release() is called.
class PolicyUndo {
 public:
  explicit PolicyUndo(Policy& policy)
      : policy_(policy), before_(policy.state()) {}
  ~PolicyUndo() {
    if (!released_) policy_.RestoreState(std::move(before_));
  }
  PolicyUndo(const PolicyUndo&) = delete;
  PolicyUndo& operator=(const PolicyUndo&) = delete;
  void Release() { released_ = true; }

 private:
  Policy& policy_;
  PolicyState before_;
  bool released_ = false;
};

}  // namespace

// 0. Round numbers: true for a retry of the last round (see aggfilter.h).
Result<bool> FilterEngine::Impl::CheckRoundNumber(uint64_t round) const {
  if (!has_round) return false;
  if (round == last_round) return true;
  const std::string last = std::to_string(last_round);
  const std::string where =
      state_store ? " (state file " + state_store->path() + ")" : "";
  if (round < last_round) {
    return RoundNumberError(
        RoundText(round) + " is lower than the last round filtered, " + last +
        where +
        ": round numbers must increase (a retry repeats the last number). "
        "To start a new run, give it its own state.path or move the state "
        "file aside");
  }
  const uint64_t gap = round - last_round;
  if (gap > config.rounds.max_gap) {
    return RoundNumberError(
        RoundText(round) + " is " + std::to_string(gap) +
        " rounds after the last round filtered, " + last + where +
        ", more than rounds.max_gap (" + std::to_string(config.rounds.max_gap) +
        "): quarantines and strike windows count rounds, so the jump would "
        "end them at once. Check the host's round numbering; if it is "
        "right, raise rounds.max_gap in the policy");
  }
  return false;
}

// 1. Guards that need no scores. An id that appears more than once in the
// round cannot be told apart from a forgery: every update carrying it is
// dropped, and none is charged to the client.
void FilterEngine::Impl::Guard(const RoundIntake& round, RoundWork* w) const {
  const std::vector<UpdateDigest>& updates = round.updates();
  const size_t n = updates.size();
  w->inputs.assign(n, PolicyInput{});
  std::vector<const std::vector<TensorMeta>*> layouts(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    if (updates[i].invalid_reason.empty()) layouts[i] = &updates[i].tensors;
  }
  const std::vector<std::string> mismatches =
      FindLayoutMismatches(round.global(), layouts);
  std::map<std::string_view, int> id_count;
  for (const UpdateDigest& u : updates) {
    if (!u.client_id.empty()) ++id_count[u.client_id];
  }
  for (size_t i = 0; i < n; ++i) {
    const UpdateDigest& update = updates[i];
    PolicyInput& in = w->inputs[i];
    in.client_id = update.client_id;
    in.num_examples = update.num_examples;
    const bool shared =
        !update.client_id.empty() && id_count[update.client_id] > 1;
    in.no_record = update.client_id.empty() || shared;
    std::string invalid = update.invalid_reason;
    if (invalid.empty() && shared) {
      invalid = "update #" + std::to_string(i) + ": client id '" +
                update.client_id + "' is shared with another update";
    }
    if (!invalid.empty()) {
      Log(LogLevel::kWarning, RoundText(round.round()) + ": " + invalid);
      in.guard_flags = kFlagInvalid;
      in.guard_reason = "invalid";
    } else if (update.kind == UpdateKind::kWeights && !round.has_global()) {
      in.guard_flags = kFlagInvalid;
      in.guard_reason = "missing_global";
    } else if (!mismatches[i].empty()) {
      Log(LogLevel::kWarning, RoundText(round.round()) + ": client " +
                                  update.client_id + ": " + mismatches[i]);
      in.guard_flags = kFlagShapeMismatch;
      in.guard_reason = "shape_mismatch";
    } else {
      w->eligible.push_back(i);
    }
  }
}

// 2a. The detector for this round: bootstrapped on the first round with
// well-formed updates, rebuilt (fresh warm-up) when a bootstrapped
// detector meets a new model layout. A detector from a directory cannot
// follow a new layout: the round fails, telling the operator what to do.
// The intake embedded each update with the detector of its layout
// (round_intake.h); this picks the round's.
Status FilterEngine::Impl::PrepareDetector(RoundIntake& round, bool retry,
                                           RoundWork* w) {
  if (w->eligible.empty()) return Status::Ok();
  Embedder* chosen =
      round.FindEmbedder(round.updates()[w->eligible.front()].layout);
  if (chosen == nullptr) return InternalError("no embedder for the round");
  w->embedder = chosen;
  if (detector) {
    if (chosen->detector == detector.get()) return Status::Ok();
    const std::string& layout = chosen->layout_error;
    if (retry) return InvalidArgument(layout);
    if (!detector->bootstrapped()) {
      return RoundFailed(
          RoundText(round.round()) + ": the model changed: " + layout +
          " (detector directory " + detector_path +
          "). This round was not filtered and nothing was recorded. Train a "
          "detector for the new model and point detector.path at it, or "
          "remove detector.path and enable detector.bootstrap so that "
          "flsentry rebuilds its own; then restart the host");
    }
    w->rebuilt = true;
    Log(LogLevel::kWarning,
        RoundText(round.round()) + ": the model changed (" + layout +
            "); the bootstrapped detector is rebuilt for the new layout and "
            "learns from " +
            std::to_string(config.detector.refresh.warmup_rounds) +
            " new warm-up rounds, judged by norm meanwhile");
  } else if (!config.detector.bootstrap.enabled || retry) {
    return Status::Ok();
  }
  if (!chosen->bootstrapped) {
    Log(LogLevel::kError,
        RoundText(round.round()) +
            ": bootstrapping the detector failed: " + chosen->bootstrap_error);
    return Status::Ok();  // judged without a detector this round
  }
  w->detector = std::move(chosen->bootstrapped);
  w->detector_tensors = chosen->tensors;
  if (!w->rebuilt) {
    Log(LogLevel::kInfo,
        RoundText(round.round()) + ": bootstrapped a detector; learning from " +
            std::to_string(config.detector.refresh.warmup_rounds) +
            " warm-up rounds");
  }
  return Status::Ok();
}

std::vector<UpdateScore> FilterEngine::Impl::ScoreWithoutDetector(
    const RoundIntake& round, std::span<const size_t> eligible) const {
  std::vector<UpdateScore> scores(round.updates().size());
  std::vector<double> norms;
  for (size_t i : eligible) {
    const UpdateStats stats = JudgedStats(round.updates()[i]);
    scores[i].norm = stats.l2_norm;
    // Without a detector the update's L2 norm is the score the policy's
    // thresholds judge (documented in configs/README.md).
    scores[i].score = stats.l2_norm;
    scores[i].nonfinite = stats.nonfinite;
    if (stats.nonfinite == 0 && std::isfinite(stats.l2_norm)) {
      norms.push_back(stats.l2_norm);
    }
  }
  const double median = Median(norms);
  for (size_t i : eligible) {
    if (scores[i].nonfinite == 0 && std::isfinite(scores[i].norm) &&
        median > 0) {
      scores[i].log_norm_ratio = std::log(scores[i].norm / median);
    }
  }
  return scores;
}

// The detector's scores of the eligible updates, from their embeddings.
Result<std::vector<UpdateScore>> FilterEngine::Impl::ScoreEmbedded(
    RoundIntake& round, Detector& d, const RoundWork& w) const {
  if (w.embedder == nullptr || w.embedder->detector != &d) {
    return InvalidArgument(w.embedder ? w.embedder->layout_error
                                      : "the round was not embedded");
  }
  const std::vector<UpdateDigest>& updates = round.updates();
  const size_t dim = static_cast<size_t>(d.embedding_dim());
  std::vector<std::string> clients;
  clients.reserve(updates.size());
  for (const UpdateDigest& u : updates) clients.push_back(u.client_id);
  const std::vector<Result<UpdateFeatures>> measured =
      round.TakeFeatures(w.eligible);
  return d.ScoreEmbedded(round.round(), clients, w.eligible, measured,
                         round.TakeRows(w.eligible, dim));
}

// 2. Scores (from the updates' embeddings), then the guards that need
// them, then the round's fingerprint.
Status FilterEngine::Impl::Score(RoundIntake& round, bool retry, RoundWork* w) {
  FLS_RETURN_IF_ERROR(PrepareDetector(round, retry, w));
  Detector* d = Active(*w);
  if (d && !w->eligible.empty()) {
    Result<std::vector<UpdateScore>> scored = ScoreEmbedded(round, *d, *w);
    if (scored.ok()) {
      w->scores = std::move(scored).value();
    } else {
      Log(LogLevel::kError, RoundText(round.round()) + ": scoring failed: " +
                                scored.status().message());
      w->scores = ScoreWithoutDetector(round, w->eligible);
      for (size_t i : w->eligible) {
        w->scores[i].error = scored.status().message();
      }
    }
  } else {
    w->scores = ScoreWithoutDetector(round, w->eligible);
  }
  ApplyScoreGuards(round, w);
  std::vector<UpdateIdentity> identities;
  identities.reserve(round.updates().size());
  for (const UpdateDigest& u : round.updates()) {
    identities.push_back({u.client_id, u.kind, u.num_examples, u.tensors});
  }
  w->fingerprint = RoundFingerprint(round.global(), identities, w->inputs);
  return Status::Ok();
}

// 2b. In warm-up rounds (trusted, learned from) the detector's scores are
// not judged: the norm is the score, as without a detector. Non-finite
// values anywhere in a floating tensor, and a norm that overflows f64
// (oversized), are engine guards.
void FilterEngine::Impl::ApplyScoreGuards(const RoundIntake& round,
                                          RoundWork* w) const {
  const Detector* d = Active(*w);
  const bool warmup = d && d->in_warmup();
  for (size_t i : w->eligible) {
    UpdateScore& s = w->scores[i];
    if (warmup && s.scored) {
      s.score = s.norm;
      s.scored = false;
    }
    bool oversized = std::isinf(s.norm);
    if (d && s.nonfinite == 0) {
      const UpdateStats& rest = round.updates()[i].outside;
      s.nonfinite = rest.nonfinite;
      oversized = oversized || std::isinf(rest.l2_norm);
    }
    PolicyInput& in = w->inputs[i];
    if (s.nonfinite > 0) {
      in.guard_flags = kFlagNonFinite;
      in.guard_reason = "nonfinite";
    } else if (oversized) {
      in.guard_flags = kFlagNormGuard;
      in.guard_reason = "oversized";
    }
    if (in.guard_flags != 0) {
      s.score = NAN;
      s.error.clear();
    }
    in.score = s;
  }
}

// A repeated round number: the same updates get the stored decisions;
// anything else is refused. Nothing changes either way.
Result<std::vector<Decision>> FilterEngine::Impl::Retry(
    const RoundIntake& intake, const RoundWork& w, const Status& scored) const {
  const uint64_t round = intake.round();
  if (!last_record) {
    return RoundNumberError(
        RoundText(round) +
        " was already filtered, and its decisions were not kept (state "
        "written by an earlier version): number this round " +
        std::to_string(round + 1));
  }
  if (!scored.ok() || w.fingerprint != last_record->fingerprint ||
      last_record->decisions.size() != intake.updates().size()) {
    return RoundNumberError(
        RoundText(round) +
        " was already filtered with other updates (clients, sizes or "
        "contents differ), so this is not a retry of it: a new round needs "
        "a new number (" +
        std::to_string(round + 1) + " or above)");
  }
  Log(LogLevel::kInfo, RoundText(round) +
                           " repeated with the same updates: its decisions "
                           "are returned again, nothing is recorded twice");
  return last_record->decisions;
}

// 3. Decisions and per-client memory (undone by the caller on error).
Status FilterEngine::Impl::Decide(const RoundIntake& round, RoundWork* w) {
  const Detector* d = Active(*w);
  // When warm-up ends, or a new detector starts one, the pooled history of
  // scores is forgotten (norms and reconstruction errors do not mix).
  const uint64_t warmup_rounds =
      static_cast<uint64_t>(std::max(0, config.detector.refresh.warmup_rounds));
  if (w->rebuilt || (d && !d->in_warmup() && warmup_rounds > 0 &&
                     d->rounds_learned() == warmup_rounds)) {
    policy->ForgetScoreHistory();
  }
  Result<RoundOutcome> decided = policy->DecideRound(
      round.round(), w->inputs, d ? &d->calibration() : nullptr);
  if (!decided.ok()) {
    return RoundFailed(RoundText(round.round()) + ": " +
                       decided.status().message());
  }
  w->outcome = std::move(decided).value();
  for (const std::string& note : w->outcome.notes) {
    Log(LogLevel::kWarning, RoundText(round.round()) + ": " + note);
  }
  return Status::Ok();
}

// 4. Continual refresh from what the policy kept cleanly (no flag at all),
// on a copy of the engine's detector that replaces it on commit: the rows
// are learned now, the fine-tune is left pending and runs after the
// decisions are returned (StartRefresh). A refresh that fails is skipped:
// the round goes on with the detector as it was.
void FilterEngine::Impl::Learn(const RoundIntake& round, RoundWork* w) {
  if (!Active(*w) || !config.detector.refresh.enabled) return;
  if (!w->detector) {
    Result<std::unique_ptr<Detector>> copy = detector->Clone();
    if (!copy.ok()) {
      Log(LogLevel::kWarning,
          RoundText(round.round()) +
              ": detector refresh skipped: " + copy.status().message());
      return;
    }
    w->detector = std::move(copy).value();
    w->detector_tensors = detector_tensors;
    w->cloned = true;
  }
  std::vector<size_t> clean, rejected, repeated;
  std::vector<std::string> clients, rejected_clients, repeated_clients;
  for (size_t i : w->eligible) {
    const Decision& d = w->outcome.decisions[i];
    if (!w->scores[i].scored) continue;
    const std::string& client = round.updates()[i].client_id;
    if (KeptClean(d)) {
      clean.push_back(i);
      clients.push_back(client);
    } else if (DroppedSeverely(d, config.fail_safes.severe_suspicion)) {
      rejected.push_back(i);
      rejected_clients.push_back(client);
    } else if (d.action == Action::kDrop &&
               PointsRejectedWay(config, w->scores[i])) {
      repeated.push_back(i);
      repeated_clients.push_back(client);
    }
  }
  Status remembered =
      w->detector->RememberRejected(round.round(), rejected, rejected_clients);
  if (remembered.ok()) {
    remembered =
        w->detector->RenewRejected(round.round(), repeated, repeated_clients);
  }
  if (!remembered.ok()) {
    Log(LogLevel::kWarning,
        RoundText(round.round()) +
            ": rejected directions not remembered: " + remembered.message());
  }
  auto learned = w->detector->LearnDeferred(round.round(), clean, clients);
  if (!learned.ok()) {
    Log(LogLevel::kWarning,
        RoundText(round.round()) +
            ": detector refresh skipped: " + learned.status().message());
    if (w->cloned) w->detector.reset();
  } else if (!learned->note.empty()) {
    Log(LogLevel::kWarning, learned->note);
  }
}

// 5. Audit first, then the state (which records how far the audit log
// goes), then memory. A failure at any point leaves the files as before the
// round; the caller's PolicyUndo restores the policy.
Status FilterEngine::Impl::Commit(const RoundIntake& round, RoundWork* w) {
  RoundRecord record{round.round(), w->fingerprint, w->outcome.decisions};
  for (Decision& d : record.decisions) d.suspicion = NAN;
  const uint64_t audit_before = audit ? audit->end() : 0;
  if (audit) {
    Status appended = audit->AppendRound(std::move(w->outcome.audit_records));
    if (!appended.ok()) {
      return RoundFailed(RoundText(round.round()) + ": " + appended.message() +
                         "; nothing was recorded");
    }
  }
  if (state_store) {
    Status saved =
        state_store->Save(StateJson(Active(*w), round.round(), &record));
    if (!saved.ok()) {
      if (audit) (void)audit->Truncate(audit_before);
      return RoundFailed(RoundText(round.round()) + ": " + saved.message() +
                         "; nothing was recorded");
    }
  }
  // Nothing below fails.
  if (w->detector) {
    detector = std::move(w->detector);
    detector_tensors.swap(w->detector_tensors);
  }
  has_round = true;
  last_round = round.round();
  last_record = std::move(record);
  return Status::Ok();
}

// 6. After the round: its fine-tune (the expensive part of learning).
void FilterEngine::Impl::RunRefresh() noexcept {
  try {
    const uint64_t round = detector->pending_refresh()->round;
    Result<RefreshReport> done = detector->RunPendingRefresh();
    if (!done.ok()) {
      refresh_log.emplace_back(
          LogLevel::kWarning,
          RoundText(round) + ": detector refresh skipped: " +
              done.status().message() + "; the weights stay as they were");
    } else if (done->ran) {
      refresh_log.emplace_back(
          LogLevel::kDebug, RoundText(done->round) +
                                ": detector refreshed after the round (" +
                                std::to_string(done->epochs) + " epochs over " +
                                std::to_string(done->rows) + " window rows)");
    }
  } catch (...) {  // only a message that could not be queued
  }
}

void FilterEngine::Impl::StartRefresh() {
  if (!detector || !detector->pending_refresh()) return;
  try {
    refresh_thread = std::thread([this] { RunRefresh(); });
  } catch (const std::exception& e) {  // no thread: run it here and now
    RunRefresh();
    refresh_log.emplace_back(
        LogLevel::kDebug,
        std::string("the refresh ran on the caller's thread: ") + e.what());
    JoinRefresh();
  }
}

void FilterEngine::Impl::JoinRefresh() {
  if (refresh_thread.joinable()) refresh_thread.join();
  std::vector<std::pair<LogLevel, std::string>> queued;
  queued.swap(refresh_log);
  for (const auto& [level, message] : queued) Log(level, message);
}

FilterEngine::Impl::~Impl() {
  if (refresh_thread.joinable()) refresh_thread.join();
}

// Steps 1-6 of a round whose updates the intake holds.
Result<std::vector<Decision>> FilterEngine::Impl::FinishRound(
    RoundIntake& round, bool retry) {
  RoundWork w;
  Guard(round, &w);
  const Status scored = Score(round, retry, &w);
  if (retry) return Retry(round, w, scored);
  FLS_RETURN_IF_ERROR(scored);
  PolicyUndo undo(*policy);  // steps 3-5 change the policy's memory
  FLS_RETURN_IF_ERROR(Decide(round, &w));
  Learn(round, &w);
  FLS_RETURN_IF_ERROR(Commit(round, &w));
  undo.Release();
  StartRefresh();  // 6., after the decisions are returned
  return std::move(w.outcome.decisions);
}

void FilterEngine::Impl::CloseOpenRound(const char* why) {
  if (!open_round) return;
  Log(LogLevel::kWarning, RoundText(open_round->round()) + " was begun with " +
                              std::to_string(open_round->updates().size()) +
                              " updates and never ended; " + why +
                              " closes it (nothing of it was recorded)");
  open_round.reset();
}

Status FilterEngine::BeginRound(uint64_t round,
                                std::vector<TensorView> global) {
  Impl& m = *impl_;
  m.JoinRefresh();  // the detector is the caller's again
  FLS_ASSIGN_OR_RETURN(const bool retry, m.CheckRoundNumber(round));
  m.CloseOpenRound("beginning another round");
  IntakeRules rules{m.config.detector.bootstrap.enabled && !retry,
                    &m.config.detector};
  m.open_round = std::make_unique<RoundIntake>(round, std::move(global),
                                               m.detector.get(), rules);
  m.open_retry = retry;
  return Status::Ok();
}

Status FilterEngine::AddUpdate(const UpdateInput& update) {
  Impl& m = *impl_;
  if (!m.open_round) {
    return InvalidArgument("no round is open: begin a round first");
  }
  if (m.open_round->updates().size() >= kMaxRecordedDecisions) {
    return InvalidArgument(RoundText(m.open_round->round()) + " already has " +
                           std::to_string(kMaxRecordedDecisions) +
                           " updates, the most a round may have");
  }
  m.open_round->Add(update);
  return Status::Ok();
}

std::optional<size_t> FilterEngine::OpenRoundUpdates() const {
  if (!impl_->open_round) return std::nullopt;
  return impl_->open_round->updates().size();
}

Result<std::vector<Decision>> FilterEngine::EndRound() {
  Impl& m = *impl_;
  if (!m.open_round) {
    return InvalidArgument("no round is open: begin a round first");
  }
  // Closed whatever the outcome: a round that fails is begun again.
  std::unique_ptr<RoundIntake> round = std::move(m.open_round);
  return m.FinishRound(*round, m.open_retry);
}

Result<std::vector<Decision>> FilterEngine::FilterRound(
    const RoundInput& round) {
  impl_->CloseOpenRound("filtering a whole round");
  FLS_RETURN_IF_ERROR(BeginRound(round.round, round.global));
  impl_->open_round->AddAll(round.updates, impl_->config.detector.threads);
  return EndRound();
}

}  // namespace flsentry
