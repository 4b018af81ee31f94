#include "fashion_mnist.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace flsentry::sim {
namespace {

torch::Tensor LabelsCycling(int64_t n) {
  return torch::arange(n, torch::kInt64).remainder(kNumClasses);
}

// Every index 0..n-1 appears in exactly one client's list.
void CheckCovers(const Partition& parts, int64_t n) {
  std::vector<int> seen(static_cast<size_t>(n), 0);
  for (const auto& part : parts) {
    CHECK(std::is_sorted(part.begin(), part.end()));
    for (int64_t i : part) {
      REQUIRE(i >= 0);
      REQUIRE(i < n);
      ++seen[static_cast<size_t>(i)];
    }
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
}

TEST_CASE("LoadFashionMnist reads the Debian dataset") {
  auto test = LoadFashionMnist(kDefaultFashionMnistDir, Split::kTest);
  REQUIRE_MESSAGE(test.ok(), test.status().message());
  CHECK(test->size() == 10000);
  CHECK(test->images.sizes() == torch::IntArrayRef({10000, 1, 28, 28}));
  CHECK(test->images.min().item<float>() >= 0.0f);
  CHECK(test->images.max().item<float>() <= 1.0f);
  // The test split is balanced: 1000 images per class.
  auto counts = torch::bincount(test->labels);
  CHECK(counts.eq(1000).all().item<bool>());
}

TEST_CASE("LoadFashionMnist names a missing file and the package") {
  auto missing = LoadFashionMnist("/nonexistent-dir", Split::kTrain);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ErrorCode::kNotFound);
  CHECK(missing.status().message().find("dataset-fashion-mnist") !=
        std::string::npos);
}

TEST_CASE("LoadFashionMnist refuses a corrupt file") {
  const auto dir = std::filesystem::temp_directory_path() / "fls_fmnist_bad";
  std::filesystem::create_directories(dir);
  {  // Not gzip at all.
    std::ofstream(dir / "t10k-images-idx3-ubyte.gz") << "not a gzip file";
  }
  auto bad = LoadFashionMnist(dir.string(), Split::kTest);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == ErrorCode::kCorrupt);
  CHECK(bad.status().message().find("t10k-images") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("PartitionIid deals near-equal shards covering every example") {
  auto parts = PartitionIid(LabelsCycling(1003), 10, 7);
  REQUIRE(parts.ok());
  CheckCovers(*parts, 1003);
  for (const auto& p : *parts) CHECK((p.size() == 100 || p.size() == 101));
  // Seeded: same seed same split, another seed another split.
  CHECK(*PartitionIid(LabelsCycling(1003), 10, 7) == *parts);
  CHECK(*PartitionIid(LabelsCycling(1003), 10, 8) != *parts);
}

TEST_CASE("PartitionDirichlet covers every example and skews labels") {
  const auto labels = LabelsCycling(20000);
  auto skewed = PartitionDirichlet(labels, 20, 0.1, 3);
  auto mild = PartitionDirichlet(labels, 20, 100.0, 3);
  REQUIRE(skewed.ok());
  REQUIRE(mild.ok());
  CheckCovers(*skewed, 20000);
  CheckCovers(*mild, 20000);
  CHECK(*PartitionDirichlet(labels, 20, 0.1, 3) == *skewed);
  // Mean over clients of the largest class share: small alpha concentrates
  // a client's data on few classes, large alpha approaches 1/10.
  auto top_share = [&](const Partition& parts) {
    double sum = 0.0;
    for (const auto& p : parts) {
      std::vector<int> count(kNumClasses, 0);
      for (int64_t i : p) ++count[static_cast<size_t>(i % kNumClasses)];
      sum +=
          static_cast<double>(*std::max_element(count.begin(), count.end())) /
          static_cast<double>(p.size());
    }
    return sum / static_cast<double>(parts.size());
  };
  CHECK(top_share(*skewed) > 0.5);
  CHECK(top_share(*mild) < 0.2);
  for (const auto& p : *skewed) CHECK(p.size() >= 10);
}

TEST_CASE("Partitions refuse impossible requests") {
  const auto labels = LabelsCycling(100);
  CHECK(PartitionIid(labels, 0, 1).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(PartitionIid(labels, 101, 1).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK_FALSE(PartitionDirichlet(labels, 5, 0.0, 1).ok());
  CHECK_FALSE(PartitionDirichlet(labels, 5, -1.0, 1).ok());
  CHECK_FALSE(PartitionDirichlet(labels, 20, 0.5, 1, /*min_examples=*/10).ok());
  CHECK_FALSE(PartitionDirichlet(labels + 20, 5, 0.5, 1).ok());  // labels >= 10
}

}  // namespace
}  // namespace flsentry::sim
