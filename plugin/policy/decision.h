// decision.h — what flsentry decides for one update, as a C++ value. The C
// interface layer (abi/c_api.cc) converts it to aggfilter.h's aggf_decision;
// the flag bits and their names are aggfilter.h's own.
#ifndef FLSENTRY_POLICY_DECISION_H_
#define FLSENTRY_POLICY_DECISION_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "aggfilter.h"

namespace flsentry {

enum class Action { kAccept, kDownweight, kDrop };

// "accept", "downweight", "drop".
const char* ActionName(Action action);

// Bits of Decision::flags: aggfilter.h's AGGF_FLAG_* (the C interface's
// bits and names are the single definition; see AGGF_FLAG_NAMES).
enum Flag : uint32_t {
  kFlagNonFinite = AGGF_FLAG_NONFINITE,
  kFlagShapeMismatch = AGGF_FLAG_SHAPE_MISMATCH,
  kFlagAnomalous = AGGF_FLAG_ANOMALOUS,
  kFlagNormGuard = AGGF_FLAG_NORM_GUARD,
  kFlagQuarantined = AGGF_FLAG_QUARANTINED,
  kFlagProbation = AGGF_FLAG_PROBATION,
  kFlagAllowlisted = AGGF_FLAG_ALLOWLISTED,
  kFlagDenylisted = AGGF_FLAG_DENYLISTED,
  kFlagScoreFailed = AGGF_FLAG_SCORE_FAILED,
  kFlagFailsafe = AGGF_FLAG_FAILSAFE,
  kFlagInvalid = AGGF_FLAG_INVALID,
  kFlagDuplicate = AGGF_FLAG_DUPLICATE,
  kFlagCentral = AGGF_FLAG_CENTRAL,
  kFlagNumExamples = AGGF_FLAG_NUM_EXAMPLES,
  kFlagNoAverage = AGGF_FLAG_NO_AVERAGE,
  kFlagInconsistent = AGGF_FLAG_INCONSISTENT,
  kFlagOpposed = AGGF_FLAG_OPPOSED,
  kFlagColumnOutlier = AGGF_FLAG_COLUMN_OUTLIER,
};

// Names of the bits set in `flags`, in bit order, e.g. {"nonfinite"}.
std::vector<std::string> FlagNames(uint32_t flags);

struct Decision {
  Action action = Action::kAccept;
  uint32_t flags = 0;
  double weight = 1.0;     // in [0, 1]
  double score = NAN;      // NaN when not scored
  double threshold = NAN;  // NaN when no threshold applied
  // The largest ratio of the update's signals to the policy's limits for
  // them (score / threshold, norm / norm-guard limit, (1 - duplicate limit)
  // / (1 - similarity), typicality / centrality limit, the consistency and
  // newcomer distances, opposition / max_opposition, column share /
  // max_share and peak share / max_peak_share, claim / its limit;
  // docs/audit-log.md, "suspicion"); a signal fires above 1. Comparable across
  // rounds: what to rank updates by. NaN when nothing was judged.
  double suspicion = NAN;
  std::string reason = "ok";  // short, stable, machine-readable
};

// Kept without any flag: accepted at weight 1 with no condition seen. The
// only updates the detector learns from and that feed a client's own
// history (policy.h, detector.h).
inline bool KeptClean(const Decision& d) {
  return d.action == Action::kAccept && d.flags == 0;
}

// The flags of the policy's signals: the score and the guards on direction,
// near-copies, centrality, norm, pull against the round, quiet input columns
// and claimed examples.
inline constexpr uint32_t kSignalFlags =
    kFlagAnomalous | kFlagInconsistent | kFlagDuplicate | kFlagCentral |
    kFlagNormGuard | kFlagOpposed | kFlagColumnOutlier | kFlagNumExamples;
// The guards among them: every signal but the score.
inline constexpr uint32_t kGuardSignalFlags = kSignalFlags & ~kFlagAnomalous;

// Dropped for one of the policy's signals with a suspicion of at least
// `severe` (fail_safes.severe_suspicion): what becomes the client's rejected
// direction when it has no reference (detector/client_references.h).
inline bool DroppedSeverely(const Decision& d, double severe) {
  return d.action == Action::kDrop && (d.flags & kSignalFlags) != 0 &&
         d.suspicion >= severe;
}

}  // namespace flsentry

#endif  // FLSENTRY_POLICY_DECISION_H_
