#include <filesystem>

#include "engine/filter_engine.h"
#include "engine/filter_engine_impl.h"
#include "engine/state_checks.h"

namespace flsentry {
namespace {

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty()) return path;
  std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

}  // namespace

nlohmann::json FilterEngine::Impl::StateJson(const Detector* d,
                                             std::optional<uint64_t> round,
                                             const RoundRecord* record) const {
  nlohmann::json state = nlohmann::json::object();
  state["round"] = round ? nlohmann::json(*round) : nlohmann::json();
  state["policy"] = policy->SaveState();
  if (d) state["detector"] = d->SaveState();
  if (d && !d->bootstrapped() && !detector_source.empty()) {
    state["detector_source"] = detector_source;
  }
  if (audit) {  // the path as configured: the same under any base_dir
    state["audit"] = {{"path", config.audit.path}, {"end", audit->end()}};
  }
  if (record) state["retry"] = RoundRecordToJson(*record);
  return state;
}

nlohmann::json FilterEngine::Impl::CurrentStateJson() const {
  return StateJson(
      detector.get(),
      has_round ? std::optional<uint64_t>(last_round) : std::nullopt,
      last_record ? &*last_record : nullptr);
}

// Applies a parsed state document; unchanged on error.
Status FilterEngine::Impl::ApplyState(const nlohmann::json& state) {
  std::optional<uint64_t> round;
  auto round_it = state.find("round");
  if (round_it != state.end() && round_it->is_number_unsigned()) {
    round = round_it->get<uint64_t>();
  }
  std::optional<RoundRecord> record;
  auto retry = state.find("retry");
  if (retry != state.end() && !retry->is_null()) {
    FLS_ASSIGN_OR_RETURN(record, RoundRecordFromJson(*retry));
    if (!round || record->round != *round) record.reset();  // stale
  }
  const DetectorExpectation expected{config.detector, detector.get(),
                                     detector_path, detector_source};
  FLS_ASSIGN_OR_RETURN(DetectorRestore restore,
                       CheckStateDetector(state, expected));
  if (!restore.warning.empty()) Log(LogLevel::kWarning, restore.warning);

  const PolicyState old_policy = policy->state();
  auto policy_state = state.find("policy");
  if (policy_state != state.end()) {
    FLS_RETURN_IF_ERROR(policy->LoadState(*policy_state));
  }
  const nlohmann::json* detector_state =
      state.contains("detector") ? &state.at("detector") : nullptr;
  if (restore.kind == DetectorRestore::kBootstrapped) {
    // A bootstrapped detector lives in the state alone.
    auto restored =
        Detector::FromBootstrapState(*detector_state, config.detector);
    Status matches =
        restored.ok()
            ? CheckBootstrapMatches((*restored)->metadata(), config.detector)
            : restored.status();
    if (!matches.ok()) {
      policy->RestoreState(old_policy);
      return restored.ok()
                 ? matches
                 : StateError(matches.message() + ". " + kKeepClientsAdvice);
    }
    detector_tensors = DetectorTensors(**restored);
    detector = std::move(restored).value();
  } else if (restore.kind == DetectorRestore::kIntoLoaded) {
    Status status = detector->LoadState(*detector_state);
    if (!status.ok()) {
      policy->RestoreState(old_policy);
      return StateError(status.message() + ". " + kKeepClientsAdvice);
    }
  }
  has_round = round.has_value();
  last_round = round.value_or(0);
  last_record = std::move(record);
  return Status::Ok();
}

FilterEngine::FilterEngine(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

FilterEngine::~FilterEngine() {
  try {
    impl_->JoinRefresh();  // its messages are logged here, on this thread
  } catch (...) {          // a log callback that threw: nothing to tell it to
  }
}

Result<std::unique_ptr<FilterEngine>> FilterEngine::Create(
    std::string_view config_yaml, const std::string& base_dir, LogFn log) {
  FLS_ASSIGN_OR_RETURN(PolicyConfig config, ParsePolicyYaml(config_yaml));
  auto impl = std::make_unique<Impl>();
  impl->log = std::move(log);
  if (!config.detector.path.empty()) {
    impl->detector_path = Resolve(base_dir, config.detector.path);
    FLS_ASSIGN_OR_RETURN(impl->detector,
                         Detector::Load(impl->detector_path, config.detector));
    impl->detector_tensors = DetectorTensors(*impl->detector);
    impl->detector_source = DetectorSourceId(impl->detector_path);
  }
  impl->config = config;
  impl->policy = std::make_unique<Policy>(std::move(config));
  const PolicyConfig& c = impl->config;
  std::optional<nlohmann::json> state;
  if (!c.state.path.empty()) {
    const std::string path = Resolve(base_dir, c.state.path);
    FLS_ASSIGN_OR_RETURN(impl->state_lock,
                         FileLock::Acquire(path, "state file"));
    impl->state_store = std::make_unique<StateStore>(path, c.state.on_corrupt);
    if (const size_t stale = impl->state_store->RemoveStaleTemporaries()) {
      impl->Log(LogLevel::kWarning,
                "removed " + std::to_string(stale) +
                    " temporary state file(s) that an interrupted save left "
                    "beside " +
                    path);
    }
    FLS_ASSIGN_OR_RETURN(LoadedState loaded, impl->state_store->Load());
    if (!loaded.warning.empty()) impl->Log(LogLevel::kWarning, loaded.warning);
    state = std::move(loaded.state);
  }
  if (state) {
    Status status = impl->ApplyState(*state);
    if (!status.ok()) {
      return StateError(impl->state_store->path() + ": " + status.message());
    }
  }
  if (!c.audit.path.empty()) {
    const std::string path = Resolve(base_dir, c.audit.path);
    std::string warning;
    FLS_ASSIGN_OR_RETURN(
        impl->audit,
        AuditLog::Open(
            path, state ? AuditEndInState(*state, c.audit.path) : std::nullopt,
            &warning));
    if (!warning.empty()) impl->Log(LogLevel::kWarning, warning);
  }
  std::unique_ptr<FilterEngine> engine(new FilterEngine(std::move(impl)));
  engine->impl_->StartRefresh();  // a state saved with a pending refresh
  return engine;
}

Result<std::string> FilterEngine::SaveState() const {
  impl_->JoinRefresh();
  return SerializeState(impl_->CurrentStateJson());
}

Status FilterEngine::LoadState(std::string_view bytes) {
  impl_->JoinRefresh();
  FLS_ASSIGN_OR_RETURN(nlohmann::json state, ParseState(bytes, "state bytes"));
  Status applied = impl_->ApplyState(state);
  if (applied.ok()) impl_->CloseOpenRound("loading a state");
  impl_->StartRefresh();  // the loaded state's pending refresh, if any
  return applied;
}

}  // namespace flsentry
