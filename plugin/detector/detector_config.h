// detector_config.h — the `detector:` section of a policy file, as parsed by
// policy_config (which validates types and ranges) and consumed by the
// detector. Plain values, no YAML.
#ifndef FLSENTRY_DETECTOR_DETECTOR_CONFIG_H_
#define FLSENTRY_DETECTOR_DETECTOR_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

namespace flsentry {

struct RefreshConfig {
  bool enabled = true;    // false: a frozen, audited detector
  int window_rounds = 3;  // learn from updates accepted in the last N rounds
  int epochs = 20;        // passes over the window before each round
  double learning_rate = 5e-3;  // Adam's step size during refresh
  // At most this share of a refresh's training set may come from one client.
  double max_client_share = 0.34;
  // At most this many rows per fine-tune, spread evenly over the window
  // (newest first, after max_client_share): a refresh costs at most
  // epochs x max_rows rows whatever the round's size. Also the most rows
  // one round adds to the window (evenly spaced over its clean updates), so
  // the window holds at most window_rounds x max_rows rows.
  int max_rows = 1024;
  int warmup_rounds = 0;    // first N rounds are trusted and only learned from
  int warmup_epochs = 300;  // passes over the window after each warm-up round
};

// A detector built inside the plugin when no trained one is named: on the
// first round with well-formed updates the plugin selects that round's
// floating tensors, builds a sketch embedding of `sketch_dim` and a freshly
// initialised autoencoder {sketch_dim, hidden..., sketch_dim} (seeded by
// DetectorConfig::seed), and learns from the refresh.warmup_rounds trusted
// rounds before its scores are judged. It has no calibration.
struct BootstrapConfig {
  bool enabled = false;
  int64_t sketch_dim = 1024;
  int sketch_version = 1;  // FeatureSettings::sketch_version (1 or 2)
  std::vector<int64_t> hidden = {256, 64};
};

struct DetectorConfig {
  // Detector file or directory (detector.json + weights.safetensors);
  // relative paths resolve against the host's base_dir. Empty: no detector,
  // only the guards run and the score is the update's L2 norm.
  std::string path;
  RefreshConfig refresh;
  BootstrapConfig bootstrap;  // only with an empty `path`
  int threads = 1;    // threads for embedding, scoring and refresh; results
                      // do not depend on it
  uint64_t seed = 1;  // seeds refresh training, for replayable runs
  // Whether Embed measures column energies (UpdateFeatures::column_energy,
  // a second pass over one tensor) and ScoreRound the column shares. Not a
  // YAML key: ParsePolicyYaml sets it to guards.columns.enabled, the one
  // reader.
  bool column_energy = true;
};

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_DETECTOR_CONFIG_H_
