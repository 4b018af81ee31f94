// Tests of filter_engine.h: one round end to end on synthetic updates —
// norm scoring without a detector, the bootstrapped detector's warm-up and
// scoring, a restart through SaveState/LoadState continuing exactly, the
// refresh off the critical path (restart with it pending, log threads), and
// the column guard in one call and on arrival.
#include "engine/filter_engine.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/base64.h"
#include "engine/engine_fixture.h"
#include "engine/synthetic_round.h"

namespace flsentry {
namespace {

using namespace engine_test;

constexpr const char* kBootstrapPolicy = R"(
detector:
  bootstrap: {enabled: true, sketch_dim: 64, hidden: [16, 4]}
  refresh: {warmup_rounds: 3, epochs: 40, learning_rate: 0.01}
guards: {norm: {enabled: false}}
quarantine: {enabled: false}
)";

TEST_CASE("without a detector the update's L2 norm is the score") {
  auto engine = MustOpen("");
  auto r = MakeRound(1, 6);
  const std::vector<Decision> d = Filter(*engine, *r);
  REQUIRE(d.size() == 6);
  for (size_t i = 0; i < d.size(); ++i) {
    CHECK(d[i].score == doctest::Approx(Norm(*r, i)).epsilon(1e-6));
    CHECK(d[i].action == Action::kAccept);
  }
  auto state = engine->SaveState();
  REQUIRE(state.ok());
  CHECK_FALSE(nlohmann::json::parse(*state).contains("detector"));
}

TEST_CASE(
    "a bootstrapped detector learns from the warm-up rounds, then scores") {
  auto engine = MustOpen(kBootstrapPolicy);
  for (uint64_t round = 1; round <= 3; ++round) {
    // Warm-up rounds are trusted: judged by norm, every update learned from.
    auto r = MakeRound(round, 10);
    const std::vector<Decision> d = Filter(*engine, *r);
    for (size_t i = 0; i < d.size(); ++i) {
      CAPTURE(round);
      CHECK(d[i].score == doctest::Approx(Norm(*r, i)).epsilon(1e-6));
      CHECK(d[i].action == Action::kAccept);
    }
  }
  auto state = engine->SaveState();
  REQUIRE(state.ok());
  const nlohmann::json saved = nlohmann::json::parse(*state);
  REQUIRE(saved.contains("detector"));
  CHECK(saved["detector"]["rounds_learned"] == 3);
  CHECK(saved["detector"]["metadata"]["provenance"]["bootstrap"] == true);
  CHECK(saved["detector"]["metadata"]["architecture"]["layer_sizes"] ==
        nlohmann::json::array({64, 16, 4, 64}));

  // After warm-up the autoencoder's reconstruction error is the score, and
  // the sign-flipped updates stand out from their round.
  auto attacked = MakeRound(4, 10, {2, 7});
  const std::vector<Decision> d = Filter(*engine, *attacked);
  for (size_t i = 0; i < d.size(); ++i) {
    CAPTURE(i);
    CHECK(std::isfinite(d[i].score));
    CHECK(d[i].score != doctest::Approx(Norm(*attacked, i)));
    const bool malicious = i == 2 || i == 7;
    CHECK((d[i].action == Action::kDrop) == malicious);
    if (malicious) CHECK(d[i].reason == "anomalous");
  }
}

TEST_CASE(
    "a round with a malicious majority does not teach the detector the "
    "attack") {
  auto engine = MustOpen(kBootstrapPolicy);
  for (uint64_t round = 1; round <= 3; ++round)
    Filter(*engine, *MakeRound(round, 10));
  Filter(*engine, *MakeRound(4, 10, {1}));
  // Round 5: six of ten flip their sign, so the round's median is theirs.
  Filter(*engine, *MakeRound(5, 10, {0, 2, 3, 5, 7, 9}));
  Filter(*engine, *MakeRound(6, 10, {0, 2, 3, 5, 7, 9}));
  // A normal round afterwards: the detector still knows the benign direction.
  auto after = MakeRound(7, 10, {4, 8});
  const std::vector<Decision> d = Filter(*engine, *after);
  for (size_t i = 0; i < d.size(); ++i) {
    CAPTURE(i);
    CHECK((d[i].action == Action::kDrop) == (i == 4 || i == 8));
  }
}

TEST_CASE(
    "colluding clients sending the same update are dropped as duplicates") {
  auto engine = MustOpen(kBootstrapPolicy);
  for (uint64_t round = 1; round <= 3; ++round)
    Filter(*engine, *MakeRound(round, 8));
  auto r = MakeRound(4, 8);
  r->w[5] = r->w[3];  // clients 3 and 5 send the same update
  r->b[5] = r->b[3];
  r->round.updates[5].tensors[0].data = r->w[5].data();
  r->round.updates[5].tensors[1].data = r->b[5].data();
  const std::vector<Decision> d = Filter(*engine, *r);
  for (size_t i = 0; i < d.size(); ++i) {
    CAPTURE(i);
    const bool copy = i == 3 || i == 5;
    CHECK((d[i].action == Action::kDrop) == copy);
    if (copy) CHECK(d[i].reason == "duplicate");
    if (copy) CHECK((d[i].flags & kFlagDuplicate) != 0);
  }
}

TEST_CASE("a restarted engine continues a bootstrapped detector exactly") {
  auto straight = MustOpen(kBootstrapPolicy);
  auto first = MustOpen(kBootstrapPolicy);
  std::vector<std::vector<Decision>> expected;
  std::string saved;
  for (uint64_t round = 1; round <= 5; ++round) {
    auto r = MakeRound(round, 8,
                       round >= 4 ? std::vector<int>{1} : std::vector<int>{});
    expected.push_back(Filter(*straight, *r));
    if (round <= 3) {
      Filter(*first, *r);
      if (round == 3) saved = first->SaveState().value();
    }
  }
  auto restarted = MustOpen(kBootstrapPolicy);
  Status loaded = restarted->LoadState(saved);
  INFO(loaded.message());
  REQUIRE(loaded.ok());
  for (uint64_t round = 4; round <= 5; ++round) {
    auto r = MakeRound(round, 8, {1});
    const std::vector<Decision> d = Filter(*restarted, *r);
    const std::vector<Decision>& want = expected[round - 1];
    REQUIRE(d.size() == want.size());
    for (size_t i = 0; i < d.size(); ++i) {
      CAPTURE(round);
      CAPTURE(i);
      CHECK(d[i].score == want[i].score);  // bit for bit
      CHECK(d[i].action == want[i].action);
      CHECK(d[i].reason == want[i].reason);
    }
  }
}

TEST_CASE(
    "a bootstrapped detector meeting another model is rebuilt with a fresh "
    "warm-up, not a silent drop of every update") {
  std::vector<std::string> warnings;
  auto created = FilterEngine::Create(
      kBootstrapPolicy, "", [&](LogLevel level, std::string_view message) {
        if (level == LogLevel::kWarning) warnings.emplace_back(message);
      });
  REQUIRE(created.ok());
  FilterEngine& engine = **created;
  for (uint64_t round = 1; round <= 4; ++round)
    Filter(engine, *MakeRound(round, 6));
  // The model grows: rounds 5 on have another layout.
  for (uint64_t round = 5; round <= 8; ++round) {
    auto other = MakeRound(round, 6, {}, /*shape_rows=*/40);
    const std::vector<Decision> d = Filter(engine, *other);
    for (size_t i = 0; i < d.size(); ++i) {
      CAPTURE(round);
      CAPTURE(i);
      CHECK(d[i].action == Action::kAccept);
      CHECK((d[i].flags & kFlagScoreFailed) == 0);
      if (round <= 7) {  // the new detector's warm-up: judged by norm
        CHECK(d[i].score == doctest::Approx(Norm(*other, i)).epsilon(1e-6));
      } else {
        CHECK(d[i].score != doctest::Approx(Norm(*other, i)));
      }
    }
  }
  const bool told =
      std::any_of(warnings.begin(), warnings.end(), [](const std::string& w) {
        return w.find("round 5: the model changed") != std::string::npos &&
               w.find("rebuilt") != std::string::npos &&
               w.find("3 new warm-up rounds") != std::string::npos;
      });
  CHECK(told);
  const nlohmann::json saved = nlohmann::json::parse(*engine.SaveState());
  CHECK(saved["detector"]["rounds_learned"] == 4);
  CHECK(saved["detector"]["layout_signature"] == "b[16];w[40,16]");
}

TEST_CASE("a corrupt bootstrapped-detector state is refused, state unchanged") {
  auto engine = MustOpen(kBootstrapPolicy);
  Filter(*engine, *MakeRound(1, 6));
  const std::string good = engine->SaveState().value();
  nlohmann::json bad = nlohmann::json::parse(good);
  bad["detector"]["metadata"]["architecture"]["layer_sizes"] = {64, 16, 4, 32};
  CHECK_FALSE(engine->LoadState(bad.dump()).ok());
  bad["detector"].erase("metadata");
  CHECK_FALSE(engine->LoadState(bad.dump()).ok());
  CHECK(engine->SaveState().value() == good);
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Every field of every decision, bit for bit.
void CheckSameDecisions(const std::vector<Decision>& got,
                        const std::vector<Decision>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].action == want[i].action);
    CHECK(got[i].flags == want[i].flags);
    CHECK(SameBits(got[i].weight, want[i].weight));
    CHECK(SameBits(got[i].score, want[i].score));
    CHECK(SameBits(got[i].threshold, want[i].threshold));
    CHECK(SameBits(got[i].suspicion, want[i].suspicion));
    CHECK(got[i].reason == want[i].reason);
  }
}

