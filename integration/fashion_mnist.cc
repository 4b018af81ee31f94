#include "fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>

namespace flsentry::sim {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // idx3, unsigned bytes
constexpr uint32_t kLabelsMagic = 0x00000801;  // idx1, unsigned bytes
constexpr uint32_t kMaxItems = 100000;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

Result<GzFile> OpenGz(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return NotFound(path +
                    ": no such file (install the Debian package "
                    "dataset-fashion-mnist, or pass the dataset directory)");
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return IoError(path + ": cannot open");
  return GzFile(f);
}

// Reads exactly `size` bytes; kCorrupt when the stream ends early or is not
// valid gzip.
Status ReadExact(gzFile f, const std::string& path, void* out, size_t size) {
  auto* dst = static_cast<unsigned char*>(out);
  while (size > 0) {
    const unsigned chunk =
        static_cast<unsigned>(std::min<size_t>(size, 1u << 30));
    const int got = gzread(f, dst, chunk);
    if (got <= 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      return Corrupt(path + ": truncated or not gzip" +
                     (err != Z_OK && msg ? std::string(" (") + msg + ")" : ""));
    }
    dst += got;
    size -= static_cast<size_t>(got);
  }
  return Status::Ok();
}

Result<uint32_t> ReadBigEndian32(gzFile f, const std::string& path) {
  unsigned char b[4];
  FLS_RETURN_IF_ERROR(ReadExact(f, path, b, sizeof b));
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) |
         (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

Status ExpectEnd(gzFile f, const std::string& path) {
  unsigned char extra;
  if (gzread(f, &extra, 1) != 0) {
    return Corrupt(path + ": trailing bytes after the last item");
  }
  return Status::Ok();
}

Result<torch::Tensor> ReadImages(const std::string& path) {
  FLS_ASSIGN_OR_RETURN(GzFile f, OpenGz(path));
  FLS_ASSIGN_OR_RETURN(uint32_t magic, ReadBigEndian32(f.get(), path));
  if (magic != kImagesMagic) {
    return Corrupt(path + ": not an idx3 unsigned-byte image file");
  }
  FLS_ASSIGN_OR_RETURN(uint32_t count, ReadBigEndian32(f.get(), path));
  FLS_ASSIGN_OR_RETURN(uint32_t rows, ReadBigEndian32(f.get(), path));
  FLS_ASSIGN_OR_RETURN(uint32_t cols, ReadBigEndian32(f.get(), path));
  if (rows != kImageSide || cols != kImageSide) {
    return Corrupt(path + ": images are " + std::to_string(rows) + "x" +
                   std::to_string(cols) + ", expected 28x28");
  }
  if (count == 0 || count > kMaxItems) {
    return Corrupt(path + ": implausible image count " + std::to_string(count));
  }
  auto bytes = torch::empty({count, 1, kImageSide, kImageSide}, torch::kUInt8);
  FLS_RETURN_IF_ERROR(ReadExact(f.get(), path, bytes.data_ptr<uint8_t>(),
                                static_cast<size_t>(bytes.numel())));
  FLS_RETURN_IF_ERROR(ExpectEnd(f.get(), path));
  return bytes.to(torch::kFloat32).div_(255.0);
}

Result<torch::Tensor> ReadLabels(const std::string& path) {
  FLS_ASSIGN_OR_RETURN(GzFile f, OpenGz(path));
  FLS_ASSIGN_OR_RETURN(uint32_t magic, ReadBigEndian32(f.get(), path));
  if (magic != kLabelsMagic) {
    return Corrupt(path + ": not an idx1 unsigned-byte label file");
  }
  FLS_ASSIGN_OR_RETURN(uint32_t count, ReadBigEndian32(f.get(), path));
  if (count == 0 || count > kMaxItems) {
    return Corrupt(path + ": implausible label count " + std::to_string(count));
  }
  auto bytes = torch::empty({count}, torch::kUInt8);
  FLS_RETURN_IF_ERROR(ReadExact(f.get(), path, bytes.data_ptr<uint8_t>(),
                                static_cast<size_t>(count)));
  FLS_RETURN_IF_ERROR(ExpectEnd(f.get(), path));
  if (bytes.max().item<uint8_t>() >= kNumClasses) {
    return Corrupt(path + ": label outside 0..9");
  }
  return bytes.to(torch::kInt64);
}

Status CheckPartitionArgs(const torch::Tensor& labels, int num_clients) {
  if (!labels.defined() || labels.dim() != 1) {
    return InvalidArgument("labels must be a 1-D tensor");
  }
  if (num_clients < 1 || num_clients > labels.size(0)) {
    return InvalidArgument("number of clients must be in 1.." +
                           std::to_string(labels.size(0)) + ", got " +
                           std::to_string(num_clients));
  }
  return Status::Ok();
}

}  // namespace

Result<Dataset> LoadFashionMnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "/train" : "/t10k";
  try {
    FLS_ASSIGN_OR_RETURN(torch::Tensor images,
                         ReadImages(dir + prefix + "-images-idx3-ubyte.gz"));
    const std::string labels_path = dir + prefix + "-labels-idx1-ubyte.gz";
    FLS_ASSIGN_OR_RETURN(torch::Tensor labels, ReadLabels(labels_path));
    if (labels.size(0) != images.size(0)) {
      return Corrupt(labels_path + ": " + std::to_string(labels.size(0)) +
                     " labels for " + std::to_string(images.size(0)) +
                     " images");
    }
    return Dataset{std::move(images), std::move(labels)};
  } catch (const std::exception& e) {
    return InternalError(std::string("reading Fashion-MNIST: ") + e.what());
  }
}

