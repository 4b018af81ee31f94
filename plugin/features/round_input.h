// round_input.h — one round as the pipeline receives it: the global model
// and every client's update as borrowed tensor views. Built by the C
// interface (abi/c_round.h) from a host's buffers, or by tools from tensor
// files; read by features, detector, policy and engine. Plain values.
#ifndef FLSENTRY_FEATURES_ROUND_INPUT_H_
#define FLSENTRY_FEATURES_ROUND_INPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor_view.h"

namespace flsentry {

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

#endif  // FLSENTRY_FEATURES_ROUND_INPUT_H_
