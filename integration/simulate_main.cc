// flsentry-simulate — the reference federated-learning server on
// Fashion-MNIST (`flsentry simulate ...` runs it). Trains a model with
// simulated clients, optional attackers, an optional aggregation filter
// plugin and a choice of aggregator; prints per-round accuracy and writes
// rounds.jsonl + summary.json to --out. Exit code 0 on success, 1 on error
// (one line "flsentry simulate: error: ..." on stderr).
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fl_server.h"
#include "round_results.h"
#include "sim_config.h"

namespace {

namespace sim = flsentry::sim;

int Fail(const std::string& message) {
  std::fprintf(stderr, "flsentry simulate: error: %s\n", message.c_str());
  return 1;
}

struct Args {
  std::string config_path;
  std::string plugin;
  std::string filter_config;
  std::string oracle_plugin;
  std::string oracle_filter_config;
  std::string aggregator;
  std::vector<std::string> aggregator_params;  // key=value
  std::string record;
  std::string out;
  std::string export_updates;
  bool export_all = false;
  bool on_arrival = false;
  int rounds = 0;
  int64_t seed = -1;
  int threads = 0;
  bool quiet = false;
};

// Applies command-line overrides to the parsed config; re-validates by
// round-tripping nothing: every override is range-checked here.
flsentry::Status ApplyOverrides(const Args& a, sim::SimConfig* c) {
  if (a.rounds != 0) {
    if (a.rounds < 1) return flsentry::ConfigError("--rounds must be >= 1");
    c->rounds = a.rounds;
  }
  if (a.seed >= 0) c->seed = static_cast<uint64_t>(a.seed);
  if (a.threads != 0) {
    if (a.threads < 1 || a.threads > 256) {
      return flsentry::ConfigError("--threads must be in 1..256");
    }
    c->threads = a.threads;
  }
  if (!a.aggregator.empty() && a.aggregator != c->aggregator.type) {
    c->aggregator.type = a.aggregator;
    c->aggregator.params.clear();  // the config's params were for its type
  }
  for (const std::string& kv : a.aggregator_params) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return flsentry::ConfigError("--aggregator-param wants key=value, got '" +
                                   kv + "'");
    }
    const std::string text = kv.substr(eq + 1);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE ||
        !std::isfinite(v)) {
      return flsentry::ConfigError("--aggregator-param '" + kv +
                                   "': the value is not a finite number");
    }
    c->aggregator.params[kv.substr(0, eq)] = v;
  }
  return flsentry::Status::Ok();
}

// User + system CPU time of this process, in seconds.
double ProcessCpuSeconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return std::nan("");
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) +
           1e-6 * static_cast<double>(t.tv_usec);
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void PrintProgress(const sim::RoundResult& r, int total, bool tty) {
  const int width = 24;
  const int filled = total > 0 ? r.round * width / total : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  char backdoor[48] = "";
  if (r.backdoor_success) {
    std::snprintf(backdoor, sizeof backdoor, "  backdoor %5.1f%%",
                  100.0 * *r.backdoor_success);
  }
  int dropped = 0;
  for (const auto& c : r.clients) dropped += c.weight <= 0.0;
  if (tty) {
    std::fprintf(stderr,
                 "\r[%s] round %d/%d  accuracy %5.1f%%%s  dropped %d  %.1fs ",
                 bar.c_str(), r.round, total, 100.0 * r.accuracy, backdoor,
                 dropped, r.seconds);
    if (r.round == total) std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "round %d/%d accuracy %.4f%s dropped %d %.2fs\n",
                 r.round, total, r.accuracy, backdoor, dropped, r.seconds);
  }
}