Result<Partition> PartitionIid(const torch::Tensor& labels, int num_clients,
                               uint64_t seed) {
  FLS_RETURN_IF_ERROR(CheckPartitionArgs(labels, num_clients));
  const int64_t n = labels.size(0);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  Partition parts(static_cast<size_t>(num_clients));
  int64_t begin = 0;
  for (int c = 0; c < num_clients; ++c) {
    const int64_t size = n / num_clients + (c < n % num_clients ? 1 : 0);
    parts[c].assign(order.begin() + begin, order.begin() + begin + size);
    std::sort(parts[c].begin(), parts[c].end());
    begin += size;
  }
  return parts;
}

Result<Partition> PartitionDirichlet(const torch::Tensor& labels,
                                     int num_clients, double alpha,
                                     uint64_t seed, int64_t min_examples) {
  FLS_RETURN_IF_ERROR(CheckPartitionArgs(labels, num_clients));
  if (!(alpha > 0.0) || !std::isfinite(alpha)) {
    return InvalidArgument("Dirichlet alpha must be a positive number");
  }
  const int64_t n = labels.size(0);
  if (min_examples < 0 || min_examples * num_clients > n) {
    return InvalidArgument("cannot give " + std::to_string(num_clients) +
                           " clients at least " + std::to_string(min_examples) +
                           " of " + std::to_string(n) + " examples each");
  }
  auto labels_cpu = labels.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t* y = labels_cpu.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> by_class(kNumClasses);
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] < 0 || y[i] >= kNumClasses) {
      return InvalidArgument("label outside 0..9 at index " +
                             std::to_string(i));
    }
    by_class[static_cast<size_t>(y[i])].push_back(i);
  }
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> gamma(alpha, 1.0);
  for (int attempt = 0; attempt < 100; ++attempt) {
    Partition parts(static_cast<size_t>(num_clients));
    for (auto& members : by_class) {
      if (members.empty()) continue;
      std::vector<int64_t> shuffled = members;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      // Dirichlet(alpha) as normalised Gamma(alpha, 1) draws.
      std::vector<double> p(static_cast<size_t>(num_clients));
      double total = 0.0;
      for (double& v : p) total += (v = gamma(rng));
      if (!(total > 0.0)) {  // every draw underflowed: tiny alpha
        std::fill(p.begin(), p.end(), 0.0);
        p[rng() % p.size()] = total = 1.0;
      }
      // Cumulative cut points; the last client takes the rounding rest.
      const auto m = static_cast<int64_t>(shuffled.size());
      double cumulative = 0.0;
      int64_t begin = 0;
      for (int c = 0; c < num_clients; ++c) {
        cumulative += p[c] / total;
        int64_t end = c + 1 == num_clients
                          ? m
                          : std::min<int64_t>(
                                m, static_cast<int64_t>(cumulative * m + 0.5));
        end = std::max(end, begin);
        parts[c].insert(parts[c].end(), shuffled.begin() + begin,
                        shuffled.begin() + end);
        begin = end;
      }
    }
    const bool big_enough =
        std::all_of(parts.begin(), parts.end(), [&](const auto& part) {
          return static_cast<int64_t>(part.size()) >= min_examples;
        });
    if (big_enough) {
      for (auto& part : parts) std::sort(part.begin(), part.end());
      return parts;
    }
  }
  return InvalidArgument(
      "Dirichlet partition left a client with fewer than " +
      std::to_string(min_examples) +
      " examples in 100 draws; raise alpha or lower the client count");
}

}  // namespace flsentry::sim
