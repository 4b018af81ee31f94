// benchmark_report_results.h — the benchmark's tables, targets and plots
// from the finished runs of a plan: docs/results.md and its SVGs.
//
// Every number is the mean over a cell's seeds (with the sample standard
// deviation where a cell has several). Targets (the protocol's `targets`),
// each stated MET, MISSED (with the cells that miss and their numbers) or
// NOT EVALUATED (a run it needs did not finish):
//   1. no attack, every honest shape: the filter's honest updates flagged
//      after the warm-up <= max_honest_flagged, and no honest client
//      quarantined;
//   2. at targets.fraction, under every attack: the filter's final accuracy
//      >= no-attack FedAvg's - accuracy_points;
//   3. at targets.fraction, where a backdoor runs: the filter's backdoor
//      success <= max_backdoor_success;
//   4. at every attacked fraction: the filter's worst-case final accuracy
//      over the attacks > that of median, trimmed_mean and multikrum (those
//      in the plan);
//   5. at targets.fraction, in the base shape and every detection shape,
//      for every detection attack: TPR >= min_tpr and FPR after the warm-up
//      <= max_fpr.
// Threading: none.
#ifndef FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_RESULTS_H_
#define FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_RESULTS_H_

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "base/status.h"
#include "benchmark_report_cells.h"
#include "benchmark_report_protocol.h"

namespace flsentry::bench {

// How the report came about, printed at its top.
struct ReportContext {
  std::string command;      // the command line that made it
  std::string commit;       // git commit (and "-dirty" when modified)
  std::string machine;      // "N cores (nproc), <CPU model>"
  std::string date;         // UTC, ISO 8601
  double wall_seconds = 0;  // wall time of this invocation
  int runs_executed = 0;    // runs simulated now (the others were resumed)
  int jobs = 2;             // simulations at a time
  std::string load;         // /proc/loadavg when the runs ended; may be empty
  std::string svg_rel_dir;  // SVG directory relative to results.md
  std::string notes;        // Markdown printed under "Notes"; may be empty
};

// Writes the SVG plots into svg_dir (created) and returns their file names:
//   accuracy_by_round_<fNN>.svg per attacked fraction, final_accuracy.svg,
//   and, with the filter, honest_flagged.svg and own_accuracy.svg when the
//   plan has honest shapes.
Result<std::vector<std::string>> WritePlots(const Plan& plan,
                                            const RunIndex& index,
                                            const std::string& svg_dir);

// results.json, beside the plots: {"protocol", "rounds", "seeds",
// "baseline_seeds", "policy", "warmup_rounds", "command", "commit",
// "machine", "date", "cells": [{"shape", "fraction", "attack",
// "aggregator", "agg_params", "runs_planned", "runs_finished", "metrics":
// {name: {"n", "mean", "sd", "min", "max"}}}]}, one cell per (shape,
// fraction, attack, aggregator) in plan order. Metrics (shares in [0, 1]
// unless stated): final_accuracy, last5_accuracy, backdoor_success,
// honest_flagged (after the warm-up), honest_quarantined (clients),
// honest_excluded_rounds_mean, attack_tpr, attackers_accepted,
// own_accuracy_mean, own_accuracy_worst_decile, cpu_seconds. A metric
// without a finite value has n = 0 and null numbers.
nlohmann::json ResultsJson(const Plan& plan, const RunIndex& index,
                           const ReportContext& ctx);

// The whole results.md text. svg_files are linked under ctx.svg_rel_dir.
std::string ResultsMarkdown(const Plan& plan, const RunIndex& index,
                            const ReportContext& ctx,
                            const std::vector<std::string>& svg_files);

// ---- the sections, for ResultsMarkdown ------------------------------------

// "## Targets": one line per target.
void TargetsSection(const Plan& plan, const RunIndex& index, std::ostream& out);
// "## Honest clients without attack": the honest shapes.
void HonestSection(const Plan& plan, const RunIndex& index, std::ostream& out);
// Accuracy (final, last rounds, worst case), detection and backdoor tables
// of the attack table and the detection shapes.
void AttackSections(const Plan& plan, const RunIndex& index, std::ostream& out);

// A shape's one-line description: "20 clients, all every round,
// dirichlet(0.5), mlp (hidden 64)".
std::string ShapeText(const ShapeInfo& shape);

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_RESULTS_H_