int Run(const Args& a) {
  auto config = sim::LoadSimConfig(a.config_path);
  if (!config.ok()) return Fail(config.status().message());
  if (auto s = ApplyOverrides(a, &*config); !s.ok()) return Fail(s.message());

  sim::RunOptions options;
  options.plugin_path = a.plugin;
  options.filter_config_path = a.filter_config;
  options.oracle_plugin_path = a.oracle_plugin;
  options.oracle_filter_config_path = a.oracle_filter_config;
  options.record_dir = a.record;
  options.export_dir = a.export_updates;
  options.export_all = a.export_all;
  options.on_arrival = a.on_arrival;
  auto simulation = sim::Simulation::Create(*config, std::move(options));
  if (!simulation.ok()) return Fail(simulation.status().message());

  std::ofstream rounds_out;
  if (!a.out.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(a.out, ec);
    if (ec) return Fail(a.out + ": " + ec.message());
    rounds_out.open(std::filesystem::path(a.out) / "rounds.jsonl",
                    std::ios::binary | std::ios::trunc);
    if (!rounds_out) return Fail(a.out + "/rounds.jsonl: cannot create");
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::vector<sim::RoundResult> results;
  for (int r = 1; r <= config->rounds; ++r) {
    auto result = (*simulation)->RunRound();
    if (!result.ok()) return Fail(result.status().message());
    if (rounds_out.is_open()) {
      rounds_out << sim::RoundToJson(*result).dump() << "\n";
      rounds_out.flush();
      if (!rounds_out) return Fail(a.out + "/rounds.jsonl: write failed");
    }
    if (!a.quiet) PrintProgress(*result, config->rounds, tty);
    results.push_back(std::move(*result));
  }
  const sim::FinalModelView final_model{(*simulation)->ClassAccuracy(),
                                        (*simulation)->ClientLabelCounts()};
  nlohmann::json summary = sim::SummaryToJson(
      *config, (*simulation)->FilterDescription(),
      (*simulation)->MaliciousClients(), results, final_model);
  // The process's CPU time so far (data loading included): what the run
  // costs on an idle machine, whatever the load while it ran.
  summary["cpu_seconds"] = ProcessCpuSeconds();
  if (!a.out.empty()) {
    std::ofstream out(std::filesystem::path(a.out) / "summary.json",
                      std::ios::binary | std::ios::trunc);
    out << summary.dump(2) << "\n";
    if (!out) return Fail(a.out + "/summary.json: write failed");
  }
  std::printf("final accuracy %.4f after %zu rounds (%.1f s)\n",
              summary["final_accuracy"].is_number()
                  ? summary["final_accuracy"].get<double>()
                  : std::nan(""),
              results.size(), summary["total_seconds"].get<double>());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "flsentry simulate: federated training on Fashion-MNIST with simulated "
      "attackers, an optional filter plugin and a choice of aggregator"};
  app.name("flsentry simulate");
  Args a;
  app.add_option("--config", a.config_path,
                 "simulation config (configs/sim/*.yaml)")
      ->required();
  app.add_option("--plugin", a.plugin,
                 "filter plugin (.so) loaded through host_api/");
  app.add_option("--filter-config", a.filter_config,
                 "filter policy YAML for the plugin");
  app.add_option("--oracle-plugin", a.oracle_plugin,
                 "attack oracle: the plugin its shadow filter loads "
                 "(default: --plugin)");
  app.add_option("--oracle-filter-config", a.oracle_filter_config,
                 "attack oracle: its shadow's policy (default: "
                 "--filter-config)");
  app.add_option("--aggregator", a.aggregator, "overrides aggregator.type")
      ->check(CLI::IsMember(
          {"fedavg", "median", "trimmed_mean", "multikrum", "normclip"}));
  app.add_option("--aggregator-param", a.aggregator_params,
                 "aggregator parameter key=value (repeatable), e.g. f=2");
  app.add_option("--record", a.record,
                 "write a round archive into this directory");
  app.add_option("--out", a.out, "write rounds.jsonl and summary.json here");
  app.add_option(
      "--export-updates", a.export_updates,
      "write honest clients' updates as a flat folder of .pth files");
  app.add_flag("--export-all", a.export_all,
               "--export-updates writes malicious ones too");
  app.add_flag("--on-arrival", a.on_arrival,
               "give the filter each update as it arrives (ABI 1.2), spill "
               "it to disk and free it; FedAvg reads the kept ones back "
               "(needs --plugin and aggregator fedavg)");
  app.add_option("--rounds", a.rounds, "overrides rounds");
  app.add_option("--seed", a.seed, "overrides seed")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", a.threads,
                 "overrides threads (LibTorch intra-op)");
  app.add_flag("-q,--quiet", a.quiet, "no per-round lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return Run(a);
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
}
