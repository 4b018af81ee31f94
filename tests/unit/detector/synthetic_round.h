// synthetic_round.h — small in-memory rounds for the detector's tests:
// client c sends its own seeded direction (times a sign) plus noise, and a
// detector bootstrapped on a 64-dimensional sketch. Test-only.
#ifndef FLSENTRY_TESTS_UNIT_DETECTOR_SYNTHETIC_ROUND_H_
#define FLSENTRY_TESTS_UNIT_DETECTOR_SYNTHETIC_ROUND_H_

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "detector/detector.h"
#include "features/round_input.h"

namespace flsentry::testing {

// A round of one-tensor updates built in memory: client i sends `rows[i]`.
struct SyntheticRound {
  std::vector<std::vector<float>> rows;
  std::vector<std::string> ids;
  const std::vector<int64_t> shape = {256};
  RoundInput round;
  std::vector<size_t> all;

  SyntheticRound(uint64_t number, std::vector<std::vector<float>> data,
                 std::vector<std::string> clients)
      : rows(std::move(data)), ids(std::move(clients)) {
    round.round = number;
    for (size_t i = 0; i < rows.size(); ++i) {
      UpdateInput u;
      u.client_id = ids[i];
      u.tensors.push_back({"w", DType::kF32, shape, {}, rows[i].data()});
      round.updates.push_back(std::move(u));
      all.push_back(i);
    }
  }
};

// Client c's own direction (seeded), scaled by `sign`, plus noise.
inline std::vector<float> Direction(int c, float sign, uint64_t noise_seed) {
  std::vector<float> v(256);
  uint64_t s = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(c + 1);
  uint64_t n = noise_seed * 0xbf58476d1ce4e5b9ULL + 1;
  for (float& x : v) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    n ^= n << 13, n ^= n >> 7, n ^= n << 17;
    x = sign * (static_cast<float>(s % 2001) / 1000.0f - 1.0f) +
        0.05f * (static_cast<float>(n % 2001) / 1000.0f - 1.0f);
  }
  return v;
}

// A bootstrapped detector on a 64-dimensional sketch, one warm-up round.
inline DetectorConfig SmallConfig() {
  DetectorConfig config;
  config.bootstrap.enabled = true;
  config.bootstrap.sketch_dim = 64;
  config.bootstrap.hidden = {32, 16};
  config.refresh.warmup_rounds = 1;
  config.refresh.warmup_epochs = 300;
  config.refresh.epochs = 5;
  return config;
}

inline std::unique_ptr<Detector> BootstrapSmall(
    const SyntheticRound& first, const DetectorConfig& config = SmallConfig()) {
  auto d = Detector::Bootstrap(first.round, first.all, config);
  REQUIRE_MESSAGE(d.ok(), d.status().message());
  return std::move(d).value();
}

}  // namespace flsentry::testing

#endif  // FLSENTRY_TESTS_UNIT_DETECTOR_SYNTHETIC_ROUND_H_
