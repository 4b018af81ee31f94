// replay_runner.h — feeds the rounds of a round archive, in order, to an
// aggregation-filter plugin loaded through host_api/aggfilter_host.hpp,
// exactly as a live server would: one instance per policy, state carried
// from round to round, each round given on arrival (ABI 1.2: one update
// read and added at a time, replay_round.h) or, to a plugin before 1.2, in
// one on_round_filter call. Works with any aggfilter plugin, not only
// flsentry's.
//
// Threading: one replay per thread; the Plugin may be shared.
#ifndef FLSENTRY_REPLAY_REPLAY_RUNNER_H_
#define FLSENTRY_REPLAY_REPLAY_RUNNER_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "aggfilter_host.hpp"
#include "archive/round_archive.h"
#include "base/status.h"

namespace flsentry::cli {

// What replay does with a client whose file cannot be read.
enum class OnUnreadable {
  kDrop,  // a synthetic decision: drop, weight 0, reason "unreadable"
  kSkip,  // leave the client out of the round, as if it never reported
  kFail,  // stop the replay with an error
};

// "drop" | "skip" | "fail"; Parse returns false on anything else.
const char* OnUnreadableName(OnUnreadable mode);
bool ParseOnUnreadable(std::string_view text, OnUnreadable* mode);

// One decision of the replay, with the archive's ground truth beside it.
struct ReplayDecision {
  uint64_t round = 0;
  std::string client;
  uint64_t num_examples = 0;
  ArchiveLabel label = ArchiveLabel::kUnknown;
  std::string attack;
  aggfilter::Decision decision;
  // What the ROC curve ranks this update by (PolicyRun::ranked_by): the
  // policy's suspicion from flsentry's audit log, else decision.score. NaN
  // when the plugin judged nothing (e.g. unreadable, or dropped by a guard).
  double rank_score = NAN;
  // True when the client's file could not be read and replay (not the
  // plugin) made the decision.
  bool unreadable = false;
  // Flat folders only (empty for a manifest): where `client` came from,
  // "metadata" (the file's "client_id") or "file name", and where
  // `num_examples` came from, "metadata" or "default" (1).
  std::string client_from;
  std::string num_examples_from;
};

struct ReplayRound {
  uint64_t number = 0;
  std::vector<ReplayDecision> decisions;  // in manifest order
  // One line per problem: unreadable or skipped clients, a refused round.
  std::vector<std::string> errors;
  // True when the plugin refused the whole round (no decisions then).
  bool failed = false;
};

// The result of replaying one policy.
struct PolicyRun {
  std::string label;        // short name for tables and directories
  std::string config_path;  // the policy file as given
  std::string policy_text;  // the policy file's text, unmodified
  // Human-readable notes on what replay changed in the policy given to the
  // plugin (e.g. "state.path -> out/state.json").
  std::vector<std::string> redirects;
  std::vector<ReplayRound> rounds;
  // "suspicion" when the policy wrote flsentry's audit log (its `suspicion`
  // field: every signal of the policy relative to its limit, comparable
  // across rounds); else "score" (aggf_decision.score).
  std::string ranked_by = "score";
  // Lines the reader of the results must not miss, in this order (each
  // only when it applies): where a flat folder's client ids and
  // num_examples came from (FlatSourcesNote), and that every round the
  // plugin judged was a trusted warm-up round (WarmupNote). Rounds the
  // plugin refused are said by replay_summary.h (RefusedRounds).
  std::vector<std::string> notes;
};

// The number of trusted warm-up rounds of the detector of flsentry's policy
// `policy_text` (detector.refresh.warmup_rounds, when the policy has a
// detector: detector.bootstrap.enabled or a detector.path, and
// detector.refresh.enabled); 0 for anything else (no such keys, not YAML,
// another plugin's configuration). In those rounds the detector learns and
// judges nothing: updates are judged by norm and the guards only.
int64_t TrustedWarmupRounds(std::string_view policy_text);

// When `judged_rounds` (the rounds the plugin did not refuse) is at most
// `warmup_rounds` (> 0): a note that every one of them was a warm-up round,
// so no update was judged by the detector; "" otherwise.
std::string WarmupNote(size_t judged_rounds, int64_t warmup_rounds);

// For a flat folder: how many of its updates took their client id and
// num_examples from the file's metadata (ReplayDecision::client_from,
// num_examples_from), the others from the file name and the default 1.
std::string FlatSourcesNote(const std::vector<ReplayDecision>& decisions);

// The policy text handed to the plugin, and what was changed in it.
struct PreparedPolicy {
  std::string text;
  std::vector<std::string> redirects;
  // Where the policy's audit log now goes; empty when it names none.
  std::string audit_path;
};

// A replay must neither read nor clobber a live server's files: when the
// policy is a YAML map with `state.path` or `audit.path`, those two scalars
// — and no other byte of the operator's text — are replaced by the
// double-quoted absolute paths `work_dir`/replay_state.json and
// `work_dir`/replay_audit.jsonl, and any such file left by an earlier
// replay is removed first (so every replay starts from fresh state). The
// plugin thus judges the same bytes a live server gave it (a policy it
// refuses live, it refuses in replay). Text that is not YAML, or has neither
// key, is returned unchanged (the plugin judges it). Errors: kIo when an old
// file cannot be removed; kConfig when a path scalar is not where its YAML
// mark says (a multi-line path).
Result<PreparedPolicy> PreparePolicy(std::string_view policy_text,
                                     const std::string& work_dir);

// The names of the files a replay writes into a policy's output directory
// (decisions.jsonl, summary.json, report.html; with several policies
// comparison.json in --out) and those the plugin writes there through the
// redirected paths (replay_state.json, replay_audit.jsonl, and the lock
// and temporary files beside them).
const std::vector<std::string>& ReplayOutputFiles();

// Removes every ReplayOutputFiles() name from `dir`; missing ones are
// fine, others' files are never touched. Best effort (a failure to remove
// is ignored: this runs when a replay has already failed or before one).
void RemoveReplayOutputs(const std::string& dir);

struct ReplayOptions {
  OnUnreadable on_unreadable = OnUnreadable::kDrop;
  // Directory for redirected state/audit files (see PreparePolicy). Must
  // exist.
  std::string work_dir;
  // Called after each round with (rounds done, rounds total). May be empty.
  std::function<void(size_t, size_t)> progress;
  // Receives one line per problem that does not stop the replay (also kept
  // in ReplayRound::errors). May be empty.
  std::function<void(const std::string&)> error_line;
  // Receives the plugin's log lines of level warning and above (the
  // plugin's callback_log). May be empty.
  std::function<void(aggf_log_level, const std::string&)> plugin_log;
};

// Replays every round of `archive` with a fresh instance created from the
// policy file `config_path` (base_dir = the file's directory).
// Only floating-point tensors (f32, f64, f16, bf16: what the C interface
// carries) are passed; other tensors, e.g. BatchNorm counters, are left out
// of both updates and global model, as a server would.
// Errors: the policy file unreadable (kIo/kNotFound), the plugin refusing
// the policy (kConfig, with the plugin's message), an unreadable global
// model (the round cannot be filtered at all), an unreadable client under
// OnUnreadable::kFail. A round the plugin refuses is recorded, not fatal.
Result<PolicyRun> ReplayArchive(const aggfilter::Plugin& plugin,
                                const RoundArchive& archive,
                                const std::string& config_path,
                                const ReplayOptions& options);

}  // namespace flsentry::cli

#endif  // FLSENTRY_REPLAY_REPLAY_RUNNER_H_
