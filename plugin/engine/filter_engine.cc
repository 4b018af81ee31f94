#include "engine/filter_engine.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "base/robust_stats.h"
#include "detector/detector.h"
#include "engine/audit_log.h"
#include "engine/state_store.h"
#include "features/layout_check.h"
#include "features/update_stats.h"
#include "policy/policy.h"
#include "policy/policy_config.h"
#include "policy/thresholds.h"

namespace flsentry {
namespace {

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty()) return path;
  std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

// Non-finite values in floating tensors the detector does not read (its
// layer selection left them out); they are averaged by the host all the same.
int64_t NonFiniteOutside(const UpdateInput& update,
                         const std::vector<TensorView>& global,
                         const std::set<std::string, std::less<>>& selected) {
  UpdateInput rest;
  rest.kind = update.kind;
  for (const TensorView& t : update.tensors) {
    if (IsFloating(t.dtype) && !selected.count(t.name))
      rest.tensors.push_back(t);
  }
  if (rest.tensors.empty()) return 0;
  return ComputeUpdateStats(rest, global).nonfinite;
}

}  // namespace

struct FilterEngine::Impl {
  LogFn log;
  PolicyConfig config;
  std::unique_ptr<Policy> policy;
  std::unique_ptr<Detector> detector;  // null: guards and norms only
  std::set<std::string, std::less<>> detector_tensors;
  std::unique_ptr<StateStore> state_store;  // null: no persistence
  std::unique_ptr<AuditLog> audit;          // null: no audit log
  bool has_round = false;
  uint64_t last_round = 0;

  void Log(LogLevel level, const std::string& message) const {
    if (log) log(level, message);
  }

  nlohmann::json StateJson() const {
    nlohmann::json state = nlohmann::json::object();
    state["round"] = has_round ? nlohmann::json(last_round) : nlohmann::json();
    state["policy"] = policy->SaveState();
    if (detector) state["detector"] = detector->SaveState();
    return state;
  }

  void SetDetector(std::unique_ptr<Detector> d) {
    detector = std::move(d);
    detector_tensors.clear();
    for (const auto& entry : detector->metadata().layout.tensors) {
      detector_tensors.insert(entry.name);
    }
  }

  // Applies a parsed state document; unchanged on error.
  Status ApplyState(const nlohmann::json& state) {
    nlohmann::json old_policy = policy->SaveState();
    auto policy_state = state.find("policy");
    if (policy_state != state.end()) {
      FLS_RETURN_IF_ERROR(policy->LoadState(*policy_state));
    }
    auto detector_state = state.find("detector");
    if (config.detector.bootstrap.enabled && detector_state != state.end()) {
      // A bootstrapped detector lives in the state alone.
      auto restored =
          Detector::FromBootstrapState(*detector_state, config.detector);
      if (!restored.ok()) {
        (void)policy->LoadState(old_policy);
        return restored.status();
      }
      SetDetector(std::move(restored).value());
    } else if (detector && detector_state != state.end()) {
      Status status = detector->LoadState(*detector_state);
      if (!status.ok()) {
        (void)policy->LoadState(old_policy);
        return status;
      }
    }
    auto round = state.find("round");
    if (round != state.end() && round->is_number_unsigned()) {
      has_round = true;
      last_round = round->get<uint64_t>();
    } else {
      has_round = false;
      last_round = 0;
    }
    return Status::Ok();
  }

  std::vector<UpdateScore> ScoreWithoutDetector(
      const RoundInput& round, std::span<const size_t> eligible) const {
    std::vector<UpdateScore> scores(round.updates.size());
    std::vector<double> norms;
    for (size_t i : eligible) {
      const UpdateStats stats =
          ComputeUpdateStats(round.updates[i], round.global);
      scores[i].norm = stats.l2_norm;
      // Without a detector the update's L2 norm is the score the policy's
      // thresholds judge (documented in configs/README.md).
      scores[i].score = stats.l2_norm;
      scores[i].nonfinite = stats.nonfinite;
      if (stats.nonfinite == 0) norms.push_back(stats.l2_norm);
    }
    const double median = Median(norms);
    for (size_t i : eligible) {
      if (scores[i].nonfinite == 0 && median > 0) {
        scores[i].log_norm_ratio = std::log(scores[i].norm / median);
      }
    }
    return scores;
  }
};

