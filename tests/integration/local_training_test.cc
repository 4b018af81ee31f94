#include "local_training.h"

#include <doctest/doctest.h>

#include <cmath>

namespace flsentry::sim {
namespace {

TEST_CASE("FlipLabels maps y to 9 - y, or only source to target") {
  const auto y = torch::arange(10, torch::kInt64);
  auto all = FlipLabels(y, {});
  REQUIRE(all.ok());
  CHECK(torch::equal(*all, 9 - y));
  auto one = FlipLabels(y, {{"source", 3}, {"target", 5}});
  REQUIRE(one.ok());
  CHECK((*one)[3].item<int64_t>() == 5);
  CHECK(one->ne(y).sum().item<int64_t>() == 1);
  CHECK(FlipLabels(y, {{"source", 3}}).status().code() == ErrorCode::kConfig);
  CHECK_FALSE(FlipLabels(y, {{"source", 3}, {"target", 10}}).ok());
  CHECK_FALSE(FlipLabels(y, {{"source", 2.5}, {"target", 1}}).ok());
  CHECK_FALSE(FlipLabels(y, {{"sigma", 1}}).ok());
}

TEST_CASE("The backdoor trigger is a white square near the corner") {
  BackdoorTrigger trigger{3, 7};
  const auto images = torch::zeros({2, 1, 28, 28});
  const auto stamped = StampTrigger(images, trigger);
  CHECK(stamped.sum().item<float>() == doctest::Approx(2 * 9));
  CHECK(stamped[0][0][25][25].item<float>() == 1.0f);
  CHECK(stamped[0][0][23][23].item<float>() == 1.0f);
  CHECK(stamped[0][0][22][22].item<float>() == 0.0f);
  CHECK(images.sum().item<float>() == 0.0f);  // input untouched
}

TEST_CASE("PoisonWithBackdoor triggers and relabels the chosen fraction") {
  BackdoorTrigger trigger{3, 2};
  const auto images = torch::zeros({100, 1, 28, 28});
  const auto labels = torch::full({100}, 5, torch::kInt64);
  auto [x, y] = PoisonWithBackdoor(images, labels, trigger, 0.3, 11);
  const auto relabelled = y.eq(2);
  CHECK(relabelled.sum().item<int64_t>() == 30);
  // Exactly the relabelled images carry the trigger.
  const auto triggered = x.sum({1, 2, 3}).gt(0);
  CHECK(torch::equal(triggered, relabelled));
  auto again = PoisonWithBackdoor(images, labels, trigger, 0.3, 11);
  CHECK(torch::equal(again.second, y));
}

TEST_CASE("BackdoorTriggerFromParams validates its parameters") {
  double fraction = 0.0;
  auto t = BackdoorTriggerFromParams({{"target", 4}, {"poison_fraction", 0.25}},
                                     &fraction);
  REQUIRE(t.ok());
  CHECK(t->target == 4);
  CHECK(fraction == 0.25);
  CHECK_FALSE(
      BackdoorTriggerFromParams({{"poison_fraction", 0}}, &fraction).ok());
  CHECK_FALSE(
      BackdoorTriggerFromParams({{"trigger_size", 30}}, &fraction).ok());
  CHECK_FALSE(BackdoorTriggerFromParams({{"lambda", 3}}, &fraction).ok());
}

TEST_CASE("TrainLocal lowers the loss and is reproducible from the seed") {
  torch::manual_seed(1);
  auto model = MakeModel({"mlp", 16});
  REQUIRE(model.ok());
  const torch::Tensor start = FlattenParameters(**model);
  // Two separable classes: bright vs dark images.
  auto images = torch::cat(
      {torch::full({64, 1, 28, 28}, 0.9), torch::full({64, 1, 28, 28}, 0.1)});
  auto labels = torch::cat(
      {torch::full({64}, 1, torch::kInt64), torch::zeros({64}, torch::kInt64)});
  const double before = Evaluate(**model, images, labels).loss;
  TrainLocal(**model, images, labels, {3, 0.1, 0.0, 16}, 5);
  const Evaluation after = Evaluate(**model, images, labels);
  CHECK(after.loss < before);
  CHECK(after.accuracy == 1.0);
  const torch::Tensor trained = FlattenParameters(**model);
  REQUIRE(LoadFlatParameters(**model, start).ok());
  TrainLocal(**model, images, labels, {3, 0.1, 0.0, 16}, 5);
  CHECK(torch::equal(FlattenParameters(**model), trained));
}

TEST_CASE("NeurotoxinMask keeps the coordinates the last step changed least") {
  const torch::Tensor step =
      torch::tensor({0.5f, -0.01f, 3.0f, 0.0f, -0.2f, 0.01f, 1.0f, -4.0f});
  // keep_ratio 0.5: the 4 smallest |step|: 0.0 (3), 0.01 (1, then 5: the
  // lower index first among equals), 0.2 (4).
  CHECK(torch::equal(NeurotoxinMask(step, 8, 0.5),
                     torch::tensor({0.f, 1.f, 0.f, 1.f, 1.f, 1.f, 0.f, 0.f})));
  CHECK(NeurotoxinMask(step, 8, 0.6).sum().item<float>() == 5);  // ceil 4.8
  CHECK(NeurotoxinMask(step, 8, 1.0).sum().item<float>() == 8);
  CHECK(
      torch::equal(NeurotoxinMask(torch::Tensor(), 3, 0.5), torch::ones({3})));
}

TEST_CASE("BackdoorAttackFromParams reads each backdoor's own parameters") {
  auto neurotoxin = BackdoorAttackFromParams(
      "neurotoxin", {{"keep_ratio", 0.9}, {"target", 3}});
  REQUIRE(neurotoxin.ok());
  CHECK(neurotoxin->keep_ratio == 0.9);
  CHECK(neurotoxin->trigger.target == 3);
  CHECK(neurotoxin->poison_fraction == 0.5);
  CHECK(BackdoorAttackFromParams("neurotoxin", {})->keep_ratio == 0.95);
  auto scaled = BackdoorAttackFromParams("constrain_scale", {{"scale", 3}});
  REQUIRE(scaled.ok());
  CHECK(scaled->scale == 3);
  CHECK(scaled->class_weight == 0.7);
  CHECK(scaled->keep_ratio == 1.0);
  CHECK(BackdoorAttackFromParams("backdoor", {})->scale == 1.0);
  CHECK_FALSE(BackdoorAttackFromParams("neurotoxin", {{"keep_ratio", 0}}).ok());
  CHECK_FALSE(BackdoorAttackFromParams("constrain_scale", {{"alpha", 0}}).ok());
  CHECK_FALSE(
      BackdoorAttackFromParams("constrain_scale", {{"scale", 0.5}}).ok());
  CHECK_FALSE(  // another backdoor's parameter
      BackdoorAttackFromParams("backdoor", {{"keep_ratio", 0.9}}).ok());
  CHECK_FALSE(
      BackdoorAttackFromParams("neurotoxin", {{"trigger_size", 30}}).ok());
}

TEST_CASE("TrainLocal with a gradient mask never moves masked coordinates") {
  torch::manual_seed(2);
  auto model = MakeModel({"mlp", 16});
  REQUIRE(model.ok());
  const torch::Tensor start = FlattenParameters(**model);
  auto images = torch::rand({64, 1, 28, 28});
  auto labels = torch::randint(0, 10, {64}, torch::kInt64);
  const torch::Tensor mask =
      (torch::rand({start.numel()}) < 0.7).to(torch::kFloat32);
  TrainLocal(**model, images, labels, {2, 0.1, 0.9, 16}, 3, {&mask});
  const torch::Tensor delta = FlattenParameters(**model) - start;
  CHECK(torch::equal(delta.masked_select(mask == 0),
                     torch::zeros({(mask == 0).sum().item<int64_t>()})));
  CHECK((delta.masked_select(mask == 1) != 0).sum().item<int64_t>() > 0);
}

TEST_CASE("TrainLocal with an anchor stays closer to it as alpha falls") {
  auto images = torch::rand({64, 1, 28, 28});
  auto labels = torch::randint(0, 10, {64}, torch::kInt64);
  torch::manual_seed(4);
  auto model = MakeModel({"mlp", 16});
  REQUIRE(model.ok());
  const torch::Tensor start = FlattenParameters(**model);
  std::vector<double> moved;
  for (double alpha : {1.0, 0.7, 0.3}) {
    REQUIRE(LoadFlatParameters(**model, start).ok());
    TrainingConstraint constraint;
    constraint.anchor = &start;
    constraint.class_weight = alpha;
    TrainLocal(**model, images, labels, {2, 0.1, 0.0, 16}, 3, constraint);
    moved.push_back((FlattenParameters(**model) - start).norm().item<double>());
  }
  CHECK(moved[1] < moved[0]);
  CHECK(moved[2] < moved[1]);
}

TEST_CASE("Evaluate reports the accuracy of each true class") {
  torch::manual_seed(1);
  auto model = MakeModel({"mlp", 16});
  REQUIRE(model.ok());
  // Bright images are class 1, dark ones class 0; then bright images
  // labelled 2, which the model takes for class 1.
  auto images = torch::cat(
      {torch::full({64, 1, 28, 28}, 0.9), torch::full({64, 1, 28, 28}, 0.1)});
  auto labels = torch::cat(
      {torch::full({64}, 1, torch::kInt64), torch::zeros({64}, torch::kInt64)});
  TrainLocal(**model, images, labels, {3, 0.1, 0.0, 16}, 5);
  const Evaluation e =
      Evaluate(**model, torch::cat({images, torch::full({16, 1, 28, 28}, 0.9)}),
               torch::cat({labels, torch::full({16}, 2, torch::kInt64)}));
  REQUIRE(e.class_accuracy.size() == static_cast<size_t>(kNumClasses));
  CHECK(e.class_accuracy[0] == 1.0);
  CHECK(e.class_accuracy[1] == 1.0);
  CHECK(e.class_accuracy[2] == 0.0);
  for (int c = 3; c < kNumClasses; ++c) CHECK(std::isnan(e.class_accuracy[c]));
  CHECK(e.accuracy == doctest::Approx(128.0 / 144.0));
}

}  // namespace
}  // namespace flsentry::sim
