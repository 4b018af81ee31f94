// flsentry-benchmark — what filtering a round costs next to what the server
// does anyway (issue 5, "Speed and memory"). For n updates of d float32
// parameters (default n = 50, d = 1e5, 1e6, 1e7) it times
//   (a) a plain read of all updates (sum of every element: the memory-
//       bandwidth floor),
//   (b) a FedAvg weighted average of the same updates,
//   (c) the plugin filtering the round through the C interface (dlopen of
//       libflsentry_filter.so via host_api/aggfilter_host.hpp, with a policy
//       naming a detector trained for that d, generated here; continual
//       refresh on, as shipped, unless --no-refresh): the time from the
//       call to the decisions when the previous round's refresh has
//       finished (the host's gap between rounds, its averaging and the
//       clients' training, is longer than the refresh),
//   (e) the same when the host calls again right after one FedAvg (back to
//       back: the call first waits for what is left of the previous round's
//       refresh, when the plugin runs it off the critical path),
//   (d) Detector::ScoreRound called directly (the detector's share of c),
//   (f) what a user could run instead of a filter, on the same round:
//       coordinate-wise median, trimmed mean (beta 0.1) and Multi-Krum
//       (f = floor(n / 5), m = n - f) of integration/baselines.h, each timed
//       once (unless --no-baselines),
// and prints c/a, c/b, e/b, d/b, the baselines over b, and the peak
// resident memory the plugin
// added while filtering (VmHWM after resetting it through
// /proc/self/clear_refs) next to the updates' size. Each repetition runs a
// state save (untimed: it waits for any refresh still running, so that
// nothing runs beside (a) and (b)), (a), (b), (c), a FedAvg while (c)'s
// refresh runs (timed apart: fedavg_during_refresh_s), then (e): two rounds
// per repetition. Times are medians over --repeat repetitions, the ratios
// medians of the per-repetition ratios (robust to load drifting on a shared
// machine). Peak memory covers (a)-(e) together; (a) and (b) allocate
// nothing then (FedAvg's output is allocated before).
// Output: a table on stdout; --json prints one JSON object instead.
#include <sys/resource.h>
#include <torch/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "aggfilter_host.hpp"
#include "baselines.h"
#include "bench_stats.h"
#include "detector/autoencoder.h"
#include "detector/detector.h"
#include "detector/detector_file.h"
#include "features/feature_extractor.h"

