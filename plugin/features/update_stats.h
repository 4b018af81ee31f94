// update_stats.h — one streaming pass over an update: its L2 norm (of the
// delta from the global model when the update holds full weights) and its
// count of non-finite values. This is the score flsentry reports when no
// detector is configured. No LibTorch; reads tensors in place, any float
// dtype, any strides. Thread-safe (pure function).
#ifndef FLSENTRY_FEATURES_UPDATE_STATS_H_
#define FLSENTRY_FEATURES_UPDATE_STATS_H_

#include <cstdint>

#include "features/round_input.h"

namespace flsentry {

struct UpdateStats {
  double l2_norm = 0.0;   // sqrt of the sum of squares, accumulated in f64
  int64_t nonfinite = 0;  // NaN or +-Inf elements in the update
  int64_t numel = 0;      // elements visited
};

// REQUIRES: the update's layout matches `global` when kind is kWeights (run
// the layout check first); every view passed ValidateView.
UpdateStats ComputeUpdateStats(const UpdateInput& update,
                               const std::vector<TensorView>& global);

}  // namespace flsentry

#endif  // FLSENTRY_FEATURES_UPDATE_STATS_H_