std::string WithState(const fs::path& dir) {
  return std::string(kBootstrapPolicy) +
         "state: {path: " + (dir / "state.json").string() + "}\n";
}

std::unique_ptr<SyntheticRound> RoundWithAttack(uint64_t round) {
  return MakeRound(round, 8,
                   round >= 4 ? std::vector<int>{1} : std::vector<int>{});
}

TEST_CASE(
    "an engine restarted from a state file saved with its refresh pending "
    "decides as an uninterrupted one, byte for byte") {
  auto straight = MustOpen(kBootstrapPolicy);
  std::vector<std::vector<Decision>> expected;
  for (uint64_t round = 1; round <= 7; ++round)
    expected.push_back(Filter(*straight, *RoundWithAttack(round)));

  for (const uint64_t stop : {3, 4}) {  // warm-up (300 epochs), then 40
    CAPTURE(stop);
    const fs::path live =
        FreshDir("engine_pending", "live_" + std::to_string(stop));
    const fs::path copy =
        FreshDir("engine_pending", "copy_" + std::to_string(stop));
    {
      auto engine = MustOpen(WithState(live));
      for (uint64_t round = 1; round <= stop; ++round) {
        CheckSameDecisions(Filter(*engine, *RoundWithAttack(round)),
                           expected[round - 1]);
      }
      // What a process killed now leaves: the state committed with the
      // round, its fine-tune not yet recorded.
      fs::copy_file(live / "state.json", copy / "state.json");
    }
    const nlohmann::json on_disk =
        nlohmann::json::parse(ReadFile(copy / "state.json"));
    REQUIRE(on_disk["detector"].contains("pending_refresh"));
    CHECK(on_disk["detector"]["pending_refresh"]["round"] == stop);
    CHECK(on_disk["detector"]["pending_refresh"]["epochs"] ==
          (stop == 3 ? 300 : 40));
    CHECK(on_disk["round"] == stop);

    auto restarted = MustOpen(WithState(copy));
    for (uint64_t round = stop + 1; round <= 7; ++round) {
      CAPTURE(round);
      CheckSameDecisions(Filter(*restarted, *RoundWithAttack(round)),
                         expected[round - 1]);
    }
    CHECK(restarted->SaveState().value() == straight->SaveState().value());
  }
}

