#include "models.h"

#include <doctest/doctest.h>

namespace flsentry::sim {
namespace {

TEST_CASE("MLP and CNN classify 28x28 images into 10 logits") {
  for (const char* kind : {"mlp", "cnn"}) {
    auto model = MakeModel({kind, 32});
    REQUIRE_MESSAGE(model.ok(), model.status().message());
    auto logits = (*model)->forward(torch::zeros({5, 1, 28, 28}));
    CHECK(logits.sizes() == torch::IntArrayRef({5, 10}));
  }
}

TEST_CASE("MakeModel refuses unknown kinds and bad sizes") {
  CHECK(MakeModel({"resnet", 32}).status().code() == ErrorCode::kConfig);
  CHECK(MakeModel({"mlp", 0}).status().code() == ErrorCode::kConfig);
  CHECK(MakeModel({"mlp", 100000}).status().code() == ErrorCode::kConfig);
}

TEST_CASE("ParameterLayout names the MLP's parameters in order") {
  auto model = MakeModel({"mlp", 16});
  REQUIRE(model.ok());
  const ParameterLayout layout = ParameterLayout::Of(**model);
  REQUIRE(layout.entries.size() == 4);
  CHECK(layout.entries[0].name == "fc1.weight");
  CHECK(layout.entries[0].shape == std::vector<int64_t>{16, 784});
  CHECK(layout.entries[3].name == "fc2.bias");
  CHECK(layout.entries[3].offset == 16 * 784 + 16 + 10 * 16);
  CHECK(layout.total == 16 * 784 + 16 + 10 * 16 + 10);
}

TEST_CASE("Flatten, load and unflatten round-trip the parameters") {
  auto a = MakeModel({"cnn", 8});
  auto b = MakeModel({"cnn", 8});
  REQUIRE((a.ok() && b.ok()));
  const torch::Tensor flat = FlattenParameters(**a);
  CHECK_FALSE(torch::equal(flat, FlattenParameters(**b)));
  REQUIRE(LoadFlatParameters(**b, flat).ok());
  CHECK(torch::equal(flat, FlattenParameters(**b)));
  const auto named = Unflatten(ParameterLayout::Of(**a), flat);
  auto params = (*a)->named_parameters();
  REQUIRE(named.size() == params.size());
  for (size_t i = 0; i < named.size(); ++i) {
    CHECK(named[i].first == params[i].key());
    CHECK(torch::equal(named[i].second, params[i].value()));
  }
}

TEST_CASE("LoadFlatParameters refuses a vector of the wrong size or type") {
  auto model = MakeModel({"mlp", 4});
  REQUIRE(model.ok());
  const int64_t n = ParameterLayout::Of(**model).total;
  CHECK_FALSE(LoadFlatParameters(**model, torch::zeros({n + 1})).ok());
  CHECK_FALSE(
      LoadFlatParameters(**model, torch::zeros({n}, torch::kFloat64)).ok());
  CHECK_FALSE(LoadFlatParameters(**model, torch::zeros({1, n})).ok());
  CHECK(LoadFlatParameters(**model, torch::zeros({n})).ok());
}

}  // namespace
}  // namespace flsentry::sim
