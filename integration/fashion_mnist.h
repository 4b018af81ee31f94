// fashion_mnist.h — the Fashion-MNIST dataset (Debian package
// dataset-fashion-mnist) and how it is split among simulated clients.
//
//   FLS_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(dir, Split::kTrain));
//   auto shards = PartitionDirichlet(train.labels, 50, 0.5, /*seed=*/1);
//
// Host-side harness code (reference server), not part of the plugin.
#ifndef FLSENTRY_INTEGRATION_FASHION_MNIST_H_
#define FLSENTRY_INTEGRATION_FASHION_MNIST_H_

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace flsentry::sim {

// Where Debian installs the dataset.
inline constexpr const char* kDefaultFashionMnistDir =
    "/usr/share/datasets/fashion-mnist";
inline constexpr int kNumClasses = 10;
inline constexpr int kImageSide = 28;

enum class Split { kTrain, kTest };

struct Dataset {
  torch::Tensor images;  // float32 [N, 1, 28, 28], pixel values in [0, 1]
  torch::Tensor labels;  // int64 [N], values 0..9
  int64_t size() const { return labels.size(0); }
};

// Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. Every header
// field is checked (magic numbers, 28x28 images, image and label counts
// agree, at most 100000 items, labels in 0..9); the files are untrusted.
// Returns kNotFound naming the file and the Debian package when missing,
// kCorrupt for a malformed file.
Result<Dataset> LoadFashionMnist(const std::string& dir, Split split);

// Per-client lists of example indices into a dataset. Each list is sorted.
using Partition = std::vector<std::vector<int64_t>>;

// Shuffles 0..labels.size(0)-1 with `seed` and deals it into num_clients
// near-equal contiguous shards (sizes differ by at most one).
// REQUIRES: 1 <= num_clients <= number of examples.
Result<Partition> PartitionIid(const torch::Tensor& labels, int num_clients,
                               uint64_t seed);

// Label skew: for each class, draws client proportions p ~ Dirichlet(alpha)
// and deals that class's (shuffled) examples to clients in proportion to p
// (Hsu et al. 2019). Every example goes to exactly one client. Smaller alpha
// is more skewed. Clients left with fewer than `min_examples` examples are
// redrawn (up to 100 attempts, then kInvalidArgument).
// REQUIRES: alpha > 0, 1 <= num_clients, min_examples * num_clients <= N.
Result<Partition> PartitionDirichlet(const torch::Tensor& labels,
                                     int num_clients, double alpha,
                                     uint64_t seed, int64_t min_examples = 10);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_FASHION_MNIST_H_
