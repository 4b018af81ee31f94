// benchmark_report_metrics.h — what the benchmark report measures in one
// simulation run, read from its rounds.jsonl and summary.json (field names:
// integration/round_results.h).
//
// An update counts as "flagged" when the filter dropped it or gave it a
// weight below 1 (down-weighted, or clipped by the norm guard): a positive
// call. "malicious" is the run's ground truth for that update (true only
// from attack.start_round on). Accuracies are shares in [0, 1].
//
// Threading: none. Inputs are untrusted files: every field is type-checked
// and sizes are bounded; a bad file is an error naming the file and field.
#ifndef FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_METRICS_H_
#define FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_METRICS_H_

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "benchmark_report_protocol.h"

namespace flsentry::bench {

// Confusion counts over updates; positives are flagged updates.
struct Counts {
  long tp = 0;  // malicious, flagged
  long fn = 0;  // malicious, not flagged
  long fp = 0;  // benign, flagged
  long tn = 0;  // benign, not flagged
  void Add(const Counts& o) {
    tp += o.tp;
    fn += o.fn;
    fp += o.fp;
    tn += o.tn;
  }
  // NaN when there is no malicious (TPR) or benign (FPR) update.
  double Tpr() const;
  double Fpr() const;
};

struct RoundMetrics {
  int round = 0;
  double accuracy = 0.0;                   // NaN when the run wrote null
  std::optional<double> backdoor_success;  // backdoor runs only
  Counts counts;
};

struct RunMetrics {
  std::vector<RoundMetrics> rounds;  // in round order, 1..R
  double final_accuracy = 0.0;       // NaN when null
  std::optional<double> final_backdoor_success;
  double total_seconds = 0.0;  // sum of the run's round times
  Counts counts;               // over all rounds
};

// Reads <run_dir>/summary.json and <run_dir>/rounds.jsonl.
// Returns NotFound when summary.json is absent (the run did not finish),
// Corrupt naming the file and line for malformed content, and
// InvalidArgument when the run has a different number of rounds than
// expected_rounds. Files over 512 MiB are refused.
Result<RunMetrics> LoadRunMetrics(const std::string& run_dir,
                                  int expected_rounds);

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_METRICS_H_
