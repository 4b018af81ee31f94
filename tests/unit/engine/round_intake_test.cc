// RoundIntake: which detector embeds each update as it arrives, what is
// kept of it (owned values, no pointer into the update), and that taking a
// round on several threads measures what one at a time does.
#include "engine/round_intake.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "synthetic_round.h"

namespace flsentry {
namespace {

DetectorConfig BootstrapConfig() {
  DetectorConfig config;
  config.bootstrap.enabled = true;
  config.bootstrap.sketch_dim = 64;
  config.bootstrap.hidden = {16};
  return config;
}

IntakeRules MayBootstrap(const DetectorConfig& config) {
  return IntakeRules{true, &config};
}

TEST_CASE("updates of one layout share one bootstrapped detector") {
  const DetectorConfig config = BootstrapConfig();
  auto r = MakeRound(1, 4);
  RoundIntake intake(1, {}, nullptr, MayBootstrap(config));
  for (const UpdateInput& u : r->round.updates) intake.Add(u);
  REQUIRE(intake.embedders().size() == 1);
  const Embedder& e = intake.embedders()[0];
  REQUIRE(e.detector != nullptr);
  CHECK(e.bootstrapped.get() == e.detector);
  CHECK(e.tensors == TensorNames{"b", "w"});
  for (const UpdateDigest& d : intake.updates()) {
    CHECK(d.embedder == 0);
    REQUIRE(d.features.ok());
    CHECK(d.features->embedded);
    CHECK(d.row.size() == 64);
  }
}

TEST_CASE("the engine's detector embeds its layout; another gets its own") {
  const DetectorConfig config = BootstrapConfig();
  auto r = MakeRound(1, 3);
  auto engine = Detector::Bootstrap(r->round, std::vector<size_t>{0}, config);
  REQUIRE(engine.ok());
  auto other = MakeRound(2, 2, {}, /*shape_rows=*/8);
  RoundIntake intake(2, {}, engine->get(), MayBootstrap(config));
  intake.Add(r->round.updates[0]);
  intake.Add(other->round.updates[0]);
  intake.Add(r->round.updates[1]);
  REQUIRE(intake.embedders().size() == 2);
  CHECK(intake.embedders()[0].detector == engine->get());
  CHECK(intake.embedders()[0].bootstrapped == nullptr);
  CHECK(intake.embedders()[1].bootstrapped != nullptr);
  CHECK(intake.embedders()[1].layout_error.find("does not match") !=
        std::string::npos);
  CHECK(intake.updates()[1].embedder == 1);
  CHECK(intake.updates()[2].embedder == 0);

  // Without leave to bootstrap (a retry, or bootstrap disabled), another
  // layout is measured by its norm only.
  RoundIntake strict(2, {}, engine->get(), IntakeRules{});
  strict.Add(other->round.updates[0]);
  REQUIRE(strict.embedders().size() == 1);
  CHECK(strict.embedders()[0].detector == nullptr);
  CHECK(strict.updates()[0].row.empty());
  CHECK(strict.updates()[0].stats.l2_norm ==
        doctest::Approx(Norm(*other, 0)).epsilon(1e-6));
}

TEST_CASE("at most kMaxBootstrapLayouts layouts are bootstrapped in a round") {
  const DetectorConfig config = BootstrapConfig();
  std::vector<std::unique_ptr<SyntheticRound>> rounds;
  RoundIntake intake(1, {}, nullptr, MayBootstrap(config));
  for (size_t k = 0; k <= kMaxBootstrapLayouts; ++k) {
    rounds.push_back(MakeRound(1, 1, {}, static_cast<int64_t>(2 + k)));
    intake.Add(rounds.back()->round.updates[0]);
  }
  REQUIRE(intake.embedders().size() == kMaxBootstrapLayouts + 1);
  const Embedder& last = intake.embedders().back();
  CHECK(last.detector == nullptr);
  CHECK(last.bootstrap_error.find("model layouts in one round") !=
        std::string::npos);
  CHECK(intake.updates().back().stats.l2_norm > 0);
}

TEST_CASE("with a global model only its layout is embedded") {
  const DetectorConfig config = BootstrapConfig();
  auto r = MakeRound(1, 2);
  auto other = MakeRound(1, 1, {}, 8);
  RoundIntake intake(1, r->round.updates[1].tensors, nullptr,
                     MayBootstrap(config));
  REQUIRE(intake.has_global());
  REQUIRE(intake.embedders().size() == 1);  // set up from the global model
  intake.Add(other->round.updates[0]);
  intake.Add(r->round.updates[0]);
  CHECK(intake.updates()[0].embedder == -1);
  CHECK(intake.updates()[0].row.empty());
  CHECK(intake.updates()[0].stats.numel == 0);  // not measured
  CHECK(intake.updates()[1].embedder == 0);
  CHECK(intake.updates()[1].features.ok());
}

TEST_CASE("a digest owns what it keeps: the update may be freed at once") {
  const DetectorConfig config = BootstrapConfig();
  RoundIntake intake(1, {}, nullptr, MayBootstrap(config));
  {
    auto r = MakeRound(1, 1);
    r->round.updates[0].client_id = "alice";
    intake.Add(r->round.updates[0]);
    std::memset(r->w[0].data(), 0xff, r->w[0].size() * sizeof(float));
  }  // the update's buffers are gone
  const UpdateDigest& d = intake.updates()[0];
  CHECK(d.client_id == "alice");
  REQUIRE(d.tensors.size() == 2);
  CHECK(d.tensors[0].name == "w");
  CHECK(d.tensors[0].shape == std::vector<int64_t>{kRows, kCols});
  CHECK(d.layout == "b[16];w[32,16]");
  CHECK(d.features.ok());
}

TEST_CASE("TakeRows gathers the chosen rows into one block and frees them") {
  const DetectorConfig config = BootstrapConfig();
  auto r = MakeRound(1, 3);
  auto other = MakeRound(1, 1, {}, 8);
  RoundIntake intake(1, r->round.updates[0].tensors, nullptr,
                     MayBootstrap(config));
  for (const UpdateInput& u : r->round.updates) intake.Add(u);
  intake.Add(other->round.updates[0]);  // another layout: not embedded
  CHECK(intake.updates()[0].embedded);
  CHECK_FALSE(intake.updates()[3].embedded);
  const std::vector<float> row0 = intake.updates()[0].row;
  const std::vector<float> row2 = intake.updates()[2].row;
  REQUIRE(row0.size() == 64);
  const std::vector<size_t> chosen = {2, 3, 0};
  const std::vector<float> rows = intake.TakeRows(chosen, 64);
  REQUIRE(rows.size() == 3 * 64);
  CHECK(std::equal(row2.begin(), row2.end(), rows.begin()));
  CHECK(std::all_of(rows.begin() + 64, rows.begin() + 128,
                    [](float v) { return v == 0.0f; }));
  CHECK(std::equal(row0.begin(), row0.end(), rows.begin() + 128));
  CHECK(intake.updates()[0].row.empty());
  CHECK(intake.updates()[2].row.empty());
  CHECK_FALSE(intake.updates()[1].row.empty());  // not chosen: kept
  CHECK(intake.updates()[0].embedded);           // still says what it was
}

TEST_CASE("AddAll on several threads measures exactly what Add does") {
  const DetectorConfig config = BootstrapConfig();
  auto r = MakeRound(3, 9, {2});
  r->round.updates[4].invalid_reason = "bad";
  RoundIntake one(3, {}, nullptr, MayBootstrap(config));
  RoundIntake many(3, {}, nullptr, MayBootstrap(config));
  for (const UpdateInput& u : r->round.updates) one.Add(u);
  many.AddAll(r->round.updates, 3);
  REQUIRE(one.updates().size() == many.updates().size());
  for (size_t i = 0; i < one.updates().size(); ++i) {
    const UpdateDigest& a = one.updates()[i];
    const UpdateDigest& b = many.updates()[i];
    CHECK(a.embedder == b.embedder);
    CHECK(a.row == b.row);
    CHECK(a.features.ok() == b.features.ok());
    if (a.features.ok()) CHECK(a.features->norm == b.features->norm);
  }
  CHECK(one.updates()[4].embedder == -1);
  CHECK(one.updates()[4].row.empty());
}

}  // namespace
}  // namespace flsentry
