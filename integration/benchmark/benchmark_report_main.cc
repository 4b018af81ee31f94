// flsentry-benchmark-report — the published benchmark's planner and report
// writer, driven by scripts/benchmark.sh:
//   plan   --protocol P.yaml --repo DIR --out DIR
//          writes one directory per run (sim.yaml, policy.yaml), plan.json
//          and plan.tsv; prints the number of runs.
//   report --out DIR --results results.md --svg-dir DIR [--command ...]
//          reads plan.json and every finished run, writes results.md, the
//          SVG plots and results.json (every cell's metrics over its seeds)
//          into --svg-dir. Unfinished runs are listed in results.md and counted
//          on stderr; the exit code is 0 when the report was written.
// Errors: one line "flsentry-benchmark-report: error: ..." and exit 1.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/json_reader.h"
#include "benchmark_report_cells.h"
#include "benchmark_report_metrics.h"
#include "benchmark_report_protocol.h"
#include "benchmark_report_results.h"

namespace {

namespace fs = std::filesystem;
namespace bench = flsentry::bench;

int Fail(const std::string& message) {
  std::fprintf(stderr, "flsentry-benchmark-report: error: %s\n",
               message.c_str());
  return 1;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        const size_t start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? "" : line.substr(start);
      }
    }
  }
  return "unknown CPU";
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

// "; sim.log: <its last line>" (at most 300 characters), or "" without a log.
std::string LastLogLine(const fs::path& log) {
  std::ifstream in(log, std::ios::binary);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  if (last.empty()) return "";
  if (last.size() > 300) last = last.substr(0, 300) + "...";
  return "; sim.log: " + last;
}

struct ReportArgs {
  std::string out;
  std::string results;
  std::string svg_dir;
  std::string command = "scripts/benchmark.sh";
  std::string commit = "unknown";
  double wall_seconds = 0.0;
  int runs_executed = 0;
  int jobs = 2;
  std::string load;
  std::string notes;  // a Markdown file, may be empty
};

int Plan(const std::string& protocol_path, const std::string& repo,
         const std::string& out) {
  auto protocol = bench::LoadProtocol(protocol_path);
  if (!protocol.ok()) return Fail(protocol.status().message());
  auto plan = bench::WritePlan(*protocol, repo, out);
  if (!plan.ok()) return Fail(plan.status().message());
  std::printf("%zu\n", plan->runs.size());
  return 0;
}

int Report(const ReportArgs& a) {
  const fs::path plan_path = fs::path(a.out) / "plan.json";
  std::ifstream in(plan_path, std::ios::binary);
  if (!in)
    return Fail(plan_path.string() + ": cannot open (run the plan first)");
  std::ostringstream text;
  text << in.rdbuf();
  auto plan_json = flsentry::ParseJsonStrict(text.str());
  if (!plan_json.ok()) {
    return Fail(plan_path.string() + ": " + plan_json.status().message());
  }
  auto plan = bench::PlanFromJson(*plan_json);
  if (!plan.ok()) return Fail(plan.status().message());

  std::vector<bench::RunOutcome> runs;
  int unfinished = 0;
  for (const bench::RunSpec& spec : plan->runs) {
    bench::RunOutcome outcome;
    outcome.spec = spec;
    const fs::path run_dir = fs::path(a.out) / "runs" / spec.id;
    auto metrics = bench::LoadRunMetrics(
        run_dir.string(), plan->protocol.rounds, plan->policy_warmup_rounds);
    if (metrics.ok()) {
      outcome.metrics = std::move(*metrics);
    } else {
      outcome.error =
          metrics.status().message() + LastLogLine(run_dir / "sim.log");
      ++unfinished;
    }
    runs.push_back(std::move(outcome));
  }
  const bench::RunIndex index(runs);
  auto svgs = bench::WritePlots(*plan, index, a.svg_dir);
  if (!svgs.ok()) return Fail(svgs.status().message());

  bench::ReportContext ctx;
  ctx.command = a.command;
  ctx.commit = a.commit;
  ctx.machine = std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) +
                " cores (nproc), " + CpuModel();
  ctx.date = UtcNow();
  ctx.wall_seconds = a.wall_seconds;
  ctx.runs_executed = a.runs_executed;
  ctx.jobs = a.jobs;
  ctx.load = a.load;
  if (!a.notes.empty()) {
    std::ifstream notes(a.notes, std::ios::binary);
    std::ostringstream text;
    text << notes.rdbuf();
    if (!notes) return Fail(a.notes + ": cannot read the notes");
    ctx.notes = text.str();
    while (!ctx.notes.empty() && ctx.notes.back() == '\n') ctx.notes.pop_back();
  }
  const fs::path results_dir = fs::absolute(a.results).parent_path();
  ctx.svg_rel_dir =
      fs::absolute(a.svg_dir).lexically_relative(results_dir).string();
  std::error_code ec;
  fs::create_directories(results_dir, ec);
  std::ofstream out(a.results, std::ios::binary | std::ios::trunc);
  out << bench::ResultsMarkdown(*plan, index, ctx, *svgs);
  out.flush();
  if (!out) return Fail(a.results + ": write failed");
  const fs::path json_path = fs::path(a.svg_dir) / "results.json";
  std::ofstream json_out(json_path, std::ios::binary | std::ios::trunc);
  json_out << bench::ResultsJson(*plan, index, ctx).dump(1) << '\n';
  json_out.flush();
  if (!json_out) return Fail(json_path.string() + ": write failed");
  if (unfinished > 0) {
    std::fprintf(stderr,
                 "flsentry-benchmark-report: %d of %zu runs did not finish "
                 "(listed in %s)\n",
                 unfinished, runs.size(), a.results.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "flsentry-benchmark-report: plan the benchmark's runs and write its "
      "report"};
  app.require_subcommand(1);
  std::string protocol, repo = ".", plan_out;
  CLI::App* plan = app.add_subcommand(
      "plan", "write the run directories, plan.json, plan.tsv");
  plan->add_option("--protocol", protocol, "protocol YAML")
      ->required()
      ->check(CLI::ExistingFile);
  plan->add_option("--repo", repo,
                   "repository root (configs/ are read from it)")
      ->check(CLI::ExistingDirectory);
  plan->add_option("--out", plan_out, "output directory")->required();

  ReportArgs r;
  CLI::App* report =
      app.add_subcommand("report", "write results.md and the SVG plots");
  report->add_option("--out", r.out, "the plan's output directory")->required();
  report->add_option("--results", r.results, "results.md to write")->required();
  report->add_option("--svg-dir", r.svg_dir, "directory for the SVG plots")
      ->required();
  report->add_option("--command", r.command,
                     "the command line, printed in results.md");
  report->add_option("--commit", r.commit, "git commit, printed in results.md");
  report->add_option("--wall-seconds", r.wall_seconds, "wall time of the run")
      ->check(CLI::NonNegativeNumber);
  report
      ->add_option("--runs-executed", r.runs_executed,
                   "runs simulated (not resumed)")
      ->check(CLI::NonNegativeNumber);
  report->add_option("--jobs", r.jobs, "simulations that ran at a time")
      ->check(CLI::Range(1, 99));
  report->add_option("--load", r.load,
                     "the load average when the runs ended, printed");
  report->add_option("--notes", r.notes, "Markdown file printed under 'Notes'")
      ->check(CLI::ExistingFile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*plan) return Plan(protocol, repo, plan_out);
    return Report(r);
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
}
