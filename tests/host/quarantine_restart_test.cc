// The multi-round quarantine scenario through the C interface, with the
// state file and audit log on disk: a client attacking in rounds 3, 4 and 5
// is quarantined from round 5 (3 strikes in a window of 5) for 2 rounds, then
// on probation for 2; a host process killed (SIGKILL) after round 4 and
// restarted changes nothing.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "aggfilter_host.hpp"
#include "round_builder.h"

namespace {

constexpr const char* kPolicy = R"(
thresholds:
  rules:
    - kind: round_robust
      k: 6
quarantine:
  window_rounds: 5
  strikes: 3
  rounds: 2
  probation:
    rounds: 2
    max_weight: 0.5
state:
  path: state.json
audit:
  path: audit.jsonl
)";

const aggfilter::Plugin& Plugin() {
  static aggfilter::Plugin plugin(FLSENTRY_PLUGIN_PATH);
  return plugin;
}

// Round r: ten honest clients with small seeded updates; "mallory" sends an
// update 20x larger in rounds 3, 4 and 5 and an honest-looking one otherwise.
std::vector<aggfilter::Decision> RunRound(aggfilter::Instance& filter, int r) {
  testhost::RoundBuilder rb;
  std::mt19937 gen(1000 + r);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  for (int c = 0; c < 11; ++c) {
    std::vector<float> values(64);
    for (float& v : values) v = noise(gen);
    const bool mallory = c == 10;
    if (mallory && r >= 3 && r <= 5) {
      for (float& v : values) v *= 20.0f;
    }
    rb.AddUpdate(mallory ? "mallory" : "client_" + std::to_string(c),
                 {{"w", {64}, values}});
  }
  aggf_round round = rb.Build(static_cast<uint64_t>(r));
  return filter.filter(round);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string DecisionText(const std::vector<aggfilter::Decision>& decisions) {
  std::string text;
  for (const auto& d : decisions) {
    text += std::string(aggfilter::action_name(d.action)) + "/" + d.reason +
            "/" + std::to_string(d.weight) + "/" + std::to_string(d.flags) +
            ";";
  }
  return text;
}

}  // namespace

TEST_CASE(
    "quarantine across rounds, in decisions, audit log and state; "
    "restart-safe") {
  const auto root = std::filesystem::temp_directory_path() /
                    ("flsentry_quarantine_" + std::to_string(getpid()));
  std::filesystem::remove_all(root);
  const auto uninterrupted = root / "uninterrupted";
  const auto restarted = root / "restarted";
  std::filesystem::create_directories(uninterrupted);
  std::filesystem::create_directories(restarted);

  // Host A runs rounds 1..8 without interruption.
  std::vector<std::string> expected(9);
  {
    aggfilter::Instance filter =
        Plugin().create(kPolicy, uninterrupted.string());
    for (int r = 1; r <= 8; ++r) {
      auto d = RunRound(filter, r);
      expected[r] = DecisionText(d);
      const aggfilter::Decision& mallory = d.back();
      CAPTURE(r);
      for (size_t i = 0; i + 1 < d.size(); ++i)
        CHECK(d[i].action == AGGF_ACTION_ACCEPT);
      if (r <= 2) CHECK(mallory.action == AGGF_ACTION_ACCEPT);
      if (r == 3 || r == 4) {
        CHECK(mallory.action == AGGF_ACTION_DROP);
        CHECK(mallory.has_flag(AGGF_FLAG_ANOMALOUS));
        CHECK_FALSE(mallory.has_flag(AGGF_FLAG_QUARANTINED));
      }
      if (r == 5 ||
          r == 6) {  // third strike in round 5: quarantined for 2 rounds
        CHECK(mallory.action == AGGF_ACTION_DROP);
        CHECK(mallory.reason == "quarantined");
        CHECK(mallory.has_flag(AGGF_FLAG_QUARANTINED));
      }
      if (r == 7 || r == 8) {  // then probation: weight capped at 0.5
        CHECK(mallory.has_flag(AGGF_FLAG_PROBATION));
        CHECK(mallory.weight == doctest::Approx(0.5));
      }
    }
  }

  // Host B: a child process runs rounds 1..4 and is killed without cleanup;
  // a new host process loads the state file and runs rounds 5..8.
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    aggfilter::Instance filter = Plugin().create(kPolicy, restarted.string());
    for (int r = 1; r <= 4; ++r) RunRound(filter, r);
    raise(SIGKILL);
    _exit(1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  {
    aggfilter::Instance filter = Plugin().create(kPolicy, restarted.string());
    for (int r = 5; r <= 8; ++r) {
      CAPTURE(r);
      CHECK(DecisionText(RunRound(filter, r)) == expected[r]);
    }
  }

  // Same audit trail and same final state, byte for byte.
  const std::string audit = ReadFile(uninterrupted / "audit.jsonl");
  CHECK(audit == ReadFile(restarted / "audit.jsonl"));
  CHECK(ReadFile(uninterrupted / "state.json") ==
        ReadFile(restarted / "state.json"));
  CHECK(audit.find("\"client\":\"mallory\",\"client_factor\":1.0,"
                   "\"client_status\":\"quarantined\"") != std::string::npos);
  CHECK(audit.find("\"client_status\":\"probation\"") != std::string::npos);
  const std::string state = ReadFile(uninterrupted / "state.json");
  CHECK(state.find("mallory") != std::string::npos);
  std::filesystem::remove_all(root);
}
