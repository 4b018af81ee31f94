// kill_test — crash consistency of the state file and the audit log under
// kill -9 at random points. Each trial forks a host process that loads the
// plugin (through host_api/, as a server does), retries the last committed
// round (which must return AGGF_OK) and then filters rounds of --clients
// updates with the state file and audit log on, until the parent kills it
// with SIGKILL after a random delay. The parent then checks:
//   - the state file is a whole state document (corrupt otherwise);
//   - a new instance opens (the audit log's tail is repaired on open);
//   - the audit log holds rounds 1..R exactly, R the state's round, each
//     once with one line per client, update indices 0..n-1 in order: a line
//     that does not parse is torn, a round of the state absent from the log
//     is missing, a round twice or beyond R is extra.
// Prints one summary line and exits 0 when nothing was torn, missing,
// extra or corrupt. Used by CTest (few trials) and scripts/kill_test.sh.
//
//   kill_test PLUGIN DIR [--trials N] [--clients N] [--max-delay-ms N]
//             [--seed N]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aggfilter_host.hpp"

namespace {

namespace fs = std::filesystem;

struct Options {
  std::string plugin, dir;
  int trials = 100;
  int clients = 1000;
  int max_delay_ms = 400;
  uint64_t seed = 1;
};

struct Counts {
  int torn = 0, missing = 0, extra = 0, corrupt = 0, refused = 0;
  int retries_checked = 0;
};

std::string Policy(const Options& o) {
  return "guards: {norm: {mode: drop}}\n"
         "quarantine: {strikes: 2, window_rounds: 5, rounds: 3}\n"
         "state: {path: " +
         o.dir + "/state.json}\naudit: {path: " + o.dir + "/audit.jsonl}\n";
}

// Round r: every client sends 16 values; one in 50 sends them 20x larger.
struct Round {
  std::vector<std::string> ids;
  std::vector<std::vector<float>> values;
  std::vector<aggf_tensor> tensors;
  std::vector<aggf_update> updates;
  int64_t shape[1] = {16};
  aggf_round round{};

