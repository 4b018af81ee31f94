// replay_metrics.h — how well a filter did on labelled rounds: decision
// counts, the confusion matrix with "malicious" as the positive class and
// drop or down-weight as a positive call, rates, and the ROC curve / AUC of
// the scores. Pure functions on plain values; no plugin, no I/O.
#ifndef FLSENTRY_REPLAY_REPLAY_METRICS_H_
#define FLSENTRY_REPLAY_REPLAY_METRICS_H_

#include <cstdint>
#include <span>
#include <vector>

namespace flsentry::cli {

// One decision as the metrics see it.
struct ScoredCall {
  double score = 0;            // the filter's score; NaN when not scored
  bool positive_call = false;  // dropped or down-weighted
  bool labelled = false;       // the archive says benign or malicious
  bool malicious = false;      // meaningful only when labelled
};

struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  int64_t labelled() const { return tp + fp + tn + fn; }
  // NaN when the denominator is 0.
  double tpr() const;        // tp / (tp + fn)
  double fpr() const;        // fp / (fp + tn)
  double precision() const;  // tp / (tp + fp)
};

// Confusion counts over the labelled calls (unlabelled ones are ignored).
Confusion CountConfusion(std::span<const ScoredCall> calls);

// The value a call is ranked by for ROC: its score when finite; otherwise
// (not scored, e.g. caught by a guard before scoring) +infinity when it was
// a positive call and -infinity when not.
double RankingScore(const ScoredCall& call);

// Area under the ROC curve of the labelled calls' RankingScore, malicious
// positive: the probability that a random malicious call ranks above a
// random benign one, ties counting one half (Mann-Whitney U). NaN when there
// is no malicious or no benign labelled call. O(n log n).
double RocAuc(std::span<const ScoredCall> calls);

struct RocPoint {
  double fpr = 0, tpr = 0;
  double threshold = 0;  // calls ranking >= threshold are called positive
};

// The ROC curve: (0,0) first, then one point per distinct RankingScore from
// high to low, ending at (1,1). Empty when RocAuc would be NaN.
std::vector<RocPoint> RocCurve(std::span<const ScoredCall> calls);

}  // namespace flsentry::cli

#endif  // FLSENTRY_REPLAY_REPLAY_METRICS_H_
