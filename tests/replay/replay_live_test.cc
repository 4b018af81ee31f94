// replay_live_test — a replay of an archive recorded by `flsentry-simulate`
// reproduces the decisions the live run made: a short attacked federated
// run on Fashion-MNIST with flsentry's filter and the default policy records
// its rounds; `flsentry replay` of that archive with the same policy must
// give, for every round and client, the same action, weight, reason and
// score as the live run's rounds.jsonl.
//
// Exit codes: 0 pass, 1 fail, 77 skipped (Fashion-MNIST not installed).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "replay_test_util.h"

namespace {

using namespace replaytest;
using Json = nlohmann::json;

constexpr const char* kSimConfig =
    R"(# live-equals-replay test: 6 clients, 6 rounds,
# two sign-flippers from round 4 (after default.yaml's 3 warm-up rounds).
model: mlp
hidden: 16
clients: 6
partition: iid
train_examples: 3000
test_examples: 1000
local_epochs: 1
lr: 0.05
batch_size: 32
participation: 1.0
rounds: 6
seed: 3
attack:
  type: sign_flip
  fraction: 0.34
  start_round: 4
)";

bool SameNumber(const Json& a, const Json& b) {
  if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
  const double x = a.get<double>(), y = b.get<double>();
  return x == y ||
         std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
}

}  // namespace

int main() {
  if (access("/usr/share/datasets/fashion-mnist", R_OK) != 0) {
    std::fprintf(stderr,
                 "SKIP: Fashion-MNIST not installed (scripts/setup.sh)\n");
    return 77;
  }
  TempDir dir;
  WriteFile(dir / "sim.yaml", kSimConfig);
  // The live server's policy, with its state and audit files in its own
  // directory: replay must not touch them, nor start from them.
  WriteFile(dir / "live/policy.yaml",
            ReadFile(FLSENTRY_SOURCE_DIR "/configs/default.yaml"));
  RunResult live =
      Run({SIMULATE_BIN, "--config", dir / "sim.yaml", "--plugin",
           FILTER_PLUGIN, "--filter-config", dir / "live/policy.yaml",
           "--record", dir / "archive", "--out", dir / "live/out", "--quiet"});
  if (live.exit_code != 0) {
    std::fprintf(stderr, "FAIL: simulate: %s\n", live.err.c_str());
    return 1;
  }
  const std::string live_state = ReadFile(dir / "live/flsentry_state.json");
  RunResult replay = Run({FLSENTRY_BIN, "replay", dir / "archive", "--config",
                          dir / "live/policy.yaml", "--plugin", FILTER_PLUGIN,
                          "--out", dir / "replay"});
  if (replay.exit_code != 0) {
    std::fprintf(stderr, "FAIL: replay: %s\n", replay.err.c_str());
    return 1;
  }
  int failures = 0;
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  };
  if (ReadFile(dir / "live/flsentry_state.json") != live_state) {
    fail("replay changed the live server's state file");
  }
  std::map<std::pair<uint64_t, std::string>, Json> replayed;
  {
    std::istringstream in(ReadFile(dir / "replay/decisions.jsonl"));
    for (std::string line; std::getline(in, line);) {
      Json d = Json::parse(line);
      replayed[{d["round"].get<uint64_t>(), d["client"].get<std::string>()}] =
          d;
    }
  }
  size_t compared = 0, dropped = 0;
  std::istringstream rounds(ReadFile(dir / "live/out/rounds.jsonl"));
  for (std::string line; std::getline(rounds, line);) {
    const Json round = Json::parse(line);
    const uint64_t number = round["round"].get<uint64_t>();
    for (const Json& c : round["clients"]) {
      const std::string id = c["id"].get<std::string>();
      const std::string where =
          "round " + std::to_string(number) + " client " + id;
      auto it = replayed.find({number, id});
      if (it == replayed.end()) {
        fail(where + ": no replayed decision");
        continue;
      }
      const Json& r = it->second;
      ++compared;
      dropped += c["action"] == "drop";
      if (r["action"] != c["action"])
        fail(where + ": action " + r["action"].dump() + " != live " +
             c["action"].dump());
      if (r["reason"] != c["reason"])
        fail(where + ": reason " + r["reason"].dump() + " != live " +
             c["reason"].dump());
      if (!SameNumber(r["weight"], c["weight"]))
        fail(where + ": weight differs");
      if (!SameNumber(r["score"], c["score"])) {
        fail(where + ": score " + r["score"].dump() + " != live " +
             c["score"].dump());
      }
    }
  }
  if (compared != replayed.size())
    fail("replay has decisions the live run did not make");
  if (compared < 20)
    fail("too few decisions compared: " + std::to_string(compared));
  if (failures) return 1;
  std::printf(
      "PASS: %zu decisions (%zu drops) identical in live run and replay\n",
      compared, dropped);
  return 0;
}