TEST_CASE(
    "log lines come only from the calling thread; the refresh's at the next "
    "call") {
  struct Line {
    std::thread::id thread;
    LogLevel level;
    std::string text;
  };
  std::vector<Line> lines;
  auto created = FilterEngine::Create(
      kBootstrapPolicy, "", [&](LogLevel level, std::string_view text) {
        lines.push_back({std::this_thread::get_id(), level, std::string(text)});
      });
  REQUIRE(created.ok());
  std::unique_ptr<FilterEngine> engine = std::move(created).value();
  auto told = [&](const std::string& text) {
    return std::any_of(lines.begin(), lines.end(), [&](const Line& l) {
      return l.text.find(text) != std::string::npos;
    });
  };
  for (uint64_t round = 1; round <= 5; ++round) {
    Filter(*engine, *RoundWithAttack(round));
    // Queued, not yet logged: the thread that ran it never calls back.
    CHECK_FALSE(
        told("round " + std::to_string(round) + ": detector refreshed"));
    if (round > 1) {
      CHECK(told("round " + std::to_string(round - 1) +
                 ": detector refreshed after the round"));
    }
  }
  std::string saved = engine->SaveState().value();
  CHECK(told("round 5: detector refreshed after the round (40 epochs over"));

  // A refresh that fails (a window row of values whose squares overflow; a
  // row of NaN is refused when the state loads) is skipped with a warning
  // at the next call; the weights stay.
  nlohmann::json state = nlohmann::json::parse(saved);
  const std::vector<float> huge_row(64, 3e38f);
  state["detector"]["window"][0]["embedding"] = FloatsToBase64(huge_row);
  state["detector"]["pending_refresh"] = {{"round", 5}, {"epochs", 3}};
  REQUIRE(engine->LoadState(state.dump()).ok());
  const size_t before = lines.size();
  const nlohmann::json after = nlohmann::json::parse(*engine->SaveState());
  REQUIRE(lines.size() > before);
  CHECK(lines.back().level == LogLevel::kWarning);
  CHECK(lines.back().text.find("round 5: detector refresh skipped") !=
        std::string::npos);
  CHECK(after["detector"]["weights"] == state["detector"]["weights"]);
  CHECK_FALSE(after["detector"].contains("pending_refresh"));

  Filter(*engine, *RoundWithAttack(6));
  engine.reset();  // the last round's refresh is logged by the destructor
  CHECK(told("round 6: detector refresh"));  // refreshed, or skipped
  for (const Line& line : lines) {
    CAPTURE(line.text);
    CHECK(line.thread == std::this_thread::get_id());
  }
}

