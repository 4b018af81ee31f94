// Tests of filter_engine.h, third file: a state file loaded under a changed
// policy (configs/README.md, "Changing the policy between restarts"). Each
// documented effect of a key that can change between restarts is checked
// here or, for the detector checks alone, in state_checks_test.cc.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine_fixture.h"
#include "engine/filter_engine.h"
#include "engine/synthetic_round.h"

namespace flsentry {
namespace {

using namespace engine_test;
using nlohmann::json;

constexpr const char* kSmallDetector =
    "detector: {bootstrap: {enabled: true, sketch_dim: 64, hidden: [16, 4]}, "
    "refresh: {warmup_rounds: 1, warmup_epochs: 5, epochs: 2}}\n";

TEST_CASE("another bootstrap shape refuses the state, saying how to go on") {
  const fs::path dir = FreshDir("engine_restart", "shape");
  Filter(*MustOpen(StateOnly(dir, kSmallDetector)), *MakeRound(1, 6));
  const std::string other_shapes[] = {
      "sketch_dim: 128, hidden: [16, 4]", "sketch_dim: 64, hidden: [16]",
      "sketch_dim: 64, hidden: [16, 4], sketch_version: 2"};
  for (const std::string& shape : other_shapes) {
    CAPTURE(shape);
    auto refused = OpenEngine(
        StateOnly(dir, "detector: {bootstrap: {enabled: true, " + shape +
                           "}, refresh: {warmup_rounds: 1}}\n"),
        nullptr);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == ErrorCode::kState);
    const std::string& message = refused.status().message();
    CHECK(message.find((dir / "state.json").string()) == 0);
    CHECK(message.find("sketch_dim 64, sketch_version 1, hidden [16, 4]") !=
          std::string::npos);
    CHECK(message.find("del(.detector") != std::string::npos);
  }
}

TEST_CASE("a detector switched off is dropped with a warning; clients kept") {
  const fs::path dir = FreshDir("engine_restart", "off");
  {
    auto engine = MustOpen(StateOnly(dir, kSmallDetector));
    Filter(*engine, *MakeRound(1, 6));
  }
  std::vector<std::string> log;
  auto engine = MustOpen(StateOnly(dir), &log);
  REQUIRE(log.size() == 1);
  CHECK(log[0].find("detector is ignored") != std::string::npos);
  Filter(*engine, *MakeRound(2, 6));
  const json saved = Saved(*engine);
  CHECK_FALSE(saved.contains("detector"));
  CHECK(saved["policy"]["clients"]["client_0"]["rounds_seen"] == 2);
}

TEST_CASE("a raised warmup_rounds starts warm-up rounds again") {
  const fs::path dir = FreshDir("engine_restart", "warmup");
  {
    auto engine = MustOpen(StateOnly(dir, kSmallDetector));
    Filter(*engine, *MakeRound(1, 6));
    auto r = MakeRound(2, 6);
    const std::vector<Decision> d = Filter(*engine, *r);
    CHECK(d[0].score != doctest::Approx(Norm(*r, 0)));  // judged by the AE
  }
  std::string more(kSmallDetector);
  more.replace(more.find("warmup_rounds: 1"), 16, "warmup_rounds: 3");
  auto engine = MustOpen(StateOnly(dir, more));
  auto r = MakeRound(3, 6);
  const std::vector<Decision> d = Filter(*engine, *r);  // learned 2 of 3
  CHECK(d[0].score == doctest::Approx(Norm(*r, 0)).epsilon(1e-6));
}

TEST_CASE("quarantine switched off: running quarantines end as set, no new") {
  const fs::path dir = FreshDir("engine_restart", "quarantine_off");
  const std::string on = StateOnly(dir,
                                   "guards: {norm: {mode: drop}}\n"
                                   "quarantine: {strikes: 1, rounds: 3, "
                                   "probation: {rounds: 0}}\n");
  Filter(*MustOpen(on), *Oversized(1, 3));  // client_3 until round 4
  auto engine =
      MustOpen(StateOnly(dir,
                         "guards: {norm: {mode: drop}}\n"
                         "quarantine: {enabled: false, strikes: 1}\n"));
  CHECK(Filter(*engine, *MakeRound(2, 6))[3].reason == "quarantined");
  CHECK(Filter(*engine, *MakeRound(4, 6))[3].action == Action::kAccept);
  const std::vector<Decision> d = Filter(*engine, *Oversized(5, 4));
  CHECK(d[4].action == Action::kDrop);  // struck, not quarantined
  CHECK(d[4].reason == "anomalous");
  const json client = Saved(*engine)["policy"]["clients"]["client_4"];
  CHECK(client["strikes"].size() == 1);
  CHECK(client["quarantine_end"] == 0);
}

TEST_CASE("quarantine lengths changed: running quarantines keep their end") {
  const fs::path dir = FreshDir("engine_restart", "quarantine_len");
  const std::string base = "guards: {norm: {mode: drop}}\n";
  Filter(
      *MustOpen(StateOnly(dir, base + "quarantine: {strikes: 1, rounds: 3}")),
      *Oversized(1, 3));
  auto engine =
      MustOpen(StateOnly(dir, base + "quarantine: {strikes: 1, rounds: 10}"));
  const std::vector<Decision> d = Filter(*engine, *Oversized(2, 5));
  CHECK(d[5].reason == "quarantined");
  const json clients = Saved(*engine)["policy"]["clients"];
  CHECK(clients["client_3"]["quarantine_end"] == 4);   // as set in round 1
  CHECK(clients["client_5"]["quarantine_end"] == 12);  // the new length
}

TEST_CASE("audit.path changed: a new log, the old one left as it is") {
  const fs::path dir = FreshDir("engine_restart", "audit_path");
  auto policy = [&](const std::string& log) {
    return StateOnly(dir, "audit: {path: " + (dir / log).string() + "}\n");
  };
  Filter(*MustOpen(policy("old.jsonl")), *MakeRound(1, 6));
  const auto old_size = fs::file_size(dir / "old.jsonl");
  auto engine = MustOpen(policy("new.jsonl"));
  Filter(*engine, *MakeRound(2, 6));
  CHECK(fs::file_size(dir / "old.jsonl") == old_size);
  std::ifstream in(dir / "new.jsonl");
  std::string first;
  std::getline(in, first);
  CHECK(json::parse(first)["round"] == 2);
}

TEST_CASE("rounds.max_gap changed applies to the next round") {
  const fs::path dir = FreshDir("engine_restart", "max_gap");
  Filter(*MustOpen(StateOnly(dir)), *MakeRound(1, 6));
  auto engine = MustOpen(StateOnly(dir, "rounds: {max_gap: 2}\n"));
  CHECK(engine->FilterRound(MakeRound(4, 6)->round).status().code() ==
        ErrorCode::kRoundNumber);
  Filter(*engine, *MakeRound(3, 6));
}

}  // namespace
}  // namespace flsentry
