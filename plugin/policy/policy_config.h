// policy_config.h — the policy file: what flsentry does with scores, as a
// validated C++ value. Parsed from YAML (yaml-cpp) by ParsePolicyYaml, which
// is strict: an unknown key, a wrong type or an out-of-range value is a
// kConfig error whose message names the key path, line and column, e.g.
//   policy: thresholds.rules[1].k: must be > 0 (line 12, column 10)
// Every key is documented in configs/README.md; defaults below are the ones
// an empty document gets, and equal configs/default.yaml except for the
// file paths (detector, state, audit), which default to none. Plain values; no
// LibTorch, no YAML types.
#ifndef FLSENTRY_POLICY_POLICY_CONFIG_H_
#define FLSENTRY_POLICY_POLICY_CONFIG_H_

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "detector/detector_config.h"

namespace flsentry {

// ---- thresholds -------------------------------------------------------------

enum class ThresholdKind {
  kStatic,              // threshold = value
  kCalibratedQuantile,  // threshold = scale * calibration quantile(level)
  kCalibratedMeanStd,   // threshold = calibration mean + k * stddev
  kRoundRobust,         // threshold = median + k * MAD of the round's scores
  kRoundRatio,          // threshold = k * median of the round's scores
};

// "static", "calibrated_quantile", "calibrated_mean_std", "round_robust",
// "round_ratio".
const char* ThresholdKindName(ThresholdKind kind);

struct ThresholdRule {
  ThresholdKind kind = ThresholdKind::kRoundRobust;
  std::string name = "round_robust";  // unique in the policy; default: kind
  double value = 0.0;                 // kStatic
  double level = 0.99;                // kCalibratedQuantile, in (0, 1]
  double scale = 1.0;                 // kCalibratedQuantile, > 0
  // kCalibratedMeanStd (stddevs, default 3), kRoundRobust (MADs, default 8),
  // kRoundRatio (times the median, default DefaultThresholdRule().k).
  double k = 8.0;
  // kRoundRobust, kRoundRatio: fewer scored updates than this in the round ->
  // pool the scores of up to `history_rounds` earlier rounds; still fewer ->
  // the rule abstains (see thresholds.h).
  int min_round_size = 5;
  int history_rounds = 3;
  // kRoundRobust: the spread used is max(MAD, min_relative_spread * median),
  // so a round of near-identical scores does not flag tiny differences.
  double min_relative_spread = 0.05;
};

enum class Combine { kAny, kAll };

// The default rule: kRoundRatio, k = 4 (docs/results.md: honest clients
// of skewed cross-silo federations score up to ~3.5 x the round median).
ThresholdRule DefaultThresholdRule();

// Each client judged against its own tail as well as the round (the
// per-client history FLDetector argues for; a fixed multiple of the round's
// median cannot tell a skewed honest client from an attacker). The client's
// tail is the score / round median score of its last `rounds` updates that
// pointed its usual way (UpdateScore::consistency >= min_consistency) with no
// guard firing, whether the score flagged them or not, plus its clean ones
// before it had a reference; quarantined rounds do not count. With at least
// `min_rounds` of them, an update that points the client's usual way gets its
// effective threshold multiplied by clamp(b, 1, max_factor), b = the
// statistic (max: the largest; median) of that tail. A change of direction is
// judged by the round alone, and guards are never relaxed.
// `grace`: a score-only anomaly (no guard fired) of an update that points
// the client's usual way, from a client not on probation, is accepted at
// full weight (flag anomalous, reason "grace", no strike) while the client
// has had fewer than `grace` such acceptances in the last
// quarantine.window_rounds rounds: one burst of an honest client with
// unusual data is not treated as an attack; its next one within the window
// is. What an attacker gains: `grace` score-only updates per window, each
// still under every guard.
// Largest ClientBaselineConfig::rounds (ratios kept per client).
inline constexpr int kMaxClientBaselineRounds = 64;
inline constexpr int kMaxClientGrace = 64;

enum class BaselineStatistic { kMax, kMedian };

struct ClientBaselineConfig {
  bool enabled = true;
  int rounds = 10;               // in [1, 64]: ratios remembered
  int min_rounds = 3;            // in [1, rounds]: fewer -> no relaxation
  double max_factor = 8.0;       // >= 1: the threshold grows at most this much
  double min_consistency = 0.0;  // in [-1, 1]
  BaselineStatistic statistic = BaselineStatistic::kMax;
  int grace = 1;  // in [0, 64]: graces per quarantine window; 0: none
};

struct ThresholdsConfig {
  Combine combine = Combine::kAny;
  std::vector<ThresholdRule> rules = {DefaultThresholdRule()};
  ClientBaselineConfig client_baseline;
};

// ---- actions ----------------------------------------------------------------

enum class AnomalyAction { kDrop, kDownweight };
enum class DownweightFunction { kLinear, kExponential };

// Multiplier for an update whose score exceeds threshold t by the relative
// excess e = (score - t) / t  (e = score - t when t <= 0):
//   linear:      w = max(floor, 1 - slope * e)
//   exponential: w = max(floor, exp(-rate * e))
struct DownweightConfig {
  DownweightFunction function = DownweightFunction::kExponential;
  double slope = 1.0;  // > 0
  double rate = 1.0;   // > 0
  double floor = 0.1;  // in (0, 1]
};

struct ActionsConfig {
  AnomalyAction on_anomalous = AnomalyAction::kDrop;
  DownweightConfig downweight;
};

struct ListsConfig {
  std::set<std::string> allow;  // always accepted (guards still apply)
  std::set<std::string> deny;   // always dropped; disjoint from allow
};

// ---- guards -----------------------------------------------------------------

enum class NormGuardMode { kClip, kDownweight, kDrop };

// Flags updates whose norm exceeds k x the round's reference norm: the
// median norm of the round's well-formed updates or, when smaller,
// max_growth x the history anchor (the median, over the last history_rounds
// decided rounds, of each round's median norm of its accepted updates), so
// that attackers who are half a round cannot raise the limit they are judged
// by beyond max_growth x what earlier rounds accepted. kClip: weight
// k*reference/norm (scales the update's contribution to what a clipped
// update would have); kDownweight: the multiplier function of
// actions.downweight on norm/(k*reference) - 1; kDrop: dropped. Whatever
// the mode, a norm above drop_k x the reference is dropped: a clipped update
// still pulls the average its own way with k x the reference norm, and
// honest updates stay far below (at most 3.7 x the round's median in the
// recorded non-IID runs; scaled and noise updates 10-240 x).
struct NormGuardConfig {
  bool enabled = true;
  double k = 3.0;           // > 1
  double drop_k = 10.0;     // > k; 0: no drop limit
  int history_rounds = 3;   // 0..100; 0: the round's median alone
  double max_growth = 2.0;  // >= 1
  NormGuardMode mode = NormGuardMode::kClip;
  int min_round_size = 3;  // fewer finite norms -> the guard abstains
};

// Flags updates whose embedding is nearly identical to another update's in
// the same round (UpdateScore::max_similarity > max_similarity): benign
// clients training on their own data never send the same update, colluding
// ones (the omniscient attacks ALIE, IPM, min-max, min-sum) do. Needs a
// detector (the embedding); abstains without one.
struct DuplicateGuardConfig {
  bool enabled = true;
  double max_similarity = 0.99;  // cosine, in (0, 1]
};

// Flags updates that are more typical of the round than honest clients'
// updates are: typicality = (1 - median centrality) / (1 - centrality), with
// UpdateScore::centrality (cosine with the mean direction of the others),
// above max_typicality. ALIE-style updates, built from the round's mean,
// reach 3.4-6 on recorded non-IID runs where honest ones stayed below 3.3.
// The ratio form keeps its meaning when honest clients agree more (IID).
// Needs a detector (the embedding); abstains with fewer than min_round_size
// centralities.
struct CentralityGuardConfig {
  bool enabled = true;
  double max_typicality = 4.0;  // > 1
  int min_round_size = 5;
};

// Flags updates that point away from the client's own last clean update
// (kept without any flag): UpdateScore::consistency, the cosine of the two
// embeddings, below min_cosine. An honest client's consecutive updates come
// from the same data and mostly keep a positive cosine (a few land near
// orthogonal, -0.21 to -0.01 on recorded runs: the drift rule below); a
// sign flip or an inner-product manipulation reverses it. Needs a detector
// (the embedding) and a previous clean update of the client; abstains
// otherwise.
// A client with no clean update yet is judged against its rejected
// direction instead (UpdateScore::rejected_similarity: its last update
// dropped with suspicion >= fail_safes.severe_suspicion): an update with a
// cosine above max_rejected_similarity with it, within
// quarantine.window_rounds rounds of that rejection, repeats what was
// rejected and is flagged inconsistent too (reason "repeats_rejected"). A
// sign-flipper first seen after its attack began has no honest update to
// be compared with; its early flipped updates score high and are dropped,
// its later ones score like honest ones but keep pointing the same way.
// Each dropped update (for whatever reason) that points the rejected way
// restarts the window, also after it lapsed (the engine renews the
// rejection's round; the direction stays the one first rejected): an
// attacker whose rejection lapsed while it was quarantined, and that comes
// back pointing the same way, is dropped by another rule once and is then
// judged against its rejection again. A client with no reference that does not
// repeat a rejected direction within the window (a newcomer, or one whose
// rejection lapsed or points elsewhere) is compared with the round's known
// clients instead (UpdateScore::agreement: the cosine with the mean direction
// of the updates pointing their own clients' usual way): below
// newcomer_min_agreement its update is flagged inconsistent and dropped, or
// down-weighted to newcomer_weight when that is above 0 (reason
// "against_round"), with no strike; it does not become the client's reference,
// so its next update is judged the same way until one agrees. A sign-flipper
// first seen after its attack began points against the round; an honest
// newcomer with unusual data rarely does, and then loses one update's say, not
// its place (a sign-flipped update at half weight still pulls the average its
// way).
// The round raises that limit as far as its known clients' agreements allow:
// to median - newcomer_round_k x 1.4826 x MAD of the agreements of the
// round's updates that point their own clients' usual way (consistency > 0;
// quarantined clients and attackers included, guard-flagged updates not),
// when at least newcomer_min_round_size of them have one, but never above 0
// (a newcomer is held out only for pointing against their mean) and never
// below newcomer_min_agreement; a newcomer_min_agreement of -1 (off) or
// >= 0 stands alone. Among skewed honest clients (Dirichlet 0.1) agreements
// spread and the fixed limit stands; where they agree, a sign-flipped
// newcomer at -0.28 to -0.12 sits below them (docs/results/notes.md, "Sign
// flips").
// Drift: an update at most drift_margin below min_cosine whose agreement is
// at least the round's drift limit is not inconsistent (it is judged
// against min_cosine - drift_margin). The drift limit is median -
// drift_round_k x 1.4826 x MAD of the same known clients' agreements,
// never below 0 (an update turning from its reference and against the
// round has not drifted with it) nor below the round's newcomer limit,
// when at least newcomer_min_round_size of them have one (else the rule
// abstains). An honest client whose data turns it away from its reference
// (right after the warm-up, when the model turns fast; under Dirichlet 0.1
// skew) lands near orthogonal (cosine -0.08 to -0.01 on recorded runs)
// while pointing the round's way like the others; a reversed update (sign
// flip, IPM) lands far below 0 and against the round
// (docs/results/notes.md, "Honest clients"). A drift_margin of 0 turns the
// rule off.
struct ConsistencyGuardConfig {
  bool enabled = true;
  double min_cosine = 0.0;               // in [-1, 1)
  double max_rejected_similarity = 0.5;  // in [-1, 1]; 1: never fires
  double newcomer_min_agreement = -0.3;  // in [-1, 1]; -1: never fires,
                                         // whatever the round
  double newcomer_weight = 0.0;          // in [0, 1]; 0: drop
  double newcomer_round_k = 4.0;         // >= 0; 0: the fixed limit alone
  int newcomer_min_round_size = 5;       // >= 3
  double drift_margin = 0.1;             // in [0, 2]; 0: no drift rule
  double drift_round_k = 2.0;            // >= 0
};

// Bounds how hard one update may pull the round's average against the
// others: its opposition is (norm / the norm guard's reference norm) x
// max(0, -agreement), agreement being UpdateScore::agreement (the cosine
// with the mean direction of the round's known clients). Above
// max_opposition the update is flagged opposed and its weight is capped at
// max_opposition / opposition, so that what it adds against the
// others is at most max_opposition reference norms. Abstains without an
// agreement (fewer than kMinKnownForAgreement known clients) or without a
// reference norm (fewer than guards.norm.min_round_size finite norms; the
// norm guard's own `enabled` does not matter). An attacker pushing against
// the honest mean (a filter-aware one sits just under every other limit: a
// cosine near -0.9 at 2.7-3 x the median norm) scores about 2.4-2.7; honest
// clients at Dirichlet 0.1 stay under 1, since an honest update against
// the others is one of usual size (docs/results/notes.md, "The oracle
// attack").
// Not a strike unless quarantine.strike_on lists "opposed": colluding
// attackers counted among the known clients (near-copies, or quarantined
// ones still pointing their old way) can turn the known direction against
// the honest clients of a round, which then pull against it.
struct OppositionGuardConfig {
  bool enabled = true;
  double max_opposition = 1.0;  // > 0, reference norms
};

// Drops updates with much of their energy in input columns of the first
// dense layer that the round's other updates leave quiet
// (features/column_outliers.h): UpdateScore::column_share above max_share,
// or UpdateScore::column_peak_share (the part of it in the 9 largest
// columns) above max_peak_share. A pixel-trigger backdoor's update sends
// 0.15-0.6 of its squared norm into the trigger pixels' few columns while
// the backdoor is not learned; honest updates under Dirichlet 0.1 skew
// reach shares of 0.43, spread over dozens of columns, and peak shares of
// 0.147 (0.163 on a CNN's dense layer). Dropping the backdoor's early
// updates keeps it from being learned, which keeps its later updates as
// far out (docs/results/notes.md, "Backdoors"). Needs a detector and a
// layout with a 2-D tensor (a Linear weight); abstains otherwise and in
// rounds of fewer than kMinColumnRound such updates. Not a strike unless
// quarantine.strike_on lists "column_outlier": an honest client with
// unusual inputs loses that update's say, not its place. Like any drop at
// least fail_safes.severe_suspicion suspicious (a peak share of 0.3 at the
// shipped limits), it becomes the client's rejected direction when the
// client has no reference, so an update repeating it is struck
// (ConsistencyGuardConfig, "repeats_rejected").
struct ColumnGuardConfig {
  bool enabled = true;
  double max_share = 0.45;       // in (0, 1]
  double max_peak_share = 0.15;  // in (0, 1]
};

enum class ExamplesGuardMode { kCap, kFlag, kDrop };

// Judges num_examples, the client's own claim of how many examples it
// trained on (its FedAvg weight is num_examples x weight). The claim's limit
// is the smaller of
//   k x the median positive claim of the round's well-formed updates (when
//   the round has at least min_round_size of them), and
//   history_k x the median of the client's last accepted claims (when it
//   has any),
// and the guard abstains when neither exists. Above the limit: kCap lowers
// the weight so that num_examples x weight equals the limit; kFlag only
// flags; kDrop drops. It always flags (num_examples); it is a strike event
// only above the client's own limit: a claim large against the round alone
// is an honest member with more data as often as an inflater, and the cap
// bounds what it counts for. A claim not above the client's own limit is
// recorded at most at the round's limit (what it counted for), so an
// inflater capped on its first claim is struck on its next. A claim of 0
// never fires (it carries no weight).
struct ExamplesGuardConfig {
  bool enabled = true;
  double k = 10.0;         // > 1
  double history_k = 2.0;  // > 1
  ExamplesGuardMode mode = ExamplesGuardMode::kCap;
  int min_round_size = 3;  // >= 1
};

struct GuardsConfig {
  NormGuardConfig norm;
  DuplicateGuardConfig duplicate;
  CentralityGuardConfig centrality;
  ConsistencyGuardConfig consistency;
  OppositionGuardConfig opposition;
  ColumnGuardConfig columns;
  ExamplesGuardConfig num_examples;
};

// ---- fail-safes -------------------------------------------------------------

enum class OnScoreError { kAccept, kDrop, kFailRound };

struct FailSafesConfig {
  // At most floor(share * n) updates dropped for their score or norm; above
  // that only the highest-scoring are dropped and the round is suspicious.
  double max_drop_fraction = 0.5;  // in [0, 1]
  // Fewer updates kept (weight > 0) than this: the lowest-scoring score/norm
  // drops are restored and the round is suspicious.
  int min_accepted = 1;
  OnScoreError on_error = OnScoreError::kDrop;
  // A restored update keeps a weight of min(1, 1 / suspicion): as if clipped
  // to the limit of the signal that fired. One whose suspicion is at least
  // severe_suspicion still counts as a strike (with its strike weight).
  double severe_suspicion = 2.0;  // > 1
  // Whether max_drop_fraction restores drops at least severe_suspicion
  // suspicious. false: they stay dropped, so a round whose majority is
  // far out of line (attackers sampled into the majority, judged by the
  // norm guard's history anchor) is not handed back to them; min_accepted
  // still restores them.
  bool restore_severe = false;
};

// ---- quarantine, probation, reputation --------------------------------------

// Events that count as a strike against a client.
enum StrikeEvent : uint32_t {
  kStrikeAnomalous = 1u << 0,      // score over the threshold
  kStrikeGuard = 1u << 1,          // nonfinite, shape mismatch, invalid
  kStrikeNormGuard = 1u << 2,      // norm guard fired
  kStrikeDuplicate = 1u << 3,      // duplicate guard fired
  kStrikeCentral = 1u << 4,        // centrality guard fired
  kStrikeInconsistent = 1u << 5,   // consistency guard fired
  kStrikeNumExamples = 1u << 6,    // num_examples guard fired
  kStrikeOpposed = 1u << 7,        // opposition guard fired (not by default:
                                   // attackers can turn the round's known
                                   // direction against honest clients)
  kStrikeColumnOutlier = 1u << 8,  // column guard fired (not by default)
};

// How much one strike weighs. An event of a guard (or the engine's guards)
// weighs 1. An update flagged by its score alone weighs
// clamp((suspicion - 1) / (full_at - 1), min_weight, 1): a score barely over
// its threshold is a fraction of a strike, one at full_at x the threshold a
// whole one. Quarantine compares the sum of weights with `strikes`.
struct StrikeWeightConfig {
  double full_at = 2.0;      // > 1
  double min_weight = 0.25;  // in (0, 1]
};

struct ProbationConfig {
  int rounds = 5;                      // >= 0; 0 disables probation
  double threshold_scale = 1.0;        // in (0, 1]: threshold multiplier
  double max_weight = 0.5;             // in (0, 1]: weight cap
  double strikes_to_requarantine = 2;  // >= 0.25: strike weight on probation
};

struct QuarantineConfig {
  bool enabled = true;
  // Host rounds, not rounds the client took part in: with a fifth of the
  // clients sampled per round a client is seen about every 5 rounds, so the
  // window must span several of its turns.
  int window_rounds = 15;  // W: strikes counted over the last W rounds
  double strikes = 2;      // S: strike weight in the window that quarantines
  int rounds = 15;         // Q: quarantine length, starting the striking round
  uint32_t strike_on = kStrikeAnomalous | kStrikeGuard | kStrikeNormGuard |
                       kStrikeDuplicate | kStrikeCentral | kStrikeInconsistent |
                       kStrikeNumExamples;
  StrikeWeightConfig strike_weight;
  ProbationConfig probation;
};

// Reputation in [0, 1] per client: starts at `initial`; each round the
// client takes part, r = (1 - rate) * r + rate * outcome, outcome 0 for a
// strike, 1 otherwise. Reported only; it does not change decisions.
struct ReputationConfig {
  double initial = 1.0;  // in [0, 1]
  double rate = 0.2;     // in (0, 1]
};

// ---- persistence ------------------------------------------------------------

enum class OnCorrupt { kFail, kReset };

struct StateConfig {
  std::string path;  // "" = no persistence; relative to the host's base_dir
  OnCorrupt on_corrupt = OnCorrupt::kFail;
};

struct AuditConfig {
  std::string path;  // "" = no audit log; relative to the host's base_dir
};

// Round numbers (host_api/aggfilter.h, on_round_filter): a round more than
// max_gap after the last round filtered is refused (kRoundNumber).
struct RoundsConfig {
  uint64_t max_gap = 1000;  // in [1, 2^53]
};

struct PolicyConfig {
  DetectorConfig detector;
  ThresholdsConfig thresholds;
  ActionsConfig actions;
  ListsConfig lists;
  GuardsConfig guards;
  FailSafesConfig fail_safes;
  QuarantineConfig quarantine;
  ReputationConfig reputation;
  StateConfig state;
  AuditConfig audit;
  RoundsConfig rounds;
};

// Largest policy text ParsePolicyYaml accepts, in bytes.
inline constexpr size_t kMaxPolicyBytes = 1u << 20;

// Parses and validates a policy document. Empty text, a document holding
// only comments, or `{}` give the defaults above.
// Returns kConfig with "policy: <key path>: <problem> (line L, column C)" on
// any invalid input. Never throws.
Result<PolicyConfig> ParsePolicyYaml(std::string_view yaml_text);

}  // namespace flsentry

#endif  // FLSENTRY_POLICY_POLICY_CONFIG_H_
