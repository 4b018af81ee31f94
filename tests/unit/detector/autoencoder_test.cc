#include "detector/autoencoder.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace flsentry {
namespace {

// Rows near a 2-D subspace of R^16, plus a few far-off rows.
std::vector<float> SubspaceRows(int rows, uint64_t seed) {
  std::vector<float> data;
  uint64_t s = seed;
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>((s >> 33) % 2001) / 1000.0f - 1.0f;
  };
  for (int r = 0; r < rows; ++r) {
    const float a = next(), b = next();
    for (int j = 0; j < 16; ++j)
      data.push_back(a * std::sin(j * 0.5f) + b * std::cos(j * 0.3f) +
                     0.01f * next());
  }
  return data;
}

TEST_CASE("training reduces the loss and scores off-subspace rows higher") {
  auto net = Autoencoder::Create({16, 8, 2, 8, 16}, 7);
  REQUIRE(net.ok());
  std::vector<float> data = SubspaceRows(200, 1);
  TrainOptions o;
  o.max_epochs = 150;
  o.seed = 3;
  auto before = (*net)->Score(data, 200, 1);
  REQUIRE(before.ok());
  auto report = (*net)->Train(data, 200, o);
  REQUIRE(report.ok());
  CHECK(report->train_rows == 160);
  CHECK(report->validation_rows == 40);
  CHECK(report->validation_indices.size() == 40);
  CHECK(report->epochs_run >= report->best_epoch);
  CHECK(report->seconds > 0);
  auto after = (*net)->Score(data, 200, 1);
  REQUIRE(after.ok());
  double mean_before = 0, mean_after = 0;
  for (int i = 0; i < 200; ++i) {
    mean_before += (*before)[i];
    mean_after += (*after)[i];
  }
  CHECK(mean_after < 0.2 * mean_before);
  // A row off the subspace reconstructs worse than every training row.
  std::vector<float> odd(16);
  for (int j = 0; j < 16; ++j) odd[j] = (j % 2 ? 1.0f : -1.0f);
  auto odd_score = (*net)->Score(odd, 1, 1);
  double max_benign = 0;
  for (double s : *after) max_benign = std::max(max_benign, s);
  CHECK((*odd_score)[0] > 2 * max_benign);
}

TEST_CASE("same data and seed give identical weights") {
  std::vector<float> data = SubspaceRows(64, 2);
  TrainOptions o;
  o.max_epochs = 20;
  o.seed = 11;
  auto a = Autoencoder::Create({16, 4, 16}, 5);
  auto b = Autoencoder::Create({16, 4, 16}, 5);
  REQUIRE((*a)->Train(data, 64, o).ok());
  REQUIRE((*b)->Train(data, 64, o).ok());
  auto wa = (*a)->ExportWeights(), wb = (*b)->ExportWeights();
  REQUIRE(wa.size() == 4);
  for (size_t i = 0; i < wa.size(); ++i) {
    CHECK(wa[i].name == wb[i].name);
    CHECK(wa[i].data == wb[i].data);
  }
  SUBCASE("a different seed gives different weights") {
    auto c = Autoencoder::Create({16, 4, 16}, 6);
    REQUIRE((*c)->Train(data, 64, o).ok());
    CHECK((*c)->ExportWeights()[0].data != wa[0].data);
  }
}

TEST_CASE("weights round-trip through ExportWeights / FromWeights") {
  auto net = Autoencoder::Create({16, 8, 16}, 1);
  std::vector<float> data = SubspaceRows(10, 3);
  auto weights = (*net)->ExportWeights();
  std::vector<TensorView> views;
  for (const auto& w : weights) views.push_back(w.view());
  auto copy = Autoencoder::FromWeights(views);
  REQUIRE(copy.ok());
  CHECK((*copy)->layer_sizes() == std::vector<int64_t>{16, 8, 16});
  CHECK((*copy)->num_parameters() == 16 * 8 + 8 + 8 * 16 + 16);
  CHECK(*(*copy)->Score(data, 10, 1) == *(*net)->Score(data, 10, 1));

  SUBCASE("missing bias") {
    views.pop_back();
    auto r = Autoencoder::FromWeights(views);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "autoencoder weights lack 'layers.1.bias'");
  }
  SUBCASE("non-finite weight") {
    weights[0].data[3] = NAN;
    views[0] = weights[0].view();
    CHECK_FALSE(Autoencoder::FromWeights(views).ok());
  }
  SUBCASE("output size differs from input") {
    std::vector<TensorView> first(views.begin(), views.begin() + 2);
    auto r = Autoencoder::FromWeights(first);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("differs from its input size") !=
          std::string::npos);
  }
}

TEST_CASE("bad training input is refused, not crashed on") {
  auto net = Autoencoder::Create({4, 2, 4}, 1);
  std::vector<float> one = {1, 2, 3, 4};
  TrainOptions o;
  auto r = (*net)->Train(one, 1, o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "need at least 2 rows to train, got 1");
  std::vector<float> bad = {1, 2, 3, NAN, 1, 2, 3, 4};
  CHECK_FALSE((*net)->Train(bad, 2, o).ok());
  CHECK_FALSE((*net)->Score(one, 2, 1).ok());
  CHECK_FALSE(Autoencoder::Create({4, 2, 5}, 1).ok());
  CHECK_FALSE(Autoencoder::Create({4}, 1).ok());
}

TEST_CASE("fine-tuning moves the weights deterministically") {
  std::vector<float> data = SubspaceRows(32, 4);
  auto a = Autoencoder::Create({16, 4, 16}, 2);
  auto b = Autoencoder::Create({16, 4, 16}, 2);
  const auto w0 = (*a)->ExportWeights()[0].data;
  REQUIRE((*a)->FineTune(data, 32, 3, 1e-3, 8, 9, 1).ok());
  REQUIRE((*b)->FineTune(data, 32, 3, 1e-3, 8, 9, 1).ok());
  CHECK((*a)->ExportWeights()[0].data != w0);
  CHECK((*a)->ExportWeights()[0].data == (*b)->ExportWeights()[0].data);
}

}  // namespace
}  // namespace flsentry