FilterEngine::FilterEngine(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
FilterEngine::~FilterEngine() = default;

Result<std::unique_ptr<FilterEngine>> FilterEngine::Create(
    std::string_view config_yaml, const std::string& base_dir, LogFn log) {
  FLS_ASSIGN_OR_RETURN(PolicyConfig config, ParsePolicyYaml(config_yaml));
  auto impl = std::make_unique<Impl>();
  impl->log = std::move(log);
  if (!config.detector.path.empty()) {
    const std::string path = Resolve(base_dir, config.detector.path);
    FLS_ASSIGN_OR_RETURN(std::unique_ptr<Detector> detector,
                         Detector::Load(path, config.detector));
    impl->SetDetector(std::move(detector));
  }
  if (!config.state.path.empty()) {
    impl->state_store = std::make_unique<StateStore>(
        Resolve(base_dir, config.state.path), config.state.on_corrupt);
  }
  if (!config.audit.path.empty()) {
    FLS_ASSIGN_OR_RETURN(impl->audit,
                         AuditLog::Open(Resolve(base_dir, config.audit.path)));
  }
  impl->config = config;
  impl->policy = std::make_unique<Policy>(std::move(config));
  if (impl->state_store) {
    FLS_ASSIGN_OR_RETURN(LoadedState loaded, impl->state_store->Load());
    if (!loaded.warning.empty()) impl->Log(LogLevel::kWarning, loaded.warning);
    if (loaded.state) {
      Status status = impl->ApplyState(*loaded.state);
      if (!status.ok()) {
        return StateError(impl->state_store->path() + ": " + status.message());
      }
    }
  }
  return std::unique_ptr<FilterEngine>(new FilterEngine(std::move(impl)));
}

Result<std::vector<Decision>> FilterEngine::FilterRound(
    const RoundInput& round) {
  Impl& m = *impl_;
  const size_t n = round.updates.size();

  // 1. Guards that need no scores.
  std::vector<PolicyInput> inputs(n);
  const std::vector<std::string> mismatches = FindLayoutMismatches(round);
  std::vector<size_t> eligible;
  for (size_t i = 0; i < n; ++i) {
    const UpdateInput& update = round.updates[i];
    PolicyInput& in = inputs[i];
    in.client_id = update.client_id;
    in.num_examples = update.num_examples;
    if (!update.invalid_reason.empty()) {
      m.Log(LogLevel::kWarning, "round " + std::to_string(round.round) + ": " +
                                    update.invalid_reason);
      in.guard_flags = kFlagInvalid;
      in.guard_reason = "invalid";
      if (in.client_id.empty()) in.client_id = "#" + std::to_string(i);
    } else if (update.kind == UpdateKind::kWeights && round.global.empty()) {
      in.guard_flags = kFlagInvalid;
      in.guard_reason = "missing_global";
    } else if (!mismatches[i].empty()) {
      m.Log(LogLevel::kWarning, "round " + std::to_string(round.round) +
                                    ": client " + update.client_id + ": " +
                                    mismatches[i]);
      in.guard_flags = kFlagShapeMismatch;
      in.guard_reason = "shape_mismatch";
    } else {
      eligible.push_back(i);
    }
  }

  // 2. Scores (one pass over each update's bytes).
  if (!m.detector && m.config.detector.bootstrap.enabled && !eligible.empty()) {
    auto built = Detector::Bootstrap(round, eligible, m.config.detector);
    if (built.ok()) {
      m.SetDetector(std::move(built).value());
      m.Log(LogLevel::kInfo,
            "round " + std::to_string(round.round) +
                ": bootstrapped a detector; learning from " +
                std::to_string(m.config.detector.refresh.warmup_rounds) +
                " warm-up rounds");
    } else {
      m.Log(LogLevel::kError, "round " + std::to_string(round.round) +
                                  ": bootstrapping the detector failed: " +
                                  built.status().message());
    }
  }
  std::vector<UpdateScore> scores;
  if (m.detector && !eligible.empty()) {
    Result<std::vector<UpdateScore>> scored =
        m.detector->ScoreRound(round, eligible);
    if (scored.ok()) {
      scores = std::move(scored).value();
    } else {
      m.Log(LogLevel::kError,
            "round " + std::to_string(round.round) +
                ": scoring failed: " + scored.status().message());
      scores = m.ScoreWithoutDetector(round, eligible);
      for (size_t i : eligible) scores[i].error = scored.status().message();
    }
  } else {
    scores = m.ScoreWithoutDetector(round, eligible);
  }
  // In warm-up rounds (trusted, learned from) the detector's scores are not
  // judged: the norm is the score, as without a detector. When warm-up ends
  // the pooled history of norm scores is forgotten.
  const bool warmup = m.detector && m.detector->in_warmup();
  const uint64_t warmup_rounds = static_cast<uint64_t>(
      std::max(0, m.config.detector.refresh.warmup_rounds));
  if (m.detector && !warmup && warmup_rounds > 0 &&
      m.detector->rounds_learned() == warmup_rounds) {
    m.policy->ForgetScoreHistory();
  }
  for (size_t i : eligible) {
    UpdateScore& s = scores[i];
    if (warmup && s.scored) {
      s.score = s.norm;
      s.scored = false;
    }
    if (m.detector && s.nonfinite == 0) {
      s.nonfinite =
          NonFiniteOutside(round.updates[i], round.global, m.detector_tensors);
    }
    if (s.nonfinite > 0) {
      inputs[i].guard_flags = kFlagNonFinite;
      inputs[i].guard_reason = "nonfinite";
      s.score = NAN;
      s.error.clear();
    }
    inputs[i].score = s;
  }

  // 3. Decisions and per-client memory.
  const Calibration* calibration =
      m.detector ? &m.detector->calibration() : nullptr;
  Result<RoundOutcome> decided =
      m.policy->DecideRound(round.round, inputs, calibration);
  if (!decided.ok()) {
    return RoundFailed("round " + std::to_string(round.round) + ": " +
                       decided.status().message());
  }
  RoundOutcome outcome = std::move(decided).value();
  for (const std::string& note : outcome.notes) {
    m.Log(LogLevel::kWarning,
          "round " + std::to_string(round.round) + ": " + note);
  }

  // 4. Continual refresh from what the policy kept cleanly (no flag at all).
  if (m.detector) {
    std::vector<size_t> clean;
    std::vector<std::string> clients;
    for (size_t i : eligible) {
      const Decision& d = outcome.decisions[i];
      if (KeptClean(d) && scores[i].scored) {
        clean.push_back(i);
        clients.push_back(round.updates[i].client_id);
      }
    }
    auto learned = m.detector->LearnFromRound(round.round, clean, clients);
    if (!learned.ok()) {
      m.Log(LogLevel::kWarning,
            "round " + std::to_string(round.round) +
                ": detector refresh skipped: " + learned.status().message());
    } else if (!learned->note.empty()) {
      m.Log(LogLevel::kWarning, learned->note);
    }
  }
  m.has_round = true;
  m.last_round = round.round;

  // 5. Persistence and audit.
  if (m.state_store) FLS_RETURN_IF_ERROR(m.state_store->Save(m.StateJson()));
  if (m.audit) FLS_RETURN_IF_ERROR(m.audit->AppendRound(outcome.audit_records));
  return std::move(outcome.decisions);
}

Result<std::string> FilterEngine::SaveState() const {
  return SerializeState(impl_->StateJson());
}

Status FilterEngine::LoadState(std::string_view bytes) {
  FLS_ASSIGN_OR_RETURN(nlohmann::json state, ParseState(bytes, "state bytes"));
  return impl_->ApplyState(state);
}

}  // namespace flsentry
