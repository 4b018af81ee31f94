// replay_summary.h — the machine-readable outputs of `flsentry replay`:
// decisions.jsonl (one line per decision) and summary.json (counts and, where
// the archive has labels, detection metrics per round and overall). Output is
// a pure function of the replay's results: no timestamps, stable key order,
// so repeated replays give byte-identical files.
#ifndef FLSENTRY_REPLAY_REPLAY_SUMMARY_H_
#define FLSENTRY_REPLAY_REPLAY_SUMMARY_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "replay/replay_metrics.h"
#include "replay/replay_runner.h"

namespace flsentry::cli {

// Counts over a set of decisions.
struct DecisionCounts {
  int64_t clients = 0;
  int64_t accepted = 0;
  int64_t downweighted = 0;
  int64_t dropped = 0;      // unreadable drops included
  int64_t quarantined = 0;  // decisions flagged AGGF_FLAG_QUARANTINED
  int64_t probation = 0;    // decisions flagged AGGF_FLAG_PROBATION
  int64_t unreadable = 0;
  bool has_labels = false;
  Confusion confusion;  // over labelled, readable decisions
  double auc = 0;       // NaN without both classes
};

// The metrics' view of decisions. Unreadable ones are left out: the filter
// never judged them.
std::vector<ScoredCall> ToScoredCalls(
    std::span<const ReplayDecision> decisions);

DecisionCounts CountDecisions(std::span<const ReplayDecision> decisions);

// All decisions of a run, in round order.
std::vector<ReplayDecision> AllDecisions(const PolicyRun& run);

// The numbers of the rounds the plugin refused (ReplayRound::failed), in
// replay order. Their updates have no decisions, so every count and metric
// covers the other rounds only.
std::vector<uint64_t> RefusedRounds(const PolicyRun& run);

// "N of M rounds refused by the plugin (r1, r2, ...): the counts and
// metrics cover the other K rounds only"; "" when none was refused.
std::string RefusedRoundsNote(const PolicyRun& run);

// One JSON object per line, keys in this order: round, client, action,
// weight, score, threshold, reason, flags (array of names), num_examples,
// then label and attack when the archive has them, "unreadable": true
// for decisions replay made itself, and for a flat folder client_from
// ("metadata" | "file name") and num_examples_from ("metadata" |
// "default"). NaN numbers are written as null.
std::string DecisionsJsonl(const PolicyRun& run);

// {"format": "flsentry-replay-summary/1", "archive", "config", "plugin",
//  "on_unreadable", "redirects", "ranked_by", "notes" (PolicyRun::notes,
//  then RefusedRoundsNote), "overall": {...}, "rounds": [{...}]}; each
// counts object holds clients, accepted, downweighted, dropped,
// quarantined, probation, unreadable and, when labels exist, labelled, tp,
// fp, tn, fn, tpr, fpr, precision, auc (null when undefined). "overall"
// adds "rounds", "failed_rounds" (how many the plugin refused) and
// "refused_rounds" (their numbers). Rounds carry "errors" (lines) and
// "failed".
nlohmann::ordered_json SummaryJson(const PolicyRun& run,
                                   const std::string& archive_path,
                                   const std::string& plugin_description,
                                   OnUnreadable on_unreadable);

// The counts object used inside SummaryJson.
nlohmann::ordered_json CountsJson(const DecisionCounts& counts);

// A run's entry of `flsentry replay --json` and comparison.json: the
// overall CountsJson, then "rounds", "failed_rounds", "refused_rounds" and
// "notes" as in SummaryJson.
nlohmann::ordered_json RunOverviewJson(const PolicyRun& run);

// PolicyRun::notes, then RefusedRoundsNote when rounds were refused.
std::vector<std::string> RunNotes(const PolicyRun& run);

}  // namespace flsentry::cli

#endif  // FLSENTRY_REPLAY_REPLAY_SUMMARY_H_
