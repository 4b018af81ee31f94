// detector_file.h — the detector on disk (docs/detector.md): a directory
//   DETECTOR/detector.json        metadata (format, features, layout,
//                                 architecture, calibration, provenance)
//   DETECTOR/weights.safetensors  the autoencoder's float32 weights,
//                                 named layers.<i>.weight / layers.<i>.bias
// Both files are untrusted on read: every field is validated and errors name
// the file and the field. No LibTorch.
#ifndef FLSENTRY_DETECTOR_DETECTOR_FILE_H_
#define FLSENTRY_DETECTOR_DETECTOR_FILE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "detector/activation.h"
#include "features/feature_extractor.h"
#include "features/scoring.h"
#include "tensor/tensor_set.h"

namespace flsentry {

// detector.json's "format" value written and read.
inline constexpr std::string_view kDetectorFormat = "flsentry-detector/1";
inline constexpr const char* kDetectorJsonName = "detector.json";
inline constexpr const char* kDetectorWeightsName = "weights.safetensors";
// Largest detector.json read, in bytes.
inline constexpr uint64_t kMaxDetectorJsonBytes = 256ull << 20;

struct DetectorMetadata {
  FeatureSettings features;
  FeatureLayout layout;
  // {input, h1, ..., input}.
  std::vector<int64_t> layer_sizes;
  // One per layer, applied to its output. Empty means DefaultActivations
  // (ReLU after every layer but the last), which is also what a
  // detector.json without "activations" means; read back always full.
  std::vector<Activation> activations;
  Calibration calibration;  // count 0 when not calibrated
  // Free-form record of how the detector was made: inputs, counts, seed,
  // date, flsentry version, training report.
  nlohmann::json provenance = nlohmann::json::object();
};

nlohmann::json DetectorMetadataToJson(const DetectorMetadata& metadata);
// Errors: kUnsupported for another "format"; kCorrupt naming the field.
Result<DetectorMetadata> DetectorMetadataFromJson(const nlohmann::json& json);

nlohmann::json CalibrationToJson(const Calibration& calibration);
Result<Calibration> CalibrationFromJson(const nlohmann::json& json);

// Calibration from benign scores: count, mean, stddev (population) and the
// quantiles 0.5, 0.9, 0.95, 0.99, 0.999 and 1.0 (linear interpolation
// between order statistics). Non-finite scores are ignored. Empty input
// gives count 0 and NaN statistics.
Calibration CalibrationFromScores(std::vector<double> scores);

// Writes `dir` (created if missing; existing detector files replaced, each
// atomically). Errors: kIo naming the path.
Status WriteDetectorDir(const std::string& dir,
                        const DetectorMetadata& metadata,
                        std::span<const TensorView> weights);

struct DetectorFiles {
  DetectorMetadata metadata;
  TensorSet weights;  // as read from weights.safetensors
};

// Reads and validates a detector directory. Errors: kNotFound when `dir` or
// one of its files is missing, kCorrupt / kUnsupported naming the file and
// what is wrong; the message starts with `dir`.
Result<DetectorFiles> ReadDetectorDir(const std::string& dir);

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_DETECTOR_FILE_H_