// A client's rejected direction (its update dropped with suspicion >=
// fail_safes.severe_suspicion) lapses after quarantine.window_rounds; a
// later drop, by any rule, of an update pointing the same way renews it
// (policy.h PointsRejectedWay), so its next update that way is dropped as
// repeats_rejected (the policy's tests: a drop pointing elsewhere renews
// nothing).
TEST_CASE("a drop pointing a lapsed rejected direction's way renews it") {
  auto engine = MustOpen(
      "detector: {bootstrap: {enabled: true, sketch_dim: 64, hidden: [8]}, "
      "refresh: {warmup_rounds: 1, warmup_epochs: 2}}\n"
      "guards: {norm: {mode: drop}}\n"
      "quarantine: {enabled: false, window_rounds: 2, strikes: 2}\n");
  const auto rejected_round = [&engine]() -> int64_t {
    const nlohmann::json state = Saved(*engine);  // outlives the loop
    for (const auto& ref : state["detector"]["references"]) {
      if (ref["client"] == "client_5" && ref.value("rejected", false)) {
        return ref["round"].get<int64_t>();
      }
    }
    return -1;
  };
  // client_5 sends its update `scale` times over.
  const auto scaled = [](uint64_t number, float scale) {
    auto r = MakeRound(number, 6);
    for (float& v : r->w[5]) v *= scale;
    for (float& v : r->b[5]) v *= scale;
    return r;
  };
  Filter(*engine, *MakeRound(1, 5));  // the warm-up, without client_5
  // 10x the norm: dropped by the norm guard with suspicion >= 2.
  CHECK(Filter(*engine, *scaled(2, 10))[5].reason == "norm_guard");
  REQUIRE(rejected_round() == 2);
  for (uint64_t r = 3; r <= 5; ++r) Filter(*engine, *MakeRound(r, 5));
  // Lapsed: 4x, over the norm guard's limit, under the severe suspicion
  // (so not a new rejection), renews it.
  const Decision d = Filter(*engine, *scaled(6, 4))[5];
  CHECK(d.reason == "norm_guard");
  CHECK(d.suspicion < 2.0);
  CHECK(rejected_round() == 6);
  const Decision next = Filter(*engine, *MakeRound(7, 6))[5];
  CHECK(next.action == Action::kDrop);
  CHECK(next.reason == "repeats_rejected");
}

TEST_CASE("the column guard drops an update writing into one input column") {
  // Update 5 of round 4 adds 3 to column 3 of every row of w [32 x 16]:
  // far more than the round's others put there. Decided in one call and on
  // arrival alike (the energies kept with each digest until the end).
  auto one_call = MustOpen(kBootstrapPolicy);
  auto arrival = MustOpen(kBootstrapPolicy);
  for (uint64_t round = 1; round <= 3; ++round) {
    auto r = MakeRound(round, 10);
    Filter(*one_call, *r);
    Filter(*arrival, *r);
  }
  auto r = MakeRound(4, 10);
  for (int64_t row = 0; row < kRows; ++row) r->w[5][row * kCols + 3] += 3.0f;
  const std::vector<Decision> d = Filter(*one_call, *r);
  REQUIRE(arrival->BeginRound(4, {}).ok());
  for (const UpdateInput& u : r->round.updates) {
    REQUIRE(arrival->AddUpdate(u).ok());
  }
  auto ended = arrival->EndRound();
  REQUIRE(ended.ok());
  REQUIRE(ended->size() == d.size());
  for (size_t i = 0; i < d.size(); ++i) {
    CAPTURE(i);
    CHECK(((d[i].flags & kFlagColumnOutlier) != 0) == (i == 5));
    CHECK((*ended)[i].action == d[i].action);
    CHECK((*ended)[i].flags == d[i].flags);
  }
  CHECK(d[5].action == Action::kDrop);
}

}  // namespace
}  // namespace flsentry
