#include "engine/state_checks.h"

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "base/hash.h"

namespace flsentry {
namespace {

std::string SizesText(const std::vector<int64_t>& sizes) {
  std::string text = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(sizes[i]);
  }
  return text + "]";
}

std::string BootstrapText(int64_t sketch_dim, int sketch_version,
                          const std::vector<int64_t>& hidden) {
  return "sketch_dim " + std::to_string(sketch_dim) + ", sketch_version " +
         std::to_string(sketch_version) + ", hidden " + SizesText(hidden);
}

}  // namespace

Result<DetectorRestore> CheckStateDetector(
    const nlohmann::json& state, const DetectorExpectation& expected) {
  auto it = state.find("detector");
  if (it == state.end() || it->is_null()) return DetectorRestore{};
  const bool bootstrapped = it->is_object() && it->contains("metadata");
  if (expected.config.bootstrap.enabled) {
    if (!bootstrapped) {
      return StateError(
          "its detector state belongs to a detector loaded from a directory "
          "(detector.path), but the policy now bootstraps its own "
          "(detector.bootstrap.enabled). " +
          std::string(kKeepClientsAdvice));
    }
    return DetectorRestore{DetectorRestore::kBootstrapped, ""};
  }
  if (expected.loaded != nullptr) {
    if (bootstrapped) {
      return StateError(
          "its detector was bootstrapped by flsentry, but the policy now "
          "names a detector directory (" +
          expected.path + "). " + std::string(kKeepClientsAdvice));
    }
    auto source = state.find("detector_source");
    if (source != state.end() && source->is_string() &&
        !expected.source.empty() && *source != expected.source) {
      return StateError(
          "its detector state was saved for another detector directory "
          "(source " +
          source->get<std::string>() + "; " + expected.path + " is " +
          expected.source +
          "): its refreshed weights would replace the new detector's. " +
          std::string(kKeepClientsAdvice));
    }
    return DetectorRestore{DetectorRestore::kIntoLoaded, ""};
  }
  return DetectorRestore{
      DetectorRestore::kNone,
      "the state's detector is ignored: the policy configures no detector "
      "(no detector.path, detector.bootstrap off); it is dropped when the "
      "next round is saved"};
}

Status CheckBootstrapMatches(const DetectorMetadata& metadata,
                             const DetectorConfig& config) {
  const std::vector<int64_t>& sizes = metadata.layer_sizes;
  const std::vector<int64_t> hidden =
      sizes.size() >= 2
          ? std::vector<int64_t>(sizes.begin() + 1, sizes.end() - 1)
          : std::vector<int64_t>{};
  const std::vector<int64_t> want_hidden(config.bootstrap.hidden.begin(),
                                         config.bootstrap.hidden.end());
  if (metadata.features.sketch_dim == config.bootstrap.sketch_dim &&
      metadata.features.sketch_version == config.bootstrap.sketch_version &&
      hidden == want_hidden) {
    return Status::Ok();
  }
  return StateError(
      "its bootstrapped detector was built with " +
      BootstrapText(metadata.features.sketch_dim,
                    metadata.features.sketch_version, hidden) +
      ", but the policy asks for " +
      BootstrapText(config.bootstrap.sketch_dim,
                    config.bootstrap.sketch_version, want_hidden) +
      " (detector.bootstrap): a detector state that does not match the "
      "configured detector is not loaded. " +
      std::string(kKeepClientsAdvice));
}

std::string DetectorSourceId(const std::string& path) {
  Hasher hash;
  for (const char* name : {kDetectorJsonName, kDetectorWeightsName}) {
    std::ifstream in(path + "/" + name, std::ios::binary);
    if (!in) return "";
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    hash.Add(bytes);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, hash.value());
  return hex;
}

std::optional<uint64_t> AuditEndInState(const nlohmann::json& state,
                                        const std::string& audit_path) {
  auto audit = state.find("audit");
  if (audit == state.end() || !audit->is_object()) return std::nullopt;
  auto path = audit->find("path");
  auto end = audit->find("end");
  if (path == audit->end() || !path->is_string() || *path != audit_path ||
      end == audit->end() || !end->is_number_integer() ||
      (!end->is_number_unsigned() && end->get<int64_t>() < 0)) {
    return std::nullopt;
  }
  return end->get<uint64_t>();
}

}  // namespace flsentry
