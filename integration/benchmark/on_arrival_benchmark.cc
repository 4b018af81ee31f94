// flsentry-on-arrival-benchmark — rounds given on arrival (ABI 1.2:
// on_round_begin / on_round_add / on_round_end) against rounds given in one
// call, through the C interface, with a policy as a user runs it (default:
// the shipped configs/default.yaml: a bootstrapped detector, refresh on,
// state file and audit log written to a scratch folder). Issue 16, "Scoring
// on arrival" and "Rounds larger than memory". Two modes:
//
//   compare (default): n updates of d float32 parameters are generated in
//     memory; for --rounds rounds, instance A filters each round in one call
//     and instance B takes the same round on arrival. Reports per round the
//     one-call time, the time of each add (the work done as updates
//     arrive), the time from the last add to the decisions (end) and
//     end / one-call, and whether A and B decided every round identically
//     (action, flags, weight, score, threshold, suspicion bit for bit).
//   --stream: one instance takes --rounds rounds of n updates of d on
//     arrival, each update generated into one reused buffer just before it
//     is added, so the round (n x d x 4 bytes) is never in memory at once.
//     Reports per round the time to generate and to add an update, the end
//     time, and the process's peak resident memory (VmHWM) beside the
//     round's size and the one buffer.
//
// Updates: a direction shared by the round plus client noise from a
// client-seeded generator (the same for both instances), in four tensors.
// Output: a table on stdout, progress on stderr; --json prints one JSON
// object instead. Errors (the plugin's, as aggfilter::Error) exit 1.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "aggfilter_host.hpp"
#include "bench_stats.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using flsentry::bench::MedianOf;
using flsentry::bench::PeakRssBytes;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Options {
  std::string plugin = FLSENTRY_PLUGIN_PATH;
  std::string policy = FLSENTRY_DEFAULT_POLICY;
  int n = 1000;
  double d = 1e6;
  int rounds = 5;
  bool stream = false;
  bool json = false;
};

// The model: four tensors of about d/4 float32 each.
struct Model {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int64_t> offsets;  // of each tensor in a flat update
  int64_t d = 0;
};

Model MakeModel(int64_t d) {
  Model m;
  m.d = d;
  int64_t at = 0;
  for (int t = 0; t < 4; ++t) {
    const int64_t len = t < 3 ? d / 4 : d - at;
    m.names.push_back("layer" + std::to_string(t) + ".weight");
    m.shapes.push_back({len});
    m.offsets.push_back(at);
    at += len;
  }
  return m;
}

// Client k's update of round r into out (d floats): the round's direction
// (shared by every client) scaled per client, plus uniform noise from a
// generator seeded by (r, k).
void FillUpdate(const std::vector<float>& direction, int r, int k,
                std::vector<float>& out) {
  const float scale = 0.8f + 0.4f * static_cast<float>(k % 97) / 97.0f;
  uint32_t s = static_cast<uint32_t>(r) * 2654435761u ^
               static_cast<uint32_t>(k * 7919 + 1);
  for (size_t i = 0; i < out.size(); ++i) {
    s = s * 1664525u + 1013904223u;
    out[i] = direction[i] * scale +
             (static_cast<float>(s >> 8) * (1.0f / 16777216.0f) - 0.5f) * 0.01f;
  }
}

// The descent direction every client's update follows (the same every
// round, as early in training).
std::vector<float> Direction(int64_t d) {
  std::vector<float> v(static_cast<size_t>(d));
  uint32_t s = 12345u;
  for (float& x : v) {
    s = s * 1103515245u + 12345u;
    x = (static_cast<float>(s >> 8) * (1.0f / 16777216.0f) - 0.5f) * 0.02f;
  }
  return v;
}

// The C view of one flat update (its tensors point into `data`).
struct CUpdate {
  std::string id;
  std::vector<aggf_tensor> tensors;
  aggf_update update{};
};

void Describe(const Model& m, int k, const float* data, CUpdate* c) {
  c->id = "client_" + std::to_string(k);
  c->tensors.clear();
  for (size_t t = 0; t < m.names.size(); ++t) {
    c->tensors.push_back(aggfilter::make_tensor(
        m.names[t], AGGF_DTYPE_F32, m.shapes[t], data + m.offsets[t]));
  }
  c->update = aggf_update{c->id.c_str(),
                          static_cast<uint32_t>(c->id.size()),
                          AGGF_UPDATE_DELTA,
                          600,
                          c->tensors.data(),
                          static_cast<uint32_t>(c->tensors.size()),
                          0};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the policy " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Bits(const std::vector<aggfilter::Decision>& decisions) {
  std::string text;
  char buffer[160];
  for (const auto& d : decisions) {
    std::snprintf(buffer, sizeof buffer, "%d/%u/%a/%a/%a/%a/%s;", d.action,
                  d.flags, d.weight, d.score, d.threshold, d.suspicion,
                  d.reason.c_str());
    text += buffer;
  }
  return text;
}

