#include "replay/replay_runner.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>

namespace flsentry::cli {
namespace {

namespace fs = std::filesystem;

TEST_CASE(
    "replay points the policy's state and audit files into its own directory") {
  char tmpl[] = "/tmp/flsentry_prepare_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/replay_state.json")
      << "{\"left\": \"by an earlier replay\"}";
  const std::string policy =
      "# live server policy\nstate:\n  path: /var/lib/server/state.json\n"
      "  on_corrupt: fail\naudit:\n  path: audit.jsonl\nthresholds:\n  k: "
      "3.5\n";
  auto prepared = PreparePolicy(policy, dir);
  REQUIRE(prepared.ok());
  YAML::Node node = YAML::Load(prepared->text);
  CHECK(node["state"]["path"].as<std::string>() == dir + "/replay_state.json");
  CHECK(node["state"]["on_corrupt"].as<std::string>() == "fail");
  CHECK(node["audit"]["path"].as<std::string>() == dir + "/replay_audit.jsonl");
  CHECK(node["thresholds"]["k"].as<std::string>() == "3.5");
  REQUIRE(prepared->redirects.size() == 2);
  CHECK(prepared->redirects[0].find("/var/lib/server/state.json") !=
        std::string::npos);
  CHECK_FALSE(
      fs::exists(dir + "/replay_state.json"));  // fresh state every replay
  fs::remove_all(dir);
}

TEST_CASE(
    "only the two path scalars change: every other byte is the "
    "operator's") {
  char tmpl[] = "/tmp/flsentry_prepare_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  // A quoted number the plugin refuses live must reach it as written (a
  // yaml-cpp round trip would have unquoted it); comments and flow style
  // stay; quoted and plain paths are both found.
  const std::string policy =
      "# live\nthresholds: {rules: [{kind: round_ratio, k: \"5\"}]}  # why\n"
      "state: {path: 'st''ate.json', on_corrupt: reset}\n"
      "audit:\n  path: logs/audit.jsonl   # rotated nightly\n";
  auto prepared = PreparePolicy(policy, dir);
  REQUIRE(prepared.ok());
  const std::string state = "\"" + dir + "/replay_state.json\"";
  const std::string audit = "\"" + dir + "/replay_audit.jsonl\"";
  CHECK(prepared->text ==
        "# live\nthresholds: {rules: [{kind: round_ratio, k: \"5\"}]}  # why\n"
        "state: {path: " +
            state +
            ", on_corrupt: reset}\n"
            "audit:\n  path: " +
            audit + "   # rotated nightly\n");
  YAML::Node node = YAML::Load(prepared->text);
  CHECK(node["state"]["path"].as<std::string>() == dir + "/replay_state.json");
  CHECK(prepared->redirects[0] ==
        "state.path st'ate.json -> " + dir + "/replay_state.json");
  CHECK(prepared->audit_path == dir + "/replay_audit.jsonl");
  fs::remove_all(dir);
}

TEST_CASE(
    "policies without state/audit paths, or not YAML maps, pass unchanged") {
  for (const std::string& text :
       {std::string("thresholds: {k: 3}\n"), std::string("1.5"),
        std::string(""), std::string("state: {on_corrupt: reset}\n"),
        std::string("[unclosed"), std::string("state: [1, 2]\n")}) {
    CAPTURE(text);
    auto prepared = PreparePolicy(text, "/nonexistent");
    REQUIRE(prepared.ok());
    CHECK(prepared->text == text);
    CHECK(prepared->redirects.empty());
  }
}

TEST_CASE("--on-unreadable values") {
  OnUnreadable mode = OnUnreadable::kDrop;
  CHECK(ParseOnUnreadable("skip", &mode));
  CHECK(mode == OnUnreadable::kSkip);
  CHECK(ParseOnUnreadable("fail", &mode));
  CHECK(mode == OnUnreadable::kFail);
  CHECK_FALSE(ParseOnUnreadable("ignore", &mode));
  CHECK(std::string(OnUnreadableName(OnUnreadable::kDrop)) == "drop");
}

}  // namespace
}  // namespace flsentry::cli

namespace flsentry::cli {
namespace {

TEST_CASE("the trusted warm-up rounds of a policy's detector are read") {
  const char* bootstrap =
      "detector:\n  bootstrap: {enabled: true}\n"
      "  refresh: {enabled: true, warmup_rounds: 3}\n";
  CHECK(TrustedWarmupRounds(bootstrap) == 3);
  CHECK(TrustedWarmupRounds("detector:\n  path: det\n  refresh:\n"
                            "    enabled: yes\n    warmup_rounds: 2\n") == 2);
  // No detector, refresh off, no warm-up, or not a policy: none.
  CHECK(TrustedWarmupRounds("detector:\n  refresh: {enabled: true, "
                            "warmup_rounds: 3}\n") == 0);
  CHECK(TrustedWarmupRounds(
            "detector:\n  bootstrap: {enabled: true}\n"
            "  refresh: {enabled: false, warmup_rounds: 3}\n") == 0);
  CHECK(TrustedWarmupRounds("{}\n") == 0);
  CHECK(TrustedWarmupRounds("1.0") == 0);
  CHECK(TrustedWarmupRounds("[unclosed") == 0);
}

TEST_CASE("a replay within the warm-up says so; a longer one does not") {
  const std::string one = WarmupNote(1, 3);
  CHECK(one.find("every round replayed (1) was a trusted warm-up round") == 0);
  CHECK(one.find("detector.refresh.warmup_rounds: 3") != std::string::npos);
  CHECK(one.find("replay more than 3 rounds") != std::string::npos);
  CHECK_FALSE(WarmupNote(3, 3).empty());
  CHECK(WarmupNote(4, 3).empty());
  CHECK(WarmupNote(1, 0).empty());
  CHECK(WarmupNote(0, 3).empty());  // every round refused: nothing judged
}

TEST_CASE("a flat folder's note counts the ids and counts from metadata") {
  std::vector<ReplayDecision> d(3);
  d[0].client_from = "metadata";
  d[0].num_examples_from = "metadata";
  d[1].client_from = "metadata";
  d[1].num_examples_from = "default";
  d[2].client_from = "file name";
  d[2].num_examples_from = "default";
  CHECK(FlatSourcesNote(d) ==
        "flat folder: client ids from the files' metadata for 2 of 3 updates "
        "(the others: the file name), num_examples for 1 of 3 (the others: "
        "1)");
}

TEST_CASE("RemoveReplayOutputs removes replay's files and nothing else") {
  char tmpl[] = "/tmp/flsentry_outputs_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  for (const std::string& name : ReplayOutputFiles()) {
    std::ofstream(dir + "/" + name) << "x";
  }
  std::ofstream(dir + "/mine.txt") << "keep";
  RemoveReplayOutputs(dir);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) {
    left.push_back(e.path().filename().string());
  }
  CHECK(left == std::vector<std::string>{"mine.txt"});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flsentry::cli
