// libFuzzer target: arbitrary bytes as a state file (what the engine reads
// at create from state.path, and what on_state_load is handed). The loader
// must never crash, throw or hang, and what it accepts must round-trip:
// the envelope (ParseState / SerializeState), the policy's client records
// (PolicyStateFromJson), the retry record of the last round
// (RoundRecordFromJson), the audit log's recorded end, the detector-kind
// checks and a bootstrapped detector's metadata. (The detector's weights
// and window are read by Detector::LoadState, which needs the whole
// detector library; its structure checks are exercised by the unit tests.)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "detector/detector_file.h"
#include "engine/round_record.h"
#include "engine/state_checks.h"
#include "engine/state_store.h"
#include "policy/policy_state.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();  // libFuzzer reports it as a crash
}

void CheckPolicy(const nlohmann::json& state) {
  auto policy = state.find("policy");
  if (policy == state.end()) return;
  auto parsed = flsentry::PolicyStateFromJson(*policy);
  if (!parsed.ok()) return;
  const nlohmann::json again = flsentry::PolicyStateToJson(*parsed);
  auto reparsed = flsentry::PolicyStateFromJson(again);
  Require(reparsed.ok());
  Require(flsentry::PolicyStateToJson(*reparsed) == again);
}

void CheckRetry(const nlohmann::json& state) {
  auto retry = state.find("retry");
  if (retry == state.end()) return;
  auto record = flsentry::RoundRecordFromJson(*retry);
  if (!record.ok()) return;
  const nlohmann::json again = flsentry::RoundRecordToJson(*record);
  auto reparsed = flsentry::RoundRecordFromJson(again);
  Require(reparsed.ok());
  Require(reparsed->fingerprint == record->fingerprint);
  Require(reparsed->decisions.size() == record->decisions.size());
  for (const flsentry::Decision& d : reparsed->decisions) {
    Require(d.weight >= 0.0 && d.weight <= 1.0);
  }
}

void CheckDetector(const nlohmann::json& state) {
  flsentry::DetectorConfig bootstrap;
  bootstrap.bootstrap.enabled = true;
  flsentry::DetectorConfig none;
  (void)flsentry::CheckStateDetector(state, {bootstrap, nullptr, "", ""});
  (void)flsentry::CheckStateDetector(state, {none, nullptr, "", ""});
  auto detector = state.find("detector");
  if (detector == state.end() || !detector->is_object()) return;
  auto metadata = detector->find("metadata");
  if (metadata == detector->end()) return;
  auto parsed = flsentry::DetectorMetadataFromJson(*metadata);
  if (parsed.ok()) {
    (void)flsentry::CheckBootstrapMatches(*parsed, bootstrap);
    auto again = flsentry::DetectorMetadataFromJson(
        flsentry::DetectorMetadataToJson(*parsed));
    Require(again.ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto state = flsentry::ParseState(bytes, "fuzz");
  if (!state.ok()) return 0;
  CheckPolicy(*state);
  CheckRetry(*state);
  CheckDetector(*state);
  (void)flsentry::AuditEndInState(*state, "audit.jsonl");
  auto text = flsentry::SerializeState(*state);
  Require(text.ok());
  Require(flsentry::ParseState(*text, "fuzz again").ok());
  return 0;
}