size_t Dropped(const std::vector<aggfilter::Decision>& decisions) {
  return static_cast<size_t>(std::count_if(
      decisions.begin(), decisions.end(),
      [](const aggfilter::Decision& d) { return !d.accepted(); }));
}

nlohmann::ordered_json Compare(const Options& o, aggfilter::Plugin& plugin,
                               const std::string& policy, const fs::path& dir) {
  const Model m = MakeModel(static_cast<int64_t>(o.d));
  fs::create_directories(dir / "one_call");
  fs::create_directories(dir / "on_arrival");
  auto one_call = plugin.create(policy, (dir / "one_call").string());
  auto on_arrival = plugin.create(policy, (dir / "on_arrival").string());
  const std::vector<float> shared = Direction(m.d);
  std::vector<std::vector<float>> data(static_cast<size_t>(o.n));
  std::vector<CUpdate> c(static_cast<size_t>(o.n));
  nlohmann::ordered_json rounds = nlohmann::ordered_json::array();
  bool identical = true;
  for (int r = 1; r <= o.rounds; ++r) {
    const std::vector<float>& direction = shared;
    std::vector<aggf_update> updates;
    for (int k = 0; k < o.n; ++k) {
      data[k].resize(static_cast<size_t>(m.d));
      FillUpdate(direction, r, k, data[k]);
      Describe(m, k, data[k].data(), &c[k]);
      updates.push_back(c[k].update);
    }
    // Each instance is timed with no refresh of the other running beside
    // it (save_state waits for an instance's refresh).
    (void)one_call.save_state();
    (void)on_arrival.save_state();
    std::vector<double> adds;
    on_arrival.begin(static_cast<uint64_t>(r));
    for (const aggf_update& u : updates) {
      const auto start = Clock::now();
      on_arrival.add(u);
      adds.push_back(Since(start));
    }
    auto start = Clock::now();
    const auto streamed = on_arrival.end();
    const double end_s = Since(start);
    (void)on_arrival.save_state();
    aggf_round round{};
    round.struct_size = sizeof round;
    round.round = static_cast<uint64_t>(r);
    round.num_updates = static_cast<uint32_t>(o.n);
    round.updates = updates.data();
    start = Clock::now();
    const auto whole = one_call.filter(round);
    const double one_call_s = Since(start);
    const bool same = Bits(whole) == Bits(streamed);
    identical = identical && same;
    rounds.push_back({{"round", r},
                      {"one_call_s", one_call_s},
                      {"add_median_s", MedianOf(adds)},
                      {"end_s", end_s},
                      {"end_over_one_call", end_s / one_call_s},
                      {"dropped", Dropped(whole)},
                      {"identical", same}});
    std::fprintf(stderr, "round %d: one call %.3f s, end %.3f s (%.1f%%)%s\n",
                 r, one_call_s, end_s, 100 * end_s / one_call_s,
                 same ? "" : ", DECISIONS DIFFER");
  }
  return {{"mode", "compare"},
          {"n", o.n},
          {"d", m.d},
          {"policy", o.policy},
          {"identical", identical},
          {"rounds", rounds}};
}

