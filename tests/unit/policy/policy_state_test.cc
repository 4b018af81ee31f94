#include "policy/policy_state.h"

#include <doctest/doctest.h>

using namespace flsentry;

namespace {

nlohmann::json ValidState() {
  return nlohmann::json::parse(R"({
    "clients": {"c1": {"strikes": [[3, 1.0], [4, 0.25]], "quarantine_end": 0,
                       "probation_end": 0, "probation_strikes": 0.0,
                       "reputation": 0.64, "last_round": 4,
                       "rounds_seen": 4, "quarantines": 0,
                       "score_ratios": [1.5, 2.25], "graces": [3],
                       "claims": [600, 610]}},
    "score_history": [{"round": 4, "scores": [1.0, 1.5]}],
    "norm_history": [{"round": 3, "median_norm": 0.5},
                     {"round": 4, "median_norm": 0.25}],
    "last_round": 4})");
}

// The format before strike weights and client histories.
nlohmann::json OldState() {
  return nlohmann::json::parse(R"({
    "clients": {"c1": {"strikes": [3, 4], "quarantine_end": 0,
                       "probation_end": 0, "probation_strikes": 0,
                       "reputation": 0.64, "last_round": 4,
                       "rounds_seen": 4, "quarantines": 0}},
    "score_history": [], "last_round": 4})");
}

}  // namespace

TEST_CASE("client status follows the round ends") {
  ClientRecord r;
  r.quarantine_end = 7;
  r.probation_end = 9;
  CHECK(r.StatusAt(5) == ClientStatus::kQuarantined);
  CHECK(r.StatusAt(6) == ClientStatus::kQuarantined);
  CHECK(r.StatusAt(7) == ClientStatus::kProbation);
  CHECK(r.StatusAt(8) == ClientStatus::kProbation);
  CHECK(r.StatusAt(9) == ClientStatus::kNormal);
  CHECK(ClientRecord{}.StatusAt(0) == ClientStatus::kNormal);
}

TEST_CASE("state round-trips through JSON") {
  auto state = PolicyStateFromJson(ValidState());
  REQUIRE(state.ok());
  const ClientRecord& c1 = state->clients.at("c1");
  CHECK(c1.strikes == std::vector<Strike>{{3, 1.0}, {4, 0.25}});
  CHECK(c1.StrikeWeight() == 1.25);
  CHECK(c1.score_ratios == std::vector<double>{1.5, 2.25});
  CHECK(c1.claims == std::vector<uint64_t>{600, 610});
  CHECK(c1.graces == std::vector<uint64_t>{3});
  CHECK(state->score_history.size() == 1);
  CHECK(state->norm_history == std::deque<RoundNorm>{{3, 0.5}, {4, 0.25}});
  CHECK(state->last_round == 4u);
  CHECK(PolicyStateToJson(*state) == ValidState());
  PolicyState empty;
  CHECK(PolicyStateToJson(empty)["last_round"].is_null());
  CHECK(PolicyStateFromJson(PolicyStateToJson(empty)).ok());
}

TEST_CASE("a state from before strike weights reads as whole strikes") {
  auto state = PolicyStateFromJson(OldState());
  REQUIRE_MESSAGE(state.ok(), state.status().message());
  const ClientRecord& c1 = state->clients.at("c1");
  CHECK(c1.strikes == std::vector<Strike>{{3, 1.0}, {4, 1.0}});
  CHECK(c1.score_ratios.empty());
  CHECK(c1.claims.empty());
  CHECK(c1.graces.empty());
  CHECK(state->norm_history.empty());
}

TEST_CASE("malformed state values are kState errors naming the member") {
  struct Case {
    const char* pointer;
    nlohmann::json value;
    const char* message;
  };
  const Case cases[] = {
      {"/clients/c1/reputation", 1.5,
       "policy.clients[\"c1\"].reputation: must be in [0, 1]"},
      {"/clients/c1/reputation", "high",
       "policy.clients[\"c1\"].reputation: must be a number"},
      {"/clients/c1/strikes", nlohmann::json::parse("[[3, 0]]"),
       "policy.clients[\"c1\"].strikes: entries must be rounds or [round, "
       "weight in (0, 1]]"},
      {"/clients/c1/strikes", nlohmann::json::parse("[[3, 1.5]]"),
       "policy.clients[\"c1\"].strikes: entries must be rounds or [round, "
       "weight in (0, 1]]"},
      {"/clients/c1/graces", nlohmann::json::parse("[4, 3]"),
       "policy.clients[\"c1\"].graces: entries must be strictly ascending "
       "round numbers"},
      {"/clients/c1/score_ratios", nlohmann::json::parse("[-1]"),
       "policy.clients[\"c1\"].score_ratios: entries must be finite "
       "non-negative numbers"},
      {"/clients/c1/claims", nlohmann::json::parse("[1,2,3,4,5,6,7,8,9]"),
       "policy.clients[\"c1\"].claims: must be an array of at most 8 "
       "integers"},
      {"/clients/c1/probation_strikes", -0.5,
       "policy.clients[\"c1\"].probation_strikes: must be in [0, 10000]"},
      {"/clients/c1/strikes", nlohmann::json({4, 3}),
       "policy.clients[\"c1\"].strikes: rounds must be strictly ascending"},
      {"/clients/c1/strikes", nlohmann::json({-1}),
       "policy.clients[\"c1\"].strikes: entries must be rounds or [round, "
       "weight "
       "in (0, 1]]"},
      {"/clients/c1/quarantine_end", -3,
       "policy.clients[\"c1\"].quarantine_end: must be a non-negative integer"},
      {"/clients/c1", 5, "policy.clients[\"c1\"]: must be an object"},
      {"/clients", nlohmann::json::array(),
       "policy.clients: must be an object keyed by client id"},
      {"/score_history/0/scores", nlohmann::json({1, "x"}),
       "policy.score_history[0].scores: entries must be finite numbers"},
      {"/norm_history/0/median_norm", 0,
       "policy.norm_history[0].median_norm: must be a finite number > 0"},
      {"/norm_history", nlohmann::json::object(),
       "policy.norm_history: must be an array"},
      {"/last_round", "four",
       "policy.last_round: must be a non-negative integer or null"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.pointer);
    nlohmann::json state = ValidState();
    state[nlohmann::json::json_pointer(c.pointer)] = c.value;
    auto r = PolicyStateFromJson(state);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kState);
    CHECK(r.status().message() == c.message);
  }
  nlohmann::json missing = ValidState();
  missing["clients"]["c1"].erase("rounds_seen");
  CHECK(PolicyStateFromJson(missing).status().message() ==
        "policy.clients[\"c1\"].rounds_seen: missing");
  CHECK_FALSE(PolicyStateFromJson(nlohmann::json(3)).ok());
}
