// client_references.h: each client's reference direction and rejected
// direction, alone and as the detector keeps them (Detector::ScoreRound's
// consistency and rejected_similarity, Detector::RememberRejected and
// RenewRejected).
#include "detector/client_references.h"

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "detector/detector.h"
#include "synthetic_round.h"

namespace flsentry {
namespace {

using testing::BootstrapSmall;
using testing::Direction;
using testing::SyntheticRound;

const std::vector<float> kEast = {1, 0, 0};
const std::vector<float> kWest = {-1, 0, 0};
const std::vector<float> kNorth = {0, 1, 0};

SharedEmbedding Shared(const std::vector<float>& v) {
  return std::make_shared<const std::vector<float>>(v);
}

TEST_CASE("a reference gives the cosine; none gives NaN") {
  ClientReferences refs(3);
  CHECK(std::isnan(refs.Consistency("a", kEast)));
  refs.Update("a", 1, Shared(kEast));
  CHECK(refs.Consistency("a", kEast) == doctest::Approx(1.0));
  CHECK(refs.Consistency("a", kWest) == doctest::Approx(-1.0));
  CHECK(std::isnan(refs.Consistency("a", std::vector<float>{0, 0, 0})));
  CHECK(std::isnan(refs.RejectedSimilarity("a", kEast).first));
}

TEST_CASE("a rejected direction: only without a reference, replaced by one") {
  ClientReferences refs(3);
  refs.Reject("a", 4, Shared(kWest));
  CHECK(std::isnan(refs.Consistency("a", kWest)));  // not a reference
  auto [similarity, round] = refs.RejectedSimilarity("a", kWest);
  CHECK(similarity == doctest::Approx(1.0));
  CHECK(round == 4);
  refs.Reject("a", 6, Shared(kNorth));  // a later rejection replaces it
  CHECK(refs.RejectedSimilarity("a", kNorth).second == 6);
  refs.Update("a", 7, Shared(kEast));  // a clean update ends it
  CHECK(std::isnan(refs.RejectedSimilarity("a", kNorth).first));
  CHECK(refs.Consistency("a", kEast) == doctest::Approx(1.0));
  refs.Reject("a", 8, Shared(kWest));  // a client with a reference keeps it
  CHECK(refs.Consistency("a", kEast) == doctest::Approx(1.0));
  CHECK(std::isnan(refs.RejectedSimilarity("a", kWest).first));
}

TEST_CASE("a repeat renews a rejected direction's round, not its direction") {
  ClientReferences refs(3);
  refs.Reject("a", 4, Shared(kWest));
  refs.Renew("a", 9);
  auto [similarity, round] = refs.RejectedSimilarity("a", kWest);
  CHECK(round == 9);
  CHECK(similarity == doctest::Approx(1.0));  // still the rejected direction
  CHECK(refs.RejectedSimilarity("a", kNorth).first == doctest::Approx(0.0));
  refs.Renew("a", 7);  // an earlier round does not move it back
  CHECK(refs.RejectedSimilarity("a", kWest).second == 9);
  refs.Renew("nobody", 9);  // no entry: none made
  CHECK(refs.size() == 1);
  refs.Update("b", 2, Shared(kEast));
  refs.Renew("b", 9);  // a reference is not a rejected direction
  CHECK(refs.ToJson()[1]["round"] == 2);
}

TEST_CASE("references and rejected directions round-trip through JSON") {
  ClientReferences refs(3);
  refs.Update("a", 2, Shared(kEast));
  refs.Reject("b", 3, Shared(kWest));
  const nlohmann::json json = refs.ToJson();
  CHECK_FALSE(json[0].contains("rejected"));
  CHECK(json[1]["rejected"] == true);
  ClientReferences back(3);
  REQUIRE(back.FromJson(json).ok());
  CHECK(back.ToJson() == json);
  CHECK(back.RejectedSimilarity("b", kWest).second == 3);
  nlohmann::json bad = json;
  bad[1]["rejected"] = "yes";
  Status status = back.FromJson(bad);
  CHECK(status.message() ==
        "detector state: reference: rejected must be a bool");
  CHECK(back.ToJson() == json);  // unchanged on error
}

TEST_CASE("past the bound the oldest (round, then id) are forgotten") {
  ClientReferences refs(3);
  auto id = [](size_t i) { return "c" + std::to_string(100000 + i); };
  // Client i at round 10 + i % 7: rounds 10..16, ids in order within each.
  for (size_t i = 0; i < kMaxClientReferences; ++i)
    refs.Update(id(i), 10 + i % 7, Shared(kEast));
  refs.Update(id(0), 20,
              Shared(kEast));  // c100000 is renewed: no longer oldest
  refs.Reject(id(7), 20,
              Shared(kWest));  // has a reference: unchanged (round 10)
  REQUIRE(refs.size() == kMaxClientReferences);
  // Through a state file and back: the same order.
  ClientReferences back(3);
  REQUIRE(back.FromJson(refs.ToJson()).ok());
  for (ClientReferences* r : {&refs, &back}) {
    r->Update("new1", 21,
              Shared(kNorth));  // evicts c100007 (round 10, smallest id)
    r->Reject("new2", 21, Shared(kWest));  // evicts c100014 (round 10, next id)
    CHECK(r->size() == kMaxClientReferences);
    CHECK(r->Consistency(id(0), kEast) == doctest::Approx(1.0));
    CHECK(std::isnan(r->Consistency(id(7), kEast)));
    CHECK(std::isnan(r->Consistency(id(14), kEast)));
    CHECK(r->Consistency(id(21), kEast) == doctest::Approx(1.0));
    CHECK(r->Consistency(id(1), kEast) == doctest::Approx(1.0));  // round 11
    CHECK(r->Consistency("new1", kNorth) == doctest::Approx(1.0));
    CHECK(r->RejectedSimilarity("new2", kWest).second == 21);
  }
  CHECK(refs.ToJson() == back.ToJson());
}

TEST_CASE("consistency: the cosine with the client's last clean update") {
  std::vector<std::string> ids = {"c0", "c1", "c2", "c3", "c4", "c5"};
  std::vector<std::vector<float>> rows;
  for (int c = 0; c < 6; ++c) rows.push_back(Direction(c, 1, 1));
  SyntheticRound r1(1, rows, ids);
  std::unique_ptr<Detector> d = BootstrapSmall(r1);
  auto first = d->ScoreRound(r1.round, r1.all);
  REQUIRE(first.ok());
  CHECK(std::isnan((*first)[0].consistency));  // no reference yet
  REQUIRE(d->LearnFromRound(1, {}, {}).ok());  // warm-up: learns every update
  // Round 2: c0 flips its sign, c1 carries on, a newcomer has no reference.
  rows = {Direction(0, -1, 2), Direction(1, 1, 2), Direction(2, 1, 2),
          Direction(3, 1, 2),  Direction(4, 1, 2), Direction(9, 1, 2)};
  SyntheticRound r2(2, rows, {"c0", "c1", "c2", "c3", "c4", "new"});
  auto second = d->ScoreRound(r2.round, r2.all);
  REQUIRE(second.ok());
  CHECK((*second)[0].consistency < -0.9);
  CHECK((*second)[1].consistency > 0.9);
  CHECK(std::isnan((*second)[5].consistency));
  CHECK(d->SaveState()["references"].size() == 6);
}

TEST_CASE("RememberRejected: a newcomer's dropped update, then its repeat") {
  std::vector<std::string> ids = {"c0", "c1", "c2", "c3", "c4", "c5"};
  std::vector<std::vector<float>> rows;
  for (int c = 0; c < 6; ++c) rows.push_back(Direction(c, 1, 1));
  SyntheticRound r1(1, rows, ids);
  std::unique_ptr<Detector> d = BootstrapSmall(r1);
  REQUIRE(d->ScoreRound(r1.round, r1.all).ok());
  REQUIRE(d->LearnFromRound(1, {}, {}).ok());
  // Round 2: a newcomer sends a flipped direction; the policy dropped it.
  rows = {Direction(0, 1, 2), Direction(1, 1, 2), Direction(2, 1, 2),
          Direction(3, 1, 2), Direction(4, 1, 2), Direction(9, -1, 2)};
  SyntheticRound r2(2, rows, {"c0", "c1", "c2", "c3", "c4", "new"});
  REQUIRE(d->ScoreRound(r2.round, r2.all).ok());
  const std::vector<size_t> rejected = {5, 0};
  const std::vector<std::string> who = {"new", "c0"};
  CHECK(d->RememberRejected(3, rejected, who).code() ==
        ErrorCode::kInvalidArgument);  // not the round last scored
  CHECK(d->RememberRejected(2, std::vector<size_t>{9},
                            std::vector<std::string>{"x"})
            .code() == ErrorCode::kInvalidArgument);
  REQUIRE(d->RememberRejected(2, rejected, who).ok());
  REQUIRE(d->LearnFromRound(2, {}, {}).ok());
  // Round 3: the newcomer repeats it; c0 (with a reference) is unaffected.
  rows[5] = Direction(9, -1, 3);
  SyntheticRound r3(3, rows, {"c0", "c1", "c2", "c3", "c4", "new"});
  auto third = d->ScoreRound(r3.round, r3.all);
  REQUIRE(third.ok());
  CHECK((*third)[5].rejected_similarity > 0.9);
  CHECK((*third)[5].rejected_round == 2);
  CHECK(std::isnan((*third)[5].consistency));
  CHECK(std::isnan((*third)[0].rejected_similarity));
  CHECK((*third)[0].consistency > 0.9);
  // The policy dropped the repeat: its round renews the direction.
  const std::vector<size_t> repeat = {5};
  const std::vector<std::string> repeater = {"new"};
  CHECK(d->RenewRejected(2, repeat, repeater).code() ==
        ErrorCode::kInvalidArgument);  // not the round last scored
  REQUIRE(d->RenewRejected(3, repeat, repeater).ok());
  REQUIRE(d->LearnFromRound(3, {}, {}).ok());
  SyntheticRound r4(4, rows, {"c0", "c1", "c2", "c3", "c4", "new"});
  auto fourth = d->ScoreRound(r4.round, r4.all);
  REQUIRE(fourth.ok());
  CHECK((*fourth)[5].rejected_round == 3);
  CHECK((*fourth)[5].rejected_similarity > 0.9);
}

TEST_CASE("agreement: a newcomer against the known clients, from 5 of them") {
  // Round 1 (warm-up): six clients along one direction become known.
  std::vector<std::string> ids = {"c0", "c1", "c2", "c3", "c4", "c5"};
  std::vector<std::vector<float>> rows;
  for (int c = 0; c < 6; ++c) rows.push_back(Direction(0, 1, 10 + c));
  SyntheticRound r1(1, rows, ids);
  for (const size_t known : {size_t{5}, size_t{4}}) {
    CAPTURE(known);
    std::unique_ptr<Detector> d = BootstrapSmall(r1);
    REQUIRE(d->ScoreRound(r1.round, r1.all).ok());
    REQUIRE(d->LearnFromRound(1, {}, {}).ok());
    // Round 2: `known` of them again, and newcomers sending the reverse.
    std::vector<std::vector<float>> next;
    std::vector<std::string> who;
    for (size_t c = 0; c < 6; ++c) {
      const bool returning = c < known;
      next.push_back(Direction(0, returning ? 1.f : -1.f, 20 + c));
      who.push_back(returning ? ids[c] : "new" + std::to_string(c));
    }
    SyntheticRound r2(2, next, who);
    auto scores = d->ScoreRound(r2.round, r2.all);
    REQUIRE(scores.ok());
    if (known == 5) {
      CHECK((*scores)[5].agreement < -0.9);  // against the known clients
      CHECK((*scores)[0].agreement > 0.9);
    } else {  // fewer than kMinKnownForAgreement: nobody is judged by it
      for (const UpdateScore& s : *scores) CHECK(std::isnan(s.agreement));
    }
  }
}

TEST_CASE("agreement: near-copies among the known clients count once") {
  // Round 1 (warm-up): six honest clients with directions of their own and
  // four sybils sending near-copies of one direction become known.
  std::vector<std::string> ids;
  std::vector<std::vector<float>> rows;
  for (int c = 0; c < 6; ++c) ids.push_back("h" + std::to_string(c));
  for (int c = 0; c < 4; ++c) ids.push_back("s" + std::to_string(c));
  for (int c = 0; c < 10; ++c) rows.push_back(Direction(c < 6 ? c : 7, 1, c));
  SyntheticRound r1(1, rows, ids);
  std::unique_ptr<Detector> d = BootstrapSmall(r1);
  REQUIRE(d->ScoreRound(r1.round, r1.all).ok());
  REQUIRE(d->LearnFromRound(1, {}, {}).ok());
  // Round 2: the same again, and a newcomer against the sybils' direction.
  // Counted one by one the sybils would make the known direction theirs:
  // agreement -4 / sqrt(6 + 16) = -0.85 for exact directions, -0.86 on
  // these noisy updates, -0.89 on this sketch; as one row, -1 / sqrt(7) =
  // -0.38, -0.41 on the updates, -0.58 on the sketch.
  for (int c = 0; c < 10; ++c) rows[c] = Direction(c < 6 ? c : 7, 1, 20 + c);
  rows.push_back(Direction(7, -1, 40));
  ids.push_back("new");
  SyntheticRound r2(2, rows, ids);
  auto scores = d->ScoreRound(r2.round, r2.all);
  REQUIRE(scores.ok());
  const double newcomer = (*scores)[10].agreement;
  CAPTURE(newcomer);
  CHECK(newcomer > -0.75);
  CHECK(newcomer < -0.2);
}

}  // namespace
}  // namespace flsentry