  Round(uint64_t number, int clients) {
    std::mt19937 gen(static_cast<uint32_t>(number));
    std::normal_distribution<float> noise(0.0f, 0.1f);
    ids.resize(clients);
    values.resize(clients);
    tensors.resize(clients);
    updates.resize(clients);
    for (int c = 0; c < clients; ++c) {
      ids[c] = "client_" + std::to_string(c);
      const float scale = (c + number) % 50 == 0 ? 20.0f : 1.0f;
      for (int k = 0; k < 16; ++k) values[c].push_back(scale * noise(gen));
      tensors[c] = {"w", 1,     AGGF_DTYPE_F32, 1,
                    0,   shape, nullptr,        values[c].data()};
      updates[c] = {ids[c].c_str(),
                    static_cast<uint32_t>(ids[c].size()),
                    AGGF_UPDATE_DELTA,
                    100,
                    &tensors[c],
                    1,
                    0};
    }
    round.struct_size = sizeof round;
    round.num_updates = static_cast<uint32_t>(clients);
    round.round = number;
    round.updates = updates.data();
  }
};

std::string DecisionText(const std::vector<aggfilter::Decision>& d) {
  std::string text;
  for (const auto& x : d) {
    text += x.reason + "/" + std::to_string(x.weight) + ";";
  }
  return text;
}

// The child: loads the plugin, tells the parent on `ready` (so the random
// delay starts after the dynamic loading), creates an instance (which
// repairs the audit log), retries `last` (when > 0), then filters rounds
// from last + 1 until killed. Exits 3 when a retry or a round is refused.
[[noreturn]] void Host(const Options& o, uint64_t last, int ready) {
  try {
    aggfilter::Plugin plugin(o.plugin);
    (void)!write(ready, "r", 1);
    aggfilter::Instance filter = plugin.create(Policy(o));
    if (last > 0) {
      Round retry(last, o.clients);
      filter.filter(retry.round);
    }
    for (uint64_t r = last + 1;; ++r) {
      Round round(r, o.clients);
      const std::string first = DecisionText(filter.filter(round.round));
      if (r % 3 == 0 &&  // a host retrying a round it already sent
          DecisionText(filter.filter(round.round)) != first) {
        _exit(3);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "host: %s\n", e.what());
    _exit(3);
  }
}

// Reads lines from `offset` on; checks they continue the log of rounds
// `last` + 1 .. `state_round`. Returns the new offset (the end of round
// state_round).
uint64_t CheckAudit(const Options& o, uint64_t offset, uint64_t last,
                    uint64_t state_round, Counts* counts) {
  std::ifstream in(o.dir + "/audit.jsonl", std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  uint64_t expect_round = last + 1;
  int64_t expect_index = 0;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("round") || !j.contains("update")) {
      ++counts->torn;
      return offset;
    }
    const uint64_t round = j["round"].get<uint64_t>();
    const int64_t index = j["update"].get<int64_t>();
    if (round != expect_round || index != expect_index ||
        j["updates"] != o.clients) {
      if (round > state_round) {
        ++counts->extra;
      } else {
        ++counts->torn;
      }
      return offset;
    }
    offset += line.size() + 1;
    if (++expect_index == o.clients) {
      expect_index = 0;
      ++expect_round;
    }
  }
  if (expect_index != 0) ++counts->torn;
  if (expect_round <= state_round)
    counts->missing += static_cast<int>(state_round + 1 - expect_round);
  return offset;
}

// The state file's round (0 when there is none yet), or -1 when corrupt.
int64_t StateRound(const Options& o) {
  std::ifstream in(o.dir + "/state.json", std::ios::binary);
  if (!in) return 0;
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (!j.is_object() || j.value("format", "") != "flsentry-state/1" ||
      !j.contains("round")) {
    return -1;
  }
  return j["round"].is_null() ? 0 : j["round"].get<int64_t>();
}

bool ParseArgs(int argc, char** argv, Options* o) {
  if (argc < 3) return false;
  o->plugin = argv[1];
  o->dir = argv[2];
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const long long value = std::atoll(argv[i + 1]);
    if (key == "--trials") {
      o->trials = static_cast<int>(value);
    } else if (key == "--clients") {
      o->clients = static_cast<int>(value);
    } else if (key == "--max-delay-ms") {
      o->max_delay_ms = static_cast<int>(value);
    } else if (key == "--seed") {
      o->seed = static_cast<uint64_t>(value);
    } else {
      return false;
    }
  }
  return o->trials > 0 && o->clients > 0 && o->max_delay_ms > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: kill_test PLUGIN DIR [--trials N] [--clients N] "
                 "[--max-delay-ms N] [--seed N]\n");
    return 2;
  }
  fs::remove_all(o.dir);
  fs::create_directories(o.dir);
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int> delay(0, o.max_delay_ms);
  Counts counts;
  uint64_t last = 0, offset = 0;
  for (int trial = 0; trial < o.trials; ++trial) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return 2;
    const pid_t child = fork();
    if (child < 0) return 2;
    if (child == 0) {
      close(pipe_fds[0]);
      Host(o, last, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    char byte = 0;
    (void)!read(pipe_fds[0], &byte, 1);
    close(pipe_fds[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFSIGNALED(status)) ++counts.refused;  // the host gave up itself
    const int64_t round = StateRound(o);
    if (round < 0) {
      ++counts.corrupt;
      break;
    }
    try {  // opening repairs the audit log's tail
      aggfilter::Plugin plugin(o.plugin);
      aggfilter::Instance check = plugin.create(Policy(o));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "trial %d: create failed: %s\n", trial, e.what());
      ++counts.corrupt;
      break;
    }
    offset = CheckAudit(o, offset, last, static_cast<uint64_t>(round), &counts);
    if (counts.torn + counts.missing + counts.extra > 0) break;
    last = static_cast<uint64_t>(round);
  }
  int aside = 0;
  for (const auto& e : fs::directory_iterator(o.dir)) {
    aside +=
        e.path().filename().string().find(".uncommitted-") != std::string::npos;
  }
  std::printf(
      "kill_test: %d trials, %d clients a round, %llu rounds committed; "
      "torn %d, missing %d, extra %d, corrupt state %d, refused %d; "
      "uncommitted tails set aside %d\n",
      o.trials, o.clients, static_cast<unsigned long long>(last), counts.torn,
      counts.missing, counts.extra, counts.corrupt, counts.refused, aside);
  return counts.torn + counts.missing + counts.extra + counts.corrupt +
                     counts.refused ==
                 0
             ? 0
             : 1;
}
