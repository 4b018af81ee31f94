// decision.h — what flsentry decides for one update, and the round it
// decides on, as C++ values. The C interface layer (c_api.cc) converts to and
// from aggfilter.h; nothing here depends on it.
#ifndef FLSENTRY_DECISION_H_
#define FLSENTRY_DECISION_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor_view.h"

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
  double weight = 1.0;      // in [0, 1]
  double score = NAN;       // NaN when not scored
  double threshold = NAN;   // NaN when no threshold applied
  // The largest ratio of the update's signals to the policy's limits for
  // them (score / threshold, norm / norm-guard limit, (1 - duplicate limit)
  // / (1 - similarity), typicality / centrality limit); a signal fires above
  // 1. Comparable across rounds: what to rank updates by. NaN when nothing
  // was judged.
  double suspicion = NAN;
  std::string reason = "ok";  // short, stable, machine-readable
};

enum class UpdateKind { kDelta, kWeights };

// One client update. OWNERSHIP: tensors borrow their bytes from whoever
// built the round (a host's buffers, or TensorSets the caller keeps alive).
struct UpdateInput {
  std::string client_id;
  uint64_t num_examples = 0;
  UpdateKind kind = UpdateKind::kDelta;
  std::vector<TensorView> tensors;
  // Non-empty when the host's description of this update was malformed; the
  // update is then dropped with kFlagInvalid and this reason.
  std::string invalid_reason;
};

struct RoundInput {
  uint64_t round = 0;
  std::vector<TensorView> global;  // may be empty when all updates are deltas
  std::vector<UpdateInput> updates;
};

}  // namespace flsentry

#endif  // FLSENTRY_DECISION_H_
