#include "detector/detector_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "base/file_reader.h"
#include "base/file_writer.h"
#include "base/json_reader.h"
#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

constexpr double kQuantileLevels[] = {0.5, 0.9, 0.95, 0.99, 0.999, 1.0};

// JSON cannot hold NaN: statistics that are NaN are written as null.
nlohmann::json NumberOrNull(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

Result<double> ReadNumberOrNull(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return NAN;
  if (!j.at(key).is_number())
    return Corrupt(std::string("calibration.") + key + ": expected a number");
  return j.at(key).get<double>();
}

// architecture.activation is "relu" when the list is the legacy default
// (so readers that predate "activations" compute the same network) and
// "per_layer" otherwise (which such readers refuse instead of misreading).
constexpr const char* kLegacyActivation = "relu";
constexpr const char* kPerLayerActivation = "per_layer";

// Reads architecture.activation / activations into m->activations (after
// m->layer_sizes).
Status ReadActivations(const nlohmann::json& arch, DetectorMetadata* m) {
  const size_t layers = m->layer_sizes.size() - 1;
  const std::string kind = arch.value("activation", "");
  if (kind != kLegacyActivation && kind != kPerLayerActivation) {
    return Unsupported("architecture.activation '" + kind +
                       "' is not supported (relu, per_layer)");
  }
  if (!arch.contains("activations")) {
    if (kind == kPerLayerActivation) {
      return Corrupt("architecture.activation per_layer without 'activations'");
    }
    m->activations = DefaultActivations(layers);
    return Status::Ok();
  }
  const auto& list = arch.at("activations");
  if (!list.is_array() || list.size() != layers) {
    return Corrupt("architecture.activations: expected an array of " +
                   std::to_string(layers) + " names (one per layer)");
  }
  for (size_t i = 0; i < layers; ++i) {
    const std::string name =
        list[i].is_string() ? list[i].get<std::string>() : list[i].dump();
    if (name != "relu" && name != "none") {
      return Unsupported("architecture.activations[" + std::to_string(i) +
                         "]: '" + name + "' is not supported (relu, none)");
    }
    m->activations.push_back(name == "relu" ? Activation::kRelu
                                            : Activation::kNone);
  }
  if (kind == kLegacyActivation &&
      m->activations != DefaultActivations(layers)) {
    return Corrupt(
        "architecture.activation 'relu' contradicts architecture.activations "
        "(write per_layer)");
  }
  return Status::Ok();
}

}  // namespace

nlohmann::json CalibrationToJson(const Calibration& c) {
  nlohmann::json q = nlohmann::json::object();
  for (const auto& [level, value] : c.quantiles) {
    std::ostringstream key;
    key << level;
    q[key.str()] = NumberOrNull(value);
  }
  return {{"count", c.count},
          {"mean", NumberOrNull(c.mean)},
          {"stddev", NumberOrNull(c.stddev)},
          {"quantiles", q}};
}

Result<Calibration> CalibrationFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Corrupt("calibration: expected an object");
  Calibration c;
  if (!j.contains("count") || !j.at("count").is_number_integer() ||
      j.at("count").get<int64_t>() < 0) {
    return Corrupt("calibration.count: expected a non-negative integer");
  }
  c.count = j.at("count").get<int64_t>();
  FLS_ASSIGN_OR_RETURN(c.mean, ReadNumberOrNull(j, "mean"));
  FLS_ASSIGN_OR_RETURN(c.stddev, ReadNumberOrNull(j, "stddev"));
  if (j.contains("quantiles")) {
    if (!j.at("quantiles").is_object())
      return Corrupt("calibration.quantiles: expected an object");
    for (const auto& [key, value] : j.at("quantiles").items()) {
      char* end = nullptr;
      const double level = std::strtod(key.c_str(), &end);
      if (key.empty() || *end != '\0' || !(level >= 0.0 && level <= 1.0)) {
        return Corrupt("calibration.quantiles: level '" + key +
                       "' is not in [0, 1]");
      }
      if (!value.is_number()) continue;  // null: not computed
      c.quantiles[level] = value.get<double>();
    }
  }
  return c;
}

