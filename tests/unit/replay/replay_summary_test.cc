#include "replay/replay_summary.h"

#include <doctest/doctest.h>

#include <cmath>

namespace flsentry::cli {
namespace {

PolicyRun TwoRounds() {
  PolicyRun run;
  run.config_path = "p.yaml";
  ReplayRound r1;
  r1.number = 1;
  ReplayDecision a;
  a.round = 1;
  a.client = "a";
  a.num_examples = 10;
  a.label = ArchiveLabel::kBenign;
  a.decision = {AGGF_ACTION_ACCEPT, 0, 1.0, 0.25, 1.5, "ok"};
  ReplayDecision b = a;
  b.client = "b";
  b.label = ArchiveLabel::kMalicious;
  b.attack = "sign_flip";
  b.decision = {AGGF_ACTION_DROP,
                AGGF_FLAG_ANOMALOUS | AGGF_FLAG_QUARANTINED,
                0.0,
                9.5,
                1.5,
                "quarantined"};
  r1.decisions = {a, b};
  ReplayRound r2;
  r2.number = 2;
  ReplayDecision c = a;
  c.round = 2;
  c.unreadable = true;
  c.label = ArchiveLabel::kUnknown;
  c.decision = {AGGF_ACTION_DROP, AGGF_FLAG_INVALID, 0.0, NAN, NAN,
                "unreadable"};
  r2.decisions = {c};
  r2.errors = {"round 2: dropped as unreadable: x"};
  run.rounds = {r1, r2};
  return run;
}

TEST_CASE(
    "decisions.jsonl: one line per decision, documented keys in order, NaN as "
    "null") {
  const std::string jsonl = DecisionsJsonl(TwoRounds());
  CHECK(
      jsonl ==
      R"({"round":1,"client":"a","action":"accept","weight":1.0,"score":0.25,"threshold":1.5,"reason":"ok","flags":[],"num_examples":10,"label":"benign"})"
      "\n"
      R"({"round":1,"client":"b","action":"drop","weight":0.0,"score":9.5,"threshold":1.5,"reason":"quarantined","flags":["anomalous","quarantined"],"num_examples":10,"label":"malicious","attack":"sign_flip"})"
      "\n"
      R"({"round":2,"client":"a","action":"drop","weight":0.0,"score":null,"threshold":null,"reason":"unreadable","flags":["invalid"],"num_examples":10,"unreadable":true})"
      "\n");
}

TEST_CASE(
    "summary counts per round and overall; unreadable left out of the "
    "metrics") {
  auto s = SummaryJson(TwoRounds(), "arch", "plug", OnUnreadable::kDrop);
  CHECK(s["format"] == "flsentry-replay-summary/1");
  CHECK(s["on_unreadable"] == "drop");
  const auto& all = s["overall"];
  CHECK(all["clients"] == 3);
  CHECK(all["accepted"] == 1);
  CHECK(all["dropped"] == 2);
  CHECK(all["quarantined"] == 1);
  CHECK(all["unreadable"] == 1);
  CHECK(all["labelled"] == 2);
  CHECK(all["tp"] == 1);
  CHECK(all["tn"] == 1);
  CHECK(all["fp"] == 0);
  CHECK(all["fn"] == 0);
  CHECK(all["tpr"] == 1.0);
  CHECK(all["auc"] == 1.0);
  REQUIRE(s["rounds"].size() == 2);
  CHECK(s["rounds"][0]["round"] == 1);
  CHECK(s["rounds"][1]["errors"].size() == 1);
  CHECK_FALSE(s["rounds"][1].contains("tp"));  // no labels in round 2
}

TEST_CASE("rounds the plugin refused are counted, listed and said") {
  PolicyRun run = TwoRounds();
  CHECK(RefusedRounds(run).empty());
  CHECK(RefusedRoundsNote(run).empty());
  ReplayRound refused;
  refused.number = 5;
  refused.failed = true;
  run.rounds.push_back(refused);
  run.notes = {"a note"};
  CHECK(RefusedRounds(run) == std::vector<uint64_t>{5});
  const std::string note =
      "1 of 3 rounds refused by the plugin (5): the counts and metrics cover "
      "the other 2 rounds only";
  CHECK(RefusedRoundsNote(run) == note);
  auto s = SummaryJson(run, "arch", "plug", OnUnreadable::kDrop);
  CHECK(s["overall"]["rounds"] == 3);
  CHECK(s["overall"]["failed_rounds"] == 1);
  CHECK(s["overall"]["refused_rounds"] == nlohmann::json::array({5}));
  CHECK(s["notes"] == nlohmann::json::array({"a note", note}));
  auto overview = RunOverviewJson(run);
  CHECK(overview["clients"] == 3);
  CHECK(overview["refused_rounds"] == nlohmann::json::array({5}));
  CHECK(overview["notes"].size() == 2);
}

TEST_CASE("decisions.jsonl says where a flat folder's ids came from") {
  PolicyRun run = TwoRounds();
  run.rounds.resize(1);
  run.rounds[0].decisions.resize(1);
  run.rounds[0].decisions[0].client_from = "metadata";
  run.rounds[0].decisions[0].num_examples_from = "default";
  CHECK(
      DecisionsJsonl(run) ==
      R"({"round":1,"client":"a","action":"accept","weight":1.0,"score":0.25,"threshold":1.5,"reason":"ok","flags":[],"num_examples":10,"label":"benign","client_from":"metadata","num_examples_from":"default"})"
      "\n");
}

}  // namespace
}  // namespace flsentry::cli
