// detector_config.h — the `detector:` section of a policy file, as parsed by
// policy_config (which validates types and ranges) and consumed by the
// detector. Plain values; no LibTorch, no YAML.
#ifndef FLSENTRY_DETECTOR_CONFIG_H_
#define FLSENTRY_DETECTOR_CONFIG_H_

#include <cstdint>
#include <string>

namespace flsentry {

struct RefreshConfig {
  bool enabled = true;         // false: a frozen, audited detector
  int window_rounds = 3;       // learn from updates accepted in the last N rounds
  int epochs = 3;              // passes over the window before each round
  double learning_rate = 1e-3; // Adam's step size during refresh
  // At most this share of a refresh's training set may come from one client.
  double max_client_share = 0.34;
  int warmup_rounds = 0;       // first N rounds are trusted and only learned from
};

struct DetectorConfig {
  // Detector file or directory (detector.json + weights.safetensors);
  // relative paths resolve against the host's base_dir. Empty: no detector,
  // only the guards run and the score is the update's L2 norm.
  std::string path;
  RefreshConfig refresh;
  int threads = 1;        // LibTorch intra-op threads during a round
  uint64_t seed = 1;      // seeds refresh training, for replayable runs
};

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_CONFIG_H_
