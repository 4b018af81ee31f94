// benchmark_report_results.h — the benchmark's tables, targets and plots
// from the finished runs of a plan: docs/results.md and its SVGs.
//
// Targets (the protocol's `targets`), each stated MET, MISSED or NOT
// EVALUATED (a run it needs is missing):
//   1. no attack: the filter's FPR in every round <= max_fpr_per_round;
//   2. at targets.fraction: the filter's final accuracy >= no-attack
//      FedAvg's final accuracy - accuracy_points, under every attack;
//   3. at every attacked fraction: the filter's worst-case final accuracy
//      over the attacks > that of median, trimmed_mean and multikrum (those
//      in the plan).
// Threading: none.
#ifndef FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_RESULTS_H_
#define FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_RESULTS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "benchmark_report_metrics.h"
#include "benchmark_report_protocol.h"

namespace flsentry::bench {

// One planned run and what became of it.
struct RunOutcome {
  RunSpec spec;
  std::optional<RunMetrics> metrics;  // empty: not finished or unreadable
  std::string error;                  // why metrics is empty
};

// Finished runs by (fraction, attack, aggregator). Borrows `runs`, which must
// outlive the index.
class RunIndex {
 public:
  explicit RunIndex(const std::vector<RunOutcome>& runs);
  // nullptr when the plan has no such run or it did not finish.
  const RunMetrics* Find(double fraction, const std::string& attack,
                         const std::string& aggregator) const;
  const RunSpec* Spec(double fraction, const std::string& attack,
                      const std::string& aggregator) const;
  const std::vector<RunOutcome>& runs() const { return runs_; }

 private:
  static std::string Key(double fraction, const std::string& attack,
                         const std::string& aggregator);
  const std::vector<RunOutcome>& runs_;
  std::map<std::string, const RunOutcome*> by_key_;
};

// How the report came about, printed at its top.
struct ReportContext {
  std::string command;      // the command line that made it
  std::string commit;       // git commit (and "-dirty" when modified)
  std::string machine;      // "N cores (nproc), <CPU model>"
  std::string date;         // UTC, ISO 8601
  double wall_seconds = 0;  // wall time of this invocation
  int runs_executed = 0;    // runs simulated now (the others were resumed)
  std::string svg_rel_dir;  // SVG directory relative to results.md
  std::string notes;        // Markdown printed under "Notes"; may be empty
};

// The plan's attacks in row order, "none" excluded.
std::vector<std::string> AttackRows(const Plan& plan);

// Writes the SVG plots into svg_dir (created) and returns their file names:
//   accuracy_by_round_<fNN>.svg per attacked fraction, final_accuracy.svg,
//   and filter_fpr_no_attack.svg when the plan has the filter.
Result<std::vector<std::string>> WritePlots(const Plan& plan,
                                            const RunIndex& index,
                                            const std::string& svg_dir);

// The whole results.md text. svg_files are linked under ctx.svg_rel_dir.
std::string ResultsMarkdown(const Plan& plan, const RunIndex& index,
                            const ReportContext& ctx,
                            const std::vector<std::string>& svg_files);

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_RESULTS_H_
