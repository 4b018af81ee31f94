// baselines.h — robust aggregation rules the filter is compared with, run in
// the reference FL server's process (benchmark harness, not the plugin).
// docs/attacks.md gives each rule's formula and paper.
//
// Updates are flattened client deltas: defined 1-D float32 CPU tensors of one
// common length d > 0 with finite values. Functions are pure and may run
// concurrently. Errors are kInvalidArgument statuses naming the aggregator
// and what is wrong ("aggregator 'multikrum': ..."); nothing is thrown
// except std::bad_alloc.
//
// Example:
//   Result<torch::Tensor> step =
//       Aggregate("multikrum", {{"f", 10}}, updates, sizes);
#ifndef FLSENTRY_INTEGRATION_BASELINES_H_
#define FLSENTRY_INTEGRATION_BASELINES_H_

#include <map>
#include <string>
#include <vector>

#include "base/status.h"

// LibTorch stays out of this header; callers include torch themselves.
namespace at {
class Tensor;
}  // namespace at
namespace torch {
using at::Tensor;
}  // namespace torch

namespace flsentry::sim {

// Aggregator names accepted by Aggregate: "fedavg", "median",
// "trimmed_mean", "multikrum", "normclip".
const std::vector<std::string>& AggregatorTypes();

// Checks a name and its parameters without data, so a configuration can be
// refused before training. kInvalidArgument exactly when Aggregate would
// refuse (type, params) regardless of the updates.
Status CheckAggregatorSpec(const std::string& type,
                           const std::map<std::string, double>& params);

// Combines n client updates into one new 1-D float32 tensor of length d
// (sharing no storage with the inputs). weights[i] is update i's
// num_examples: finite, >= 0, weights.size() == updates.size().
//
// type and params (values finite; unknown names are refused):
//   fedavg        sum_i w_i u_i / sum_i w_i.              (no params)
//   median        coordinate-wise median, unweighted; for even n the mean
//                 of the two middle values.                (no params)
//   trimmed_mean  per coordinate, drop the floor(beta n) smallest and
//                 largest values and average the rest, unweighted.
//                 beta (default 0.1, in [0, 0.5)); REQUIRES n - 2 floor(beta
//                 n) >= 1.
//   multikrum     weighted mean of the m updates with the lowest Krum scores
//                 (MultiKrumSelect). f (required, >= 0; REQUIRES n > 2f + 2),
//                 m (default n - f, in [1, n]).
//   normclip      u_i * min(1, tau / ||u_i||), then the weighted mean.
//                 tau (> 0) if given, else the median of the n L2 norms.
// kInvalidArgument for an unknown type, a bad parameter, no updates,
// mismatched lengths or dtypes, non-finite values, bad weights, or a zero
// total weight over the updates that are averaged.
Result<torch::Tensor> Aggregate(const std::string& type,
                                const std::map<std::string, double>& params,
                                const std::vector<torch::Tensor>& updates,
                                const std::vector<double>& weights);

// Multi-Krum's selection (Blanchard et al. 2017): score(i) = sum of squared
// L2 distances from u_i to its n - f - 2 nearest other updates; returns the
// indices of the m lowest scores, ascending by score (ties by index).
// Needs n > 2f + 2 and 1 <= m <= n, and updates as for Aggregate;
// kInvalidArgument otherwise.
Result<std::vector<int>> MultiKrumSelect(
    const std::vector<torch::Tensor>& updates, int f, int m);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_BASELINES_H_
