// benchmark_report_metrics.h — what the benchmark report measures in one
// simulation run, read from its rounds.jsonl and summary.json (field names:
// integration/round_results.h, configs/sim/README.md).
//
// An update counts as "flagged" when the filter dropped it or gave it a
// weight below 1 (down-weighted, or clipped by the norm guard): a positive
// call. "malicious" is the run's ground truth for that update (true only
// from attack.start_round on); "honest clients" are the clients outside
// the run's malicious set. The warm-up is the policy's
// detector.refresh.warmup_rounds: rounds 1..warmup, whose updates the
// filter trusts; "after warm-up" counts rounds > warmup. Accuracies are
// shares in [0, 1].
//
// Threading: none. Inputs are untrusted files: every field is type-checked
// and sizes are bounded; a bad file is an error naming the file and field.
#ifndef FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_METRICS_H_
#define FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_METRICS_H_

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

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
  double tail_accuracy = 0.0;        // mean of the last kTailRounds (NaN as 0)
  std::optional<double> final_backdoor_success;
  double total_seconds = 0.0;  // sum of the run's round times (wall)
  double cpu_seconds = 0.0;    // the process's CPU time; NaN when absent
  Counts counts;               // over all rounds
  Counts after_warmup;         // rounds > warm-up
  // Malicious updates that entered the average (weight > 0) / malicious
  // updates sent; NaN without malicious updates.
  double malicious_accepted = 0.0;
  int honest_clients = 0;  // clients outside the malicious set
  // Honest clients with at least one update dropped as "quarantined".
  int honest_quarantined = 0;
  // Per honest client, rounds after warm-up in which it took part and its
  // update was dropped (weight 0): the mean over honest clients and the
  // largest.
  double honest_excluded_mean = 0.0;
  int honest_excluded_max = 0;
  // Honest clients' accuracy on their own data distribution (summary.json
  // clients[].own_accuracy, finite values only): mean, and mean of the
  // worst tenth (at least one client). NaN without values.
  double own_accuracy_mean = 0.0;
  double own_accuracy_worst_decile = 0.0;
};

// Rounds averaged in RunMetrics::tail_accuracy.
inline constexpr int kTailRounds = 5;

// Reads <run_dir>/summary.json and <run_dir>/rounds.jsonl; warmup_rounds
// is the policy's warm-up (0: none). Returns NotFound when summary.json is
// absent (the run did not finish), Corrupt naming the file and line for
// malformed content, and InvalidArgument when the run has a different
// number of rounds than expected_rounds. Files over 512 MiB are refused.
Result<RunMetrics> LoadRunMetrics(const std::string& run_dir,
                                  int expected_rounds, int warmup_rounds);

// Mean of the lowest ceil(n / 10) values (at least one); NaN when empty.
double WorstDecileMean(std::vector<double> values);

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_METRICS_H_
