// detector_train.h — offline training of a detector from tensor files (the
// `flsentry train` command): reads a flat folder of updates or a round
// archive (only clients labelled benign when labels exist), embeds every
// update, trains the autoencoder with a held-out validation split, calibrates
// on the held-out updates and writes the detector directory. Also imports an
// autoencoder trained by the original Python tool. No LibTorch in this
// header.
#ifndef FLSENTRY_DETECTOR_DETECTOR_TRAIN_H_
#define FLSENTRY_DETECTOR_DETECTOR_TRAIN_H_

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "detector/autoencoder.h"
#include "features/feature_extractor.h"

namespace flsentry {

// train.yaml (documented in docs/detector.md).
struct DetectorTrainConfig {
  FeatureSettings features;
  // Encoder layer sizes after the input; the decoder mirrors them.
  std::vector<int64_t> hidden = {256, 64};
  TrainOptions train;
  // Which rounds of an archive to learn from (inclusive).
  uint64_t first_round = 0;
  uint64_t last_round = std::numeric_limits<uint64_t>::max();
  // Sub-tree of nested checkpoints holding the model (ReadOptions::key_path).
  std::string key_path;
};

// Largest train config accepted, in bytes.
inline constexpr size_t kMaxTrainConfigBytes = 1u << 20;

// Parses train.yaml text with the strict YAML reader (base/yaml_reader.h):
// unknown or repeated keys, wrong types, quoted numbers and out-of-range
// values are kConfig errors "train config: <key path>: <problem> (line L,
// column C)". Empty text gives defaults. Never throws.
Result<DetectorTrainConfig> ParseTrainConfigYaml(const std::string& text);

// Trains a detector on the updates under `input` (see OpenRoundArchive for
// accepted layouts) and writes it to `out_dir`. Returns a summary (JSON: the
// provenance written into detector.json, plus "skipped" files with reasons).
// Files that cannot be read or embedded are skipped and listed; fewer than
// two usable updates is kInvalidArgument naming the folder. Progress goes to
// stderr when `progress` is set.
Result<nlohmann::json> TrainDetector(const std::string& input,
                                     const DetectorTrainConfig& config,
                                     const std::string& out_dir, bool progress);

// Imports a `state_dict()` of Linear layers saved by the original Python
// tool (`autoencoder.pth`): consecutive "<prefix>.weight" / "<prefix>.bias"
// pairs of 2-D/1-D float tensors in file order. The activation after each
// Linear is `activations` when given (ParseActivationList: one name per
// Linear), else what the keys imply (InferActivations). The model's layout
// comes from `reference` (one update file); the embedding is `identity`
// without normalisation, as in the original. When `calibrate` is non-empty,
// benign updates under it calibrate the detector. Returns a summary: the
// provenance written into detector.json (with "activations_source" and
// "assumptions"), "layer_sizes", "activations" (comma-joined),
// "calibration", "detector". Errors name the file and the mismatch (e.g.
// input size vs the reference's parameter count, "--activations: 3
// activations given for 4 Linear layers").
Result<nlohmann::json> ImportSeedAutoencoder(
    const std::string& pth_path, const std::string& reference,
    const std::string& calibrate, const std::string& out_dir,
    const std::string& activations = "");

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_DETECTOR_TRAIN_H_