Calibration CalibrationFromScores(std::vector<double> scores) {
  std::erase_if(scores, [](double s) { return !std::isfinite(s); });
  Calibration c;
  c.count = static_cast<int64_t>(scores.size());
  if (scores.empty()) return c;
  std::sort(scores.begin(), scores.end());
  double sum = 0.0;
  for (double s : scores) sum += s;
  c.mean = sum / static_cast<double>(scores.size());
  double var = 0.0;
  for (double s : scores) var += (s - c.mean) * (s - c.mean);
  c.stddev = std::sqrt(var / static_cast<double>(scores.size()));
  for (double level : kQuantileLevels) {
    const double pos = level * static_cast<double>(scores.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(scores.size() - 1, lo + 1);
    const double t = pos - static_cast<double>(lo);
    c.quantiles[level] = scores[lo] + t * (scores[hi] - scores[lo]);
  }
  return c;
}

nlohmann::json DetectorMetadataToJson(const DetectorMetadata& m) {
  const std::vector<Activation> activations =
      m.activations.empty() && !m.layer_sizes.empty()
          ? DefaultActivations(m.layer_sizes.size() - 1)
          : m.activations;
  nlohmann::json names = nlohmann::json::array();
  for (Activation a : activations) names.push_back(ActivationName(a));
  const bool legacy = activations == DefaultActivations(activations.size());
  return {{"format", kDetectorFormat},
          {"features", FeatureSettingsToJson(m.features)},
          {"layout", FeatureLayoutToJson(m.layout)},
          {"architecture",
           {{"type", "mlp_autoencoder"},
            {"layer_sizes", m.layer_sizes},
            {"activation", legacy ? kLegacyActivation : kPerLayerActivation},
            {"activations", names},
            {"weights", kDetectorWeightsName}}},
          {"calibration", CalibrationToJson(m.calibration)},
          {"provenance", m.provenance}};
}

Result<DetectorMetadata> DetectorMetadataFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Corrupt("expected a JSON object");
  if (!j.contains("format") || !j.at("format").is_string()) {
    return Corrupt("missing string field 'format'");
  }
  if (j.at("format").get<std::string>() != kDetectorFormat) {
    return Unsupported("format '" + j.at("format").get<std::string>() +
                       "' is not " + std::string(kDetectorFormat));
  }
  DetectorMetadata m;
  if (!j.contains("features")) return Corrupt("missing field 'features'");
  FLS_ASSIGN_OR_RETURN(m.features, FeatureSettingsFromJson(j.at("features")));
  if (!j.contains("layout")) return Corrupt("missing field 'layout'");
  FLS_ASSIGN_OR_RETURN(m.layout, FeatureLayoutFromJson(j.at("layout")));
  if (!j.contains("architecture") || !j.at("architecture").is_object()) {
    return Corrupt("missing object 'architecture'");
  }
  const auto& arch = j.at("architecture");
  if (arch.value("type", "") != "mlp_autoencoder") {
    return Unsupported("architecture: only type mlp_autoencoder is supported");
  }
  if (!arch.contains("layer_sizes") || !arch.at("layer_sizes").is_array() ||
      arch.at("layer_sizes").size() < 2) {
    return Corrupt(
        "architecture.layer_sizes: expected an array of at least 2 sizes");
  }
  for (const auto& s : arch.at("layer_sizes")) {
    if (!s.is_number_integer() || s.get<int64_t>() < 1) {
      return Corrupt("architecture.layer_sizes: expected positive integers");
    }
    m.layer_sizes.push_back(s.get<int64_t>());
  }
  const int64_t embedding_dim = m.features.mode == EmbeddingMode::kSketch
                                    ? m.features.sketch_dim
                                    : m.layout.num_coordinates;
  if (m.layer_sizes.front() != embedding_dim ||
      m.layer_sizes.back() != embedding_dim) {
    return Corrupt(
        "architecture.layer_sizes: input/output size must equal the embedding "
        "size " +
        std::to_string(embedding_dim));
  }
  FLS_RETURN_IF_ERROR(ReadActivations(arch, &m));
  if (j.contains("calibration")) {
    FLS_ASSIGN_OR_RETURN(m.calibration,
                         CalibrationFromJson(j.at("calibration")));
  }
  if (j.contains("provenance")) m.provenance = j.at("provenance");
  return m;
}

Status WriteDetectorDir(const std::string& dir,
                        const DetectorMetadata& metadata,
                        std::span<const TensorView> weights) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(dir + ": cannot create directory: " + ec.message());
  const std::string weights_path =
      (std::filesystem::path(dir) / kDetectorWeightsName).string();
  FLS_RETURN_IF_ERROR(WriteTensorFile(
      weights_path, weights, {{"format", std::string(kDetectorFormat)}}));
  FileWriter json_file;
  const std::string json_path =
      (std::filesystem::path(dir) / kDetectorJsonName).string();
  FLS_RETURN_IF_ERROR(json_file.Open(json_path));
  FLS_RETURN_IF_ERROR(
      json_file.Write(DetectorMetadataToJson(metadata).dump(2) + "\n"));
  return json_file.Commit();
}

Result<DetectorFiles> ReadDetectorDir(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    return NotFound(dir + ": no such detector");
  if (!std::filesystem::is_directory(dir, ec)) {
    return InvalidArgument(dir + ": a detector is a directory holding " +
                           kDetectorJsonName + " and " + kDetectorWeightsName);
  }
  const std::string json_path =
      (std::filesystem::path(dir) / kDetectorJsonName).string();
  auto text = ReadWholeFile(json_path, kMaxDetectorJsonBytes);
  if (!text.ok()) {
    if (text.status().code() == ErrorCode::kInvalidArgument)
      return Corrupt(text.status().message());
    return text.status();
  }
  auto parsed = ParseJsonStrict(*text);
  if (!parsed.ok()) return parsed.status().WithContext(json_path);
  const nlohmann::json j = std::move(parsed).value();
  DetectorFiles files;
  auto metadata = DetectorMetadataFromJson(j);
  if (!metadata.ok()) return metadata.status().WithContext(json_path);
  files.metadata = std::move(metadata).value();
  const std::string weights_path =
      (std::filesystem::path(dir) / kDetectorWeightsName).string();
  if (!std::filesystem::exists(weights_path, ec))
    return NotFound(weights_path + ": missing");
  FLS_ASSIGN_OR_RETURN(files.weights, ReadTensorFile(weights_path));
  return files;
}

}  // namespace flsentry
