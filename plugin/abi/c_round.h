// c_round.h — converts the host's aggf_round (untrusted, borrowed buffers)
// into a RoundInput of validated views. Part of the C interface layer.
#ifndef FLSENTRY_ABI_C_ROUND_H_
#define FLSENTRY_ABI_C_ROUND_H_

#include <set>
#include <string>
#include <vector>

#include "aggfilter.h"
#include "base/status.h"
#include "features/round_input.h"

namespace flsentry {

// Largest number of updates accepted in one round.
inline constexpr uint32_t kMaxUpdatesPerRound = AGGF_MAX_UPDATES;
// Largest tensor-name and client-id length, in bytes.
inline constexpr uint32_t kMaxNameBytes = 4096;

// Validates `round` and fills *out with views borrowing the host's buffers
// (OWNERSHIP: *out is valid only while the host's buffers are, i.e. during
// the on_round_filter call).
// Whole-round errors (kInvalidArgument): null round, struct_size too small,
// non-zero reserved fields, null arrays with non-zero counts, too many
// updates, a malformed global tensor.
// Per-update problems (bad dtype code, rank, shape, stride, null data,
// misaligned data, duplicate tensor name, empty / non-UTF-8 / duplicate
// client id) do not fail: they set that update's invalid_reason.
Status ConvertRound(const aggf_round* round, RoundInput* out);

// One update of a round (ConvertRound's per-update part): fills *out with
// views borrowing the host's buffers, or sets out->invalid_reason (never
// fails). `index` names it in messages; *seen_clients holds the client ids
// of the round's earlier updates, and gets this one's.
void ConvertUpdate(const aggf_update& update, uint32_t index,
                   std::set<std::string>* seen_clients, UpdateInput* out);

// Validates the start of a round given on arrival (ABI 1.2). Errors
// (kInvalidArgument): null, struct_size too small or unknown non-zero
// fields, non-zero reserved fields, a malformed global tensor. *global
// borrows the host's buffers.
Status ConvertRoundBegin(const aggf_round_begin* begin, uint64_t* round,
                         std::vector<TensorView>* global);

// True when [data, data + size) is valid UTF-8.
bool IsValidUtf8(const char* data, size_t size);

}  // namespace flsentry

#endif  // FLSENTRY_ABI_C_ROUND_H_
