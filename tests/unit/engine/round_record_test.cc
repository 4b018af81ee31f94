// Tests of round_record.h: what a retried round is compared by, and the
// stored decisions' JSON (untrusted on the way back in).
#include "engine/round_record.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace flsentry {
namespace {

struct Fixture {
  std::vector<float> a = {1, 2, 3}, b = {4, 5, 6};
  std::vector<int64_t> shape = {3};
  RoundInput round;
  std::vector<PolicyInput> inputs;
  Fixture() {
    for (auto* data : {&a, &b}) {
      UpdateInput u;
      u.client_id = data == &a ? "a" : "b";
      u.num_examples = 7;
      u.tensors.push_back({"w", DType::kF32, shape, {}, data->data()});
      round.updates.push_back(u);
      PolicyInput in;
      in.client_id = u.client_id;
      in.score.norm = data == &a ? 3.7 : 8.8;
      in.score.embedding_hash = data == &a ? 11 : 22;
      inputs.push_back(in);
    }
  }
  uint64_t Fingerprint() const { return RoundFingerprint(round, inputs); }
};

TEST_CASE("the fingerprint changes with anything a decision is made from") {
  Fixture base;
  const uint64_t fp = base.Fingerprint();
  CHECK(Fixture().Fingerprint() == fp);
  auto differs = [&](auto change) {
    Fixture f;
    change(f);
    return f.Fingerprint() != fp;
  };
  CHECK(differs([](Fixture& f) { f.round.updates[1].client_id = "c"; }));
  CHECK(differs([](Fixture& f) { f.round.updates[0].num_examples = 8; }));
  CHECK(differs(
      [](Fixture& f) { f.round.updates[0].kind = UpdateKind::kWeights; }));
  CHECK(differs([](Fixture& f) { f.shape[0] = 2; }));
  CHECK(differs([](Fixture& f) { f.inputs[1].score.norm = 8.800000001; }));
  CHECK(differs([](Fixture& f) { f.inputs[0].score.embedding_hash = 12; }));
  CHECK(differs([](Fixture& f) { f.inputs[0].guard_flags = kFlagInvalid; }));
  CHECK(differs([](Fixture& f) { f.inputs[0].score.nonfinite = 1; }));
  CHECK(differs([](Fixture& f) {
    std::swap(f.round.updates[0], f.round.updates[1]);
    std::swap(f.inputs[0], f.inputs[1]);
  }));
}

TEST_CASE("a record survives JSON exactly; malformed records are refused") {
  RoundRecord record;
  record.round = 12;
  record.fingerprint = 0x0123456789abcdefULL;
  Decision keep;
  keep.score = 0.25;
  keep.threshold = 1.5;
  Decision drop;
  drop.action = Action::kDrop;
  drop.weight = 0.0;
  drop.flags = kFlagInvalid;
  drop.reason = "invalid";
  record.decisions = {keep, drop};
  const nlohmann::json json = RoundRecordToJson(record);
  CHECK(json["fingerprint"] == "0123456789abcdef");
  auto back = RoundRecordFromJson(json);
  REQUIRE(back.ok());
  CHECK(back->round == 12);
  CHECK(back->fingerprint == record.fingerprint);
  REQUIRE(back->decisions.size() == 2);
  CHECK(back->decisions[0].score == 0.25);
  CHECK(std::isnan(back->decisions[1].score));
  CHECK(back->decisions[1].reason == "invalid");
  CHECK(back->decisions[1].flags == kFlagInvalid);

  const std::vector<std::pair<std::string, nlohmann::json>> bad = {
      {"retry: expected an object", nlohmann::json::array()},
      {"retry.round",
       {{"fingerprint", "0000000000000000"},
        {"decisions", nlohmann::json::array()}}},
      {"retry.fingerprint",
       {{"round", 1},
        {"fingerprint", "xyz"},
        {"decisions", nlohmann::json::array()}}},
      {"retry.decisions[0]",
       {{"round", 1},
        {"fingerprint", "0000000000000000"},
        {"decisions", {{"accept", 0, 1.5, nullptr, nullptr, "ok"}}}}},
      {"retry.decisions[0]",
       {{"round", 1},
        {"fingerprint", "0000000000000000"},
        {"decisions", {{"keep", 0, 1.0, nullptr, nullptr, "ok"}}}}},
      {"retry.decisions[0]",
       {{"round", 1},
        {"fingerprint", "0000000000000000"},
        {"decisions", {{"accept", -1, 1.0, nullptr, nullptr, "ok"}}}}},
  };
  for (const auto& [message, value] : bad) {
    CAPTURE(value.dump());
    auto parsed = RoundRecordFromJson(value);
    REQUIRE_FALSE(parsed.ok());
    CAPTURE(parsed.status().message());
    CHECK(parsed.status().code() == ErrorCode::kState);
    CHECK(parsed.status().message().find(message) != std::string::npos);
  }
}

}  // namespace
}  // namespace flsentry