nlohmann::ordered_json Stream(const Options& o, aggfilter::Plugin& plugin,
                              const std::string& policy, const fs::path& dir) {
  const Model m = MakeModel(static_cast<int64_t>(o.d));
  auto filter = plugin.create(policy, dir.string());
  const std::vector<float> shared = Direction(m.d);
  std::vector<float> buffer(static_cast<size_t>(m.d));
  CUpdate c;
  nlohmann::ordered_json rounds = nlohmann::ordered_json::array();
  for (int r = 1; r <= o.rounds; ++r) {
    const std::vector<float>& direction = shared;
    std::vector<double> generate, adds;
    const auto round_start = Clock::now();
    filter.begin(static_cast<uint64_t>(r));
    for (int k = 0; k < o.n; ++k) {
      auto start = Clock::now();
      FillUpdate(direction, r, k, buffer);
      Describe(m, k, buffer.data(), &c);
      generate.push_back(Since(start));
      start = Clock::now();
      filter.add(c.update);
      adds.push_back(Since(start));
      if ((k + 1) % 100 == 0) {
        std::fprintf(stderr, "\rround %d: %d/%d updates", r, k + 1, o.n);
      }
    }
    auto start = Clock::now();
    const auto decisions = filter.end();
    const double end_s = Since(start);
    const double bytes = static_cast<double>(o.n) * m.d * 4.0;
    rounds.push_back({{"round", r},
                      {"round_gb", bytes / 1e9},
                      {"round_s", Since(round_start)},
                      {"generate_median_s", MedianOf(generate)},
                      {"add_median_s", MedianOf(adds)},
                      {"end_s", end_s},
                      {"dropped", Dropped(decisions)},
                      {"peak_rss_mb", PeakRssBytes() / 1e6},
                      {"buffers_mb", 2.0 * m.d * 4.0 / 1e6}});
    std::fprintf(stderr, "\rround %d: %d updates, %.1f GB, peak RSS %.0f MB\n",
                 r, o.n, bytes / 1e9, PeakRssBytes() / 1e6);
  }
  return {{"mode", "stream"},
          {"n", o.n},
          {"d", m.d},
          {"policy", o.policy},
          {"rounds", rounds}};
}

void PrintTable(const nlohmann::ordered_json& result) {
  const bool stream = result["mode"] == "stream";
  std::printf("%s: n = %d, d = %.0f, policy %s\n",
              result["mode"].get<std::string>().c_str(), result["n"].get<int>(),
              result["d"].get<double>(),
              result["policy"].get<std::string>().c_str());
  for (const auto& r : result["rounds"]) {
    if (stream) {
      std::printf(
          "round %d: %.1f GB in %.1f s; per update generate %.4f s, add "
          "%.4f s; end %.3f s; dropped %d; peak RSS %.0f MB (buffers %.0f "
          "MB)\n",
          r["round"].get<int>(), r["round_gb"].get<double>(),
          r["round_s"].get<double>(), r["generate_median_s"].get<double>(),
          r["add_median_s"].get<double>(), r["end_s"].get<double>(),
          r["dropped"].get<int>(), r["peak_rss_mb"].get<double>(),
          r["buffers_mb"].get<double>());
    } else {
      std::printf(
          "round %d: one call %.3f s; on arrival: add %.5f s each, end %.3f "
          "s = %.1f%% of one call; dropped %d; %s\n",
          r["round"].get<int>(), r["one_call_s"].get<double>(),
          r["add_median_s"].get<double>(), r["end_s"].get<double>(),
          100 * r["end_over_one_call"].get<double>(), r["dropped"].get<int>(),
          r["identical"].get<bool>() ? "identical decisions"
                                     : "DECISIONS DIFFER");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "flsentry-on-arrival-benchmark: rounds on arrival vs one call, and "
      "rounds larger than memory"};
  app.add_option("--plugin", o.plugin, "libflsentry_filter.so");
  app.add_option("--policy", o.policy, "policy YAML (default: shipped)");
  app.add_option("-n,--updates", o.n, "updates per round")
      ->check(CLI::Range(2, 1048576));
  app.add_option("-d,--dim", o.d, "parameters per update")
      ->check(CLI::Range(16.0, 1e9));
  app.add_option("--rounds", o.rounds, "rounds")->check(CLI::Range(1, 1000));
  app.add_flag("--stream", o.stream,
               "generate each update just before adding it (one buffer)");
  app.add_flag("--json", o.json, "print JSON");
  CLI11_PARSE(app, argc, argv);
  std::string pattern =
      (fs::temp_directory_path() / "flsentry_arrival_XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    std::fprintf(stderr, "flsentry-on-arrival-benchmark: error: mkdtemp %s\n",
                 pattern.c_str());
    return 1;
  }
  const fs::path dir = pattern;
  int status = 0;
  try {
    aggfilter::Plugin plugin(o.plugin);
    const std::string policy = ReadFile(o.policy);
    const auto result = o.stream ? Stream(o, plugin, policy, dir)
                                 : Compare(o, plugin, policy, dir);
    if (o.json) {
      std::printf("%s\n", result.dump(2).c_str());
    } else {
      PrintTable(result);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flsentry-on-arrival-benchmark: error: %s\n",
                 e.what());
    status = 1;
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return status;
}
