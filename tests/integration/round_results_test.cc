#include "round_results.h"

#include <doctest/doctest.h>

#include <cmath>

namespace flsentry::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST_CASE("OwnDistributionAccuracy weights class accuracy by the labels") {
  std::vector<double> acc(10, 0.5);
  acc[0] = 1.0;
  acc[1] = 0.0;
  std::vector<int64_t> counts(10, 0);
  counts[0] = 30;
  counts[1] = 10;
  CHECK(OwnDistributionAccuracy(acc, counts) == doctest::Approx(0.75));
  // A client holding only class 1 sees the model's accuracy on class 1.
  std::vector<int64_t> only_one(10, 0);
  only_one[1] = 5;
  CHECK(OwnDistributionAccuracy(acc, only_one) == 0.0);
  // Classes without a test example are left out and p renormalised.
  acc[1] = kNaN;
  CHECK(OwnDistributionAccuracy(acc, counts) == doctest::Approx(1.0));
  CHECK(std::isnan(OwnDistributionAccuracy(acc, only_one)));
  CHECK(std::isnan(OwnDistributionAccuracy(acc, std::vector<int64_t>(10, 0))));
}

TEST_CASE("The summary lists every client's own-distribution accuracy") {
  SimConfig config;
  config.clients = 2;
  RoundResult round;
  round.round = 1;
  round.accuracy = 0.6;
  FinalModelView view;
  view.class_accuracy.assign(10, 0.2);
  view.class_accuracy[3] = 0.9;
  view.label_counts = {std::vector<int64_t>(10, 1),
                       std::vector<int64_t>(10, 0)};
  view.label_counts[1][3] = 4;
  const nlohmann::json j =
      SummaryToJson(config, "", {"client_001"}, {round}, view);
  REQUIRE(j["clients"].size() == 2);
  CHECK(j["clients"][0]["id"] == "client_000");
  CHECK(j["clients"][0]["malicious"] == false);
  CHECK(j["clients"][0]["examples"] == 10);
  CHECK(j["clients"][0]["own_accuracy"].get<double>() == doctest::Approx(0.27));
  CHECK(j["clients"][1]["malicious"] == true);
  CHECK(j["clients"][1]["own_accuracy"].get<double>() == doctest::Approx(0.9));
  CHECK(j["clients"][1]["label_counts"][3] == 4);
  REQUIRE(j["class_accuracy"].size() == 10);
  CHECK(j["class_accuracy"][3].get<double>() == doctest::Approx(0.9));
}

}  // namespace
}  // namespace flsentry::sim
