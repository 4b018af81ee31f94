// round_record.h — what the engine keeps of the last round it committed, so
// that a host retrying that round (the same number, e.g. after a crash
// between filtering and averaging) gets the same decisions without the
// round being counted twice (host_api/aggfilter.h, on_round_filter): the
// round's fingerprint and its decisions. Stored in the state file as
// "retry" (configs/README.md, "The state file"). No LibTorch; plain values.
#ifndef FLSENTRY_ENGINE_ROUND_RECORD_H_
#define FLSENTRY_ENGINE_ROUND_RECORD_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "base/status.h"
#include "features/layout_check.h"
#include "features/round_input.h"
#include "policy/decision.h"
#include "policy/policy.h"

namespace flsentry {

// Most decisions a stored record may hold (the C interface's round limit).
inline constexpr size_t kMaxRecordedDecisions = size_t{1} << 20;

struct RoundRecord {
  uint64_t round = 0;
  uint64_t fingerprint = 0;         // RoundFingerprint of the round
  std::vector<Decision> decisions;  // suspicion is not kept (NaN)
};

// The round as the filter measured it, hashed (base/hash.h): the number of
// updates and, per update in order, its client id, kind, num_examples, the
// names, dtypes and shapes of its tensors, the engine's guard verdict
// (flags, reason, whether it answers for a client), and the measurements
// its decision was computed from: its norm (exact bits), non-finite count,
// scoring error and embedding hash. Two rounds with equal fingerprints get
// equal decisions from equal state. Not the tensors' bytes: an update
// changed where the filter does not look (outside the detector's tensor
// selection, or in the null space of its sketch) is the same to it.
// REQUIRES: inputs.size() == round.updates.size().
uint64_t RoundFingerprint(const RoundInput& round,
                          std::span<const PolicyInput> inputs);

// What RoundFingerprint reads of one update besides its PolicyInput.
// OWNERSHIP: borrows its fields' referents.
struct UpdateIdentity {
  std::string_view client_id;
  UpdateKind kind = UpdateKind::kDelta;
  uint64_t num_examples = 0;
  std::span<const TensorMeta> tensors;
};
// The same fingerprint from the round's layouts and identities, for a
// round whose bytes are gone (given one update at a time). REQUIRES:
// inputs.size() == updates.size().
uint64_t RoundFingerprint(std::span<const TensorMeta> global,
                          std::span<const UpdateIdentity> updates,
                          std::span<const PolicyInput> inputs);

// {"round": N, "fingerprint": "<16 hex digits>", "decisions":
//  [[action, flags, weight, score|null, threshold|null, reason], ...]}.
nlohmann::json RoundRecordToJson(const RoundRecord& record);
// Returns kState naming the member ("retry.decisions[3]: ...") on any
// malformed or out-of-range value. Never throws.
Result<RoundRecord> RoundRecordFromJson(const nlohmann::json& json);

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_ROUND_RECORD_H_