namespace {

using Clock = std::chrono::steady_clock;
using flsentry::TensorView;
using flsentry::bench::CurrentRssBytes;
using flsentry::bench::MedianOf;
using flsentry::bench::PeakRssBytes;
using flsentry::bench::ResetPeakRss;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

template <typename Fn>
double MedianTime(int repeat, Fn&& fn) {
  std::vector<double> t;
  for (int r = 0; r < repeat; ++r) {
    const auto start = Clock::now();
    fn(r);
    t.push_back(Seconds(start, Clock::now()));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <typename Fn>
double TimeOnce(Fn&& fn, int r) {
  const auto start = Clock::now();
  fn(r);
  return Seconds(start, Clock::now());
}

// n benign-looking updates: a shared direction plus per-client noise, in
// four tensors ("layer<i>.weight") of about d/4 elements each.
struct Updates {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int64_t> offsets;          // of each tensor in an update
  std::vector<std::vector<float>> data;  // one flat buffer (d) per update
  int64_t d = 0;
  int n = 0;
  int tensors = 4;
  const float* at(int update, int tensor) const {
    return data[update].data() + offsets[tensor];
  }
};

Updates MakeUpdates(int n, int64_t d, uint64_t seed) {
  Updates u;
  u.d = d;
  u.n = n;
  int64_t left = d;
  for (int t = 0; t < u.tensors; ++t) {
    const int64_t len = t + 1 < u.tensors ? d / u.tensors : left;
    left -= len;
    u.names.push_back("layer" + std::to_string(t) + ".weight");
    u.shapes.push_back({len});
    u.offsets.push_back(d - left - len);
  }
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> direction;
  for (int t = 0; t < u.tensors; ++t) {
    std::vector<float> v(u.shapes[t][0]);
    for (float& x : v) x = normal(rng) * 0.01f;
    direction.push_back(std::move(v));
  }
  for (int k = 0; k < n; ++k) {
    const float scale =
        0.8f + 0.4f * static_cast<float>(k) / static_cast<float>(n);
    std::vector<float> flat;
    flat.reserve(static_cast<size_t>(d));
    for (int t = 0; t < u.tensors; ++t) {
      // Cheap per-client noise: a client-seeded LCG (normal() on 5e8 values is
      // slow).
      uint32_t s = static_cast<uint32_t>(k * 7919 + t * 104729 + 1);
      for (float x : direction[t]) {
        s = s * 1664525u + 1013904223u;
        flat.push_back(
            x * scale +
            (static_cast<float>(s >> 8) * (1.0f / 16777216.0f) - 0.5f) * 0.01f);
      }
    }
    u.data.push_back(std::move(flat));
  }
  return u;
}

std::vector<TensorView> Views(const Updates& u, int k) {
  std::vector<TensorView> v;
  for (int t = 0; t < u.tensors; ++t) {
    v.push_back(
        {u.names[t], flsentry::DType::kF32, u.shapes[t], {}, u.at(k, t)});
  }
  return v;
}

// Trains a small detector on the round's own updates and writes it to dir.
flsentry::Status WriteDetector(const Updates& u, const std::string& dir,
                               int64_t sketch_dim, int sketch_version) {
  flsentry::FeatureSettings settings;
  settings.sketch_dim = sketch_dim;
  settings.sketch_version = sketch_version;
  const auto views0 = Views(u, 0);
  FLS_ASSIGN_OR_RETURN(flsentry::FeatureLayout layout,
                       flsentry::SelectLayout(settings, views0));
  FLS_ASSIGN_OR_RETURN(flsentry::FeatureExtractor fx,
                       flsentry::FeatureExtractor::Create(settings, layout));
  std::vector<float> rows(static_cast<size_t>(u.n) * sketch_dim);
  for (int k = 0; k < u.n; ++k) {
    flsentry::UpdateInput in;
    in.tensors = Views(u, k);
    FLS_RETURN_IF_ERROR(
        fx.Embed(in, {},
                 std::span<float>(rows.data() + k * sketch_dim, sketch_dim))
            .status());
  }
  FLS_ASSIGN_OR_RETURN(
      auto net,
      flsentry::Autoencoder::Create({sketch_dim, 256, 64, 256, sketch_dim}, 1));
  flsentry::TrainOptions options;
  options.max_epochs = 30;
  FLS_ASSIGN_OR_RETURN(auto report, net->Train(rows, u.n, options));
  std::vector<float> held;
  for (int64_t i : report.validation_indices)
    held.insert(held.end(), rows.begin() + i * sketch_dim,
                rows.begin() + (i + 1) * sketch_dim);
  FLS_ASSIGN_OR_RETURN(
      auto scores,
      net->Score(held, static_cast<int64_t>(report.validation_indices.size()),
                 1));
  flsentry::DetectorMetadata meta;
  meta.features = settings;
  meta.layout = layout;
  meta.layer_sizes = net->layer_sizes();
  meta.calibration = flsentry::CalibrationFromScores(scores);
  meta.provenance = {{"tool", "flsentry-benchmark"}};
  const auto weights = net->ExportWeights();
  std::vector<TensorView> wv;
  for (const auto& w : weights) wv.push_back(w.view());
  return flsentry::WriteDetectorDir(dir, meta, wv);
}

// (f) The robust aggregators a user could run instead of a filter, on the
// same updates (zero-copy views), each once: {"median_s", "trimmed_mean_s",
// "multikrum_s"} (multikrum null below 3 updates, where f = 0 still needs
// n > 2).
flsentry::Result<nlohmann::ordered_json> TimeBaselines(const Updates& u) {
  std::vector<torch::Tensor> flat;
  for (const std::vector<float>& v : u.data) {
    flat.push_back(
        torch::from_blob(const_cast<float*>(v.data()), {u.d}, torch::kFloat));
  }
  const std::vector<double> weights(flat.size(), 600.0);
  const double f = std::floor(u.n / 5.0);
  const std::pair<const char*, std::map<std::string, double>> rules[] = {
      {"median", {}},
      {"trimmed_mean", {{"beta", 0.1}}},
      {"multikrum", {{"f", f}}}};
  nlohmann::ordered_json out;
  for (const auto& [name, params] : rules) {
    const std::string key = std::string(name) + "_s";
    if (std::string(name) == "multikrum" && u.n < 3) {
      out[key] = nullptr;
      continue;
    }
    const auto start = Clock::now();
    FLS_RETURN_IF_ERROR(
        flsentry::sim::Aggregate(name, params, flat, weights).status());
    out[key] = Seconds(start, Clock::now());
  }
  return out;
}

struct Options {
  std::string plugin = FLSENTRY_PLUGIN_PATH;
  std::vector<double> dims = {1e5, 1e6, 1e7};
  int n = 50;
  int repeat = 3;
  int threads = 1;
  int sketch_version = 1;
  bool refresh = true;
  bool baselines = true;
  std::string work_dir;
  bool json = false;
};

// One row of the table. Errors: the detector's, as a Status; the host API
// (plugin.create, filter) reports its errors as aggfilter::Error, caught in
// main.
flsentry::Result<nlohmann::ordered_json> RunOne(const Options& o,
                                                aggfilter::Plugin& plugin,
                                                int64_t d) {
  const auto t0 = Clock::now();
  Updates u = MakeUpdates(o.n, d, 42);
  const std::string det_dir = o.work_dir + "/detector_d" + std::to_string(d);
  FLS_RETURN_IF_ERROR(WriteDetector(u, det_dir, 1024, o.sketch_version));
  const double setup = Seconds(t0, Clock::now());

  // (a) plain read
  volatile double sink = 0;
  auto read_once = [&](int) {
    double total = 0;
    for (int k = 0; k < u.n; ++k) {
      for (int t = 0; t < u.tensors; ++t) {
        const float* p = u.at(k, t);
        const int64_t len = u.shapes[t][0];
        float acc[16] = {};
        int64_t i = 0;
        for (; i + 16 <= len; i += 16)
          for (int j = 0; j < 16; ++j) acc[j] += p[i + j];
        for (; i < len; ++i) acc[0] += p[i];
        for (float a : acc) total += a;
      }
    }
    sink = sink + total;
  };
  // (b) FedAvg weighted average into a zeroed output
  std::vector<std::vector<float>> avg(u.tensors);
  auto fedavg_once = [&](int) {
    for (int t = 0; t < u.tensors; ++t) avg[t].assign(u.shapes[t][0], 0.0f);
    for (int k = 0; k < u.n; ++k) {
      const float w = 1.0f / static_cast<float>(u.n);
      for (int t = 0; t < u.tensors; ++t) {
        const float* p = u.at(k, t);
        float* a = avg[t].data();
        const int64_t len = u.shapes[t][0];
        for (int64_t i = 0; i < len; ++i) a[i] += w * p[i];
      }
    }
    sink = sink + avg[0][0];
  };
  fedavg_once(0);  // allocates the output before memory is measured

  // (c) the plugin through the C interface
  const std::string policy =
      "detector:\n  path: " + det_dir +
      "\n  threads: " + std::to_string(o.threads) +
      "\n  refresh:\n    enabled: " + (o.refresh ? "true" : "false") + "\n";
  aggfilter::Instance filter = plugin.create(policy);
  std::vector<std::vector<aggf_tensor>> tensors(u.n);
  std::vector<std::string> ids(u.n);
  std::vector<aggf_update> updates(u.n);
  for (int k = 0; k < u.n; ++k) {
    ids[k] = "client_" + std::to_string(k);
    for (int t = 0; t < u.tensors; ++t)
      tensors[k].push_back(aggfilter::make_tensor(u.names[t], AGGF_DTYPE_F32,
                                                  u.shapes[t], u.at(k, t)));
    updates[k] = {ids[k].c_str(),
                  static_cast<uint32_t>(ids[k].size()),
                  AGGF_UPDATE_DELTA,
                  600,
                  tensors[k].data(),
                  static_cast<uint32_t>(u.tensors),
                  0};
  }
  int dropped = 0;
  bool scored = false;
  uint64_t next_round = 1;
  auto plugin_once = [&](int) {
    aggf_round round{};
    round.struct_size = sizeof round;
    round.round = next_round++;
    round.updates = updates.data();
    round.num_updates = static_cast<uint32_t>(updates.size());
    auto decisions = filter.filter(round);
    dropped = 0;
    for (const auto& dec : decisions) {
      dropped += !dec.accepted();
      scored |= !std::isnan(dec.threshold);
    }
  };

  // (a), (b), (c) and (e) interleaved, one of each per repetition, so that
  // drift in the machine's load hits all alike; the ratios are medians of
  // the per-repetition ratios, the times medians of their own.
  const int64_t rss_before = CurrentRssBytes();
  const bool hwm_reset = ResetPeakRss();
  std::vector<double> ta, tb, tb_busy, tc, te, c_over_a, c_over_b, e_over_b;
  for (int r = 0; r < o.repeat; ++r) {
    (void)filter.save_state();  // waits for the last round's refresh
    ta.push_back(TimeOnce(read_once, r));
    tb.push_back(TimeOnce(fedavg_once, r));
    tc.push_back(TimeOnce(plugin_once, r));
    tb_busy.push_back(TimeOnce(fedavg_once, r));
    te.push_back(TimeOnce(plugin_once, r));
    c_over_a.push_back(tc.back() / ta.back());
    c_over_b.push_back(tc.back() / tb.back());
    e_over_b.push_back(te.back() / tb.back());
  }
  const int64_t plugin_extra = PeakRssBytes() - rss_before;
  const double t_read = MedianOf(ta), t_fedavg = MedianOf(tb),
               t_plugin = MedianOf(tc), t_back_to_back = MedianOf(te);

  // (d) Detector::ScoreRound directly, with no refresh running beside it
  (void)filter.save_state();
  flsentry::DetectorConfig config;
  config.threads = o.threads;
  config.refresh.enabled = false;
  FLS_ASSIGN_OR_RETURN(auto detector,
                       flsentry::Detector::Load(det_dir, config));
  flsentry::RoundInput round;
  std::vector<size_t> all;
  for (int k = 0; k < u.n; ++k) {
    flsentry::UpdateInput in;
    in.client_id = ids[k];
    in.tensors = Views(u, k);
    round.updates.push_back(std::move(in));
    all.push_back(k);
  }
  const int64_t rss_before_d = CurrentRssBytes();
  ResetPeakRss();
  flsentry::Status scoring;  // the first failure, if any
  const double t_detector = MedianTime(o.repeat, [&](int) {
    auto s = detector->ScoreRound(round, all);
    if (!s.ok() && scoring.ok()) scoring = s.status();
  });
  FLS_RETURN_IF_ERROR(scoring);
  const int64_t detector_extra = PeakRssBytes() - rss_before_d;

  nlohmann::ordered_json baselines = {{"median_s", nullptr},
                                      {"trimmed_mean_s", nullptr},
                                      {"multikrum_s", nullptr}};
  if (o.baselines) {
    (void)filter.save_state();  // no refresh beside them
    FLS_ASSIGN_OR_RETURN(baselines, TimeBaselines(u));
  }
  const double bytes = static_cast<double>(u.n) * static_cast<double>(d) * 4.0;
  nlohmann::ordered_json row{
      {"n", u.n},
      {"d", d},
      {"updates_mb", bytes / 1e6},
      {"read_s", t_read},
      {"fedavg_s", t_fedavg},
      {"fedavg_during_refresh_s", MedianOf(tb_busy)},
      {"refresh", o.refresh},
      {"threads", o.threads},
      {"plugin_s", t_plugin},
      {"plugin_back_to_back_s", t_back_to_back},
      {"detector_s", t_detector},
      {"plugin_over_read", MedianOf(c_over_a)},
      {"plugin_over_fedavg", MedianOf(c_over_b)},
      {"back_to_back_over_fedavg", MedianOf(e_over_b)},
      {"detector_over_fedavg", t_detector / t_fedavg},
      {"read_gb_per_s", bytes / t_read / 1e9},
      {"plugin_extra_rss_mb", hwm_reset ? plugin_extra / 1e6 : NAN},
      {"plugin_extra_rss_share", hwm_reset ? plugin_extra / bytes : NAN},
      {"detector_extra_rss_mb", hwm_reset ? detector_extra / 1e6 : NAN},
      {"plugin_used_threshold", scored},
      {"plugin_dropped", dropped},
      {"setup_s", setup}};
  for (const auto& [key, value] : baselines.items()) {
    row[key] = value;
    const std::string ratio = key.substr(0, key.size() - 2) + "_over_fedavg";
    row[ratio] = value.is_number()
                     ? nlohmann::ordered_json(value.get<double>() / t_fedavg)
                     : nlohmann::ordered_json();
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"flsentry-benchmark: filtering cost vs. reading and FedAvg"};
  app.add_option("--plugin", o.plugin, "libflsentry_filter.so");
  app.add_option("--dims", o.dims, "parameter counts d")->delimiter(',');
  app.add_option("-n,--updates", o.n, "updates per round")
      ->check(CLI::Range(2, 10000));
  app.add_option("--repeat", o.repeat, "runs per measurement (median)")
      ->check(CLI::Range(1, 100));
  app.add_option("--threads", o.threads, "detector threads")
      ->check(CLI::Range(1, 256));
  app.add_option("--sketch-version", o.sketch_version,
                 "the detector's sketch placement (1 or 2)")
      ->check(CLI::Range(1, 2));
  app.add_flag("--baselines,!--no-baselines", o.baselines,
               "also time coordinate-wise median, trimmed mean and "
               "Multi-Krum of the same round (default on)");
  app.add_flag("--refresh,!--no-refresh", o.refresh,
               "continual refresh in the plugin, as shipped (default on; "
               "--no-refresh freezes the detector)");
  app.add_option("--work-dir", o.work_dir,
                 "where detectors are written (default: a temp dir)");
  app.add_flag("--json", o.json, "print JSON");
  CLI11_PARSE(app, argc, argv);
  try {
    bool temp = false;
    if (o.work_dir.empty()) {
      std::string pattern =
          (std::filesystem::temp_directory_path() / "flsentry_bench_XXXXXX")
              .string();
      if (!mkdtemp(pattern.data())) {
        std::fprintf(stderr,
                     "flsentry-benchmark: error: cannot create a directory "
                     "like %s: %s\n",
                     pattern.c_str(), std::strerror(errno));
        return 1;
      }
      o.work_dir = pattern;
      temp = true;
    }
    aggfilter::Plugin plugin(o.plugin);
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    if (!o.json) {
      std::printf(
          "%5s %10s %9s %9s %9s %9s %9s %6s %6s %6s %6s %11s %7s %8s %8s "
          "%8s\n",
          "n", "d", "read s", "fedavg s", "plugin s", "b2b s", "detect s",
          "c/a", "c/b", "e/b", "d/b", "plugin +MB", "+share", "median/b",
          "trim/b", "mkrum/b");
    }
    for (double dd : o.dims) {
      auto result = RunOne(o, plugin, static_cast<int64_t>(dd));
      if (!result.ok()) {
        std::fprintf(stderr, "flsentry-benchmark: error: d=%.0f: %s\n", dd,
                     result.status().message().c_str());
        if (temp) std::filesystem::remove_all(o.work_dir);
        return 1;
      }
      nlohmann::ordered_json row = std::move(result).value();
      if (!o.json) {
        auto ratio = [&](const char* key) {
          return row[key].is_number() ? row[key].get<double>() : NAN;
        };
        std::printf(
            "%5d %10lld %9.4f %9.4f %9.4f %9.4f %9.4f %6.2f %6.2f %6.2f %6.2f "
            "%11.1f %6.1f%% %8.1f %8.1f %8.1f\n",
            row["n"].get<int>(),
            static_cast<long long>(row["d"].get<int64_t>()),
            row["read_s"].get<double>(), row["fedavg_s"].get<double>(),
            row["plugin_s"].get<double>(),
            row["plugin_back_to_back_s"].get<double>(),
            row["detector_s"].get<double>(),
            row["plugin_over_read"].get<double>(),
            row["plugin_over_fedavg"].get<double>(),
            row["back_to_back_over_fedavg"].get<double>(),
            row["detector_over_fedavg"].get<double>(),
            row["plugin_extra_rss_mb"].is_number()
                ? row["plugin_extra_rss_mb"].get<double>()
                : NAN,
            row["plugin_extra_rss_share"].is_number()
                ? 100 * row["plugin_extra_rss_share"].get<double>()
                : NAN,
            ratio("median_over_fedavg"), ratio("trimmed_mean_over_fedavg"),
            ratio("multikrum_over_fedavg"));
        std::fflush(stdout);
      }
      rows.push_back(std::move(row));
    }
    if (o.json) std::printf("%s\n", rows.dump(2).c_str());
    if (temp) std::filesystem::remove_all(o.work_dir);
    return 0;
  } catch (const std::exception& e) {  // aggfilter::Error from the host API
    std::fprintf(stderr, "flsentry-benchmark: error: %s\n", e.what());
    return 1;
  }
}
