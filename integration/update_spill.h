// update_spill.h — the reference server's on-arrival mode (ABI 1.2,
// docs/on-arrival.md): each update, once the filter has taken it, is
// written to an unnamed scratch file and freed, and FedAvg reads the ones
// the filter kept back one at a time. The server then holds the global
// model, the average's accumulator and one update, whatever the round's
// size: "keep the updates on disk" of the ways a host can honour a drop
// decided at the round's end.
//
// Host-side harness code. Not thread-safe.
#ifndef FLSENTRY_INTEGRATION_UPDATE_SPILL_H_
#define FLSENTRY_INTEGRATION_UPDATE_SPILL_H_

#include <torch/types.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "base/status.h"
#include "filter_client.h"

namespace flsentry::sim {

class UpdateSpill {
 public:
  // An empty spill of updates of `d` float32 each, in a scratch file the
  // system removes when it is closed (tmpfile). Errors: kIo.
  static Result<UpdateSpill> Create(int64_t d);

  // Appends one update (1-D float32 contiguous, d elements) and returns
  // its index. Errors: kInvalidArgument (shape), kIo (disk full...).
  Result<size_t> Append(const torch::Tensor& update);
  // Update `index`, read back into a new tensor. Errors: kInvalidArgument
  // (index), kIo.
  Result<torch::Tensor> Read(size_t index) const;
  size_t size() const { return count_; }

 private:
  struct Closer {
    void operator()(FILE* f) const { std::fclose(f); }
  };
  UpdateSpill(std::unique_ptr<FILE, Closer> file, int64_t d)
      : file_(std::move(file)), d_(d) {}
  std::unique_ptr<FILE, Closer> file_;
  int64_t d_ = 0;
  size_t count_ = 0;
};

// FedAvg of the spilled updates: sum over i of weights[i] / total *
// update i, total = sum of weights, accumulated in float64 in index order
// and returned as float32: baselines.h Aggregate("fedavg")'s arithmetic
// exactly, with one update in memory at a time. Updates of weight 0 are
// not read. REQUIRES weights.size() == spill.size(). Errors: kInvalidArgument
// (total weight 0, as FedAvg), the spill's.
Result<torch::Tensor> SpilledFedAvg(const UpdateSpill& spill,
                                    const std::vector<double>& weights);

// Gives the round's updates to `filter` on arrival (FilterClient::
// BeginRound, AddUpdate each, EndRound), appending each to `spill` and
// releasing its delta (updates[i].delta becomes undefined) right after the
// filter took it. Returns one decision per update; errors as
// FilterClient's and the spill's (on error some deltas may be released).
Result<std::vector<aggfilter::Decision>> FilterOnArrival(
    FilterClient& filter, uint64_t round, const ParameterLayout& layout,
    const torch::Tensor& global, std::vector<ClientUpdate>& updates,
    UpdateSpill& spill);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_UPDATE_SPILL_H_
