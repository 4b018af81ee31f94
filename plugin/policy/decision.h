// decision.h — what flsentry decides for one update, as a C++ value. The C
// interface layer (abi/c_api.cc) converts it to aggfilter.h's aggf_decision;
// nothing here depends on that header.
#ifndef FLSENTRY_POLICY_DECISION_H_
#define FLSENTRY_POLICY_DECISION_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace flsentry {

enum class Action { kAccept, kDownweight, kDrop };

// "accept", "downweight", "drop".
const char* ActionName(Action action);

// Bits of Decision::flags. Values equal aggfilter.h's AGGF_FLAG_* (pinned by
// a static_assert in c_api.cc).
enum Flag : uint32_t {
  kFlagNonFinite = 1u << 0,
  kFlagShapeMismatch = 1u << 1,
  kFlagAnomalous = 1u << 2,
  kFlagNormGuard = 1u << 3,
  kFlagQuarantined = 1u << 4,
  kFlagProbation = 1u << 5,
  kFlagAllowlisted = 1u << 6,
  kFlagDenylisted = 1u << 7,
  kFlagScoreFailed = 1u << 8,
  kFlagFailsafe = 1u << 9,
  kFlagInvalid = 1u << 10,
  kFlagDuplicate = 1u << 11,
  kFlagCentral = 1u << 12,
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
  // / (1 - similarity), typicality / centrality limit); a signal fires above
  // 1. Comparable across rounds: what to rank updates by. NaN when nothing
  // was judged.
  double suspicion = NAN;
  std::string reason = "ok";  // short, stable, machine-readable
};

}  // namespace flsentry

#endif  // FLSENTRY_POLICY_DECISION_H_
