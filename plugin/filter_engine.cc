#include "filter_engine.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "layout_check.h"
#include "update_stats.h"

namespace flsentry {

struct FilterEngine::Impl {
  LogFn log;
  uint64_t last_round = 0;
  bool has_round = false;

  void Log(LogLevel level, const std::string& message) const {
    if (log) log(level, message);
  }
};

FilterEngine::FilterEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FilterEngine::~FilterEngine() = default;

Result<std::unique_ptr<FilterEngine>> FilterEngine::Create(
    std::string_view config_yaml, const std::string& base_dir, LogFn log) {
  (void)base_dir;
  try {
    YAML::Node root = YAML::Load(std::string(config_yaml));
    if (root && !root.IsNull() && !root.IsMap()) {
      return ConfigError("policy: the document must be a mapping of keys");
    }
  } catch (const YAML::Exception& e) {
    return ConfigError("policy: invalid YAML at line " +
                       std::to_string(e.mark.line + 1) + ", column " +
                       std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  auto impl = std::make_unique<Impl>();
  impl->log = std::move(log);
  return std::unique_ptr<FilterEngine>(new FilterEngine(std::move(impl)));
}

Result<std::vector<Decision>> FilterEngine::FilterRound(const RoundInput& round) {
  std::vector<Decision> decisions(round.updates.size());
  const std::vector<std::string> mismatches = FindLayoutMismatches(round);
  for (size_t i = 0; i < round.updates.size(); ++i) {
    const UpdateInput& update = round.updates[i];
    Decision& d = decisions[i];
    auto drop = [&d](uint32_t flag, std::string reason) {
      d.action = Action::kDrop;
      d.weight = 0.0;
      d.flags |= flag;
      d.reason = std::move(reason);
    };
    if (!update.invalid_reason.empty()) {
      impl_->Log(LogLevel::kWarning, "round " + std::to_string(round.round) +
                                         ": update " + std::to_string(i) +
                                         " dropped: " + update.invalid_reason);
      drop(kFlagInvalid, "invalid");
      continue;
    }
    if (update.kind == UpdateKind::kWeights && round.global.empty()) {
      drop(kFlagInvalid, "missing_global");
      continue;
    }
    if (!mismatches[i].empty()) {
      impl_->Log(LogLevel::kWarning, "round " + std::to_string(round.round) +
                                         ": client " + update.client_id +
                                         ": " + mismatches[i]);
      drop(kFlagShapeMismatch, "shape_mismatch");
      continue;
    }
    const UpdateStats stats = ComputeUpdateStats(update, round.global);
    d.score = stats.l2_norm;
    if (stats.nonfinite > 0) {
      d.score = NAN;
      drop(kFlagNonFinite, "nonfinite");
      continue;
    }
  }
  impl_->last_round = round.round;
  impl_->has_round = true;
  return decisions;
}

Result<std::string> FilterEngine::SaveState() const {
  nlohmann::json state = {{"format", "flsentry-state/1"}};
  if (impl_->has_round) state["round"] = impl_->last_round;
  return state.dump();
}

Status FilterEngine::LoadState(std::string_view bytes) {
  nlohmann::json state = nlohmann::json::parse(bytes, nullptr, false);
  if (state.is_discarded() || !state.is_object()) {
    return StateError("state: not a JSON object");
  }
  auto format = state.find("format");
  if (format == state.end() || *format != "flsentry-state/1") {
    return StateError("state: unknown format (expected flsentry-state/1)");
  }
  auto round = state.find("round");
  if (round != state.end()) {
    if (!round->is_number_unsigned()) {
      return StateError("state: round must be a non-negative integer");
    }
    impl_->last_round = round->get<uint64_t>();
    impl_->has_round = true;
  }
  return Status::Ok();
}

}  // namespace flsentry
