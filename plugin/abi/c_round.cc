#include "abi/c_round.h"

#include <cstddef>
#include <set>
#include <string>
#include <unordered_set>

#include "abi/c_sized.h"

namespace flsentry {
namespace {

// aggf_round as ABI 1.0 defined it: through `updates`.
constexpr size_t kRoundSizeV1_0 = 40;
static_assert(offsetof(aggf_round, updates) + sizeof(void*) == kRoundSizeV1_0);

std::optional<DType> DTypeFromC(aggf_dtype code) {
  switch (code) {
    case AGGF_DTYPE_F32:
      return DType::kF32;
    case AGGF_DTYPE_F64:
      return DType::kF64;
    case AGGF_DTYPE_F16:
      return DType::kF16;
    case AGGF_DTYPE_BF16:
      return DType::kBF16;
    default:
      return std::nullopt;
  }
}

// Validates one tensor; on success appends its view to *views.
Status ConvertTensor(const aggf_tensor& t, size_t index,
                     std::vector<TensorView>* views) {
  const std::string where = "tensor #" + std::to_string(index);
  if (t.name_len > 0 && t.name == nullptr) {
    return InvalidArgument(where + ": name is null");
  }
  if (t.name_len == 0) return InvalidArgument(where + ": empty name");
  if (t.name_len > kMaxNameBytes) {
    return InvalidArgument(where + ": name longer than " +
                           std::to_string(kMaxNameBytes) + " bytes");
  }
  if (!IsValidUtf8(t.name, t.name_len)) {
    return InvalidArgument(where + ": name is not valid UTF-8");
  }
  std::optional<DType> dtype = DTypeFromC(t.dtype);
  if (!dtype) {
    return InvalidArgument(where + ": unknown dtype code " +
                           std::to_string(t.dtype));
  }
  if (t.rank < 0 || t.rank > AGGF_MAX_RANK) {
    return InvalidArgument(where + ": rank " + std::to_string(t.rank) +
                           " outside 0.." + std::to_string(AGGF_MAX_RANK));
  }
  if (t.rank > 0 && t.shape == nullptr) {
    return InvalidArgument(where + ": shape is null");
  }
  if (t.reserved0 != 0) return InvalidArgument(where + ": reserved0 is not 0");
  TensorView view;
  view.name = std::string_view(t.name, t.name_len);
  view.dtype = *dtype;
  const size_t rank = static_cast<size_t>(t.rank);
  if (rank > 0) view.shape = std::span<const int64_t>(t.shape, rank);
  if (t.strides != nullptr && rank > 0) {
    view.strides = std::span<const int64_t>(t.strides, rank);
  }
  view.data = t.data;
  int64_t numel = 0, extent = 0;
  Status status = ValidateView(view, &numel, &extent);
  if (!status.ok()) return status;
  views->push_back(view);
  return Status::Ok();
}

Status ConvertTensors(const aggf_tensor* tensors, uint32_t count,
                      std::vector<TensorView>* views) {
  if (count > 0 && tensors == nullptr) {
    return InvalidArgument("tensor array is null but count is " +
                           std::to_string(count));
  }
  views->reserve(count);
  std::unordered_set<std::string_view> names;
  for (uint32_t i = 0; i < count; ++i) {
    FLS_RETURN_IF_ERROR(ConvertTensor(tensors[i], i, views));
    if (!names.insert(views->back().name).second) {
      return InvalidArgument("duplicate tensor name '" +
                             std::string(views->back().name) + "'");
    }
  }
  return Status::Ok();
}

}  // namespace

bool IsValidUtf8(const char* data, size_t size) {
  const auto* s = reinterpret_cast<const unsigned char*>(data);
  size_t i = 0;
  while (i < size) {
    const unsigned char c = s[i];
    size_t extra;
    uint32_t min;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, min = 0x10000;
    } else {
      return false;
    }
    if (size - i <= extra) return false;
    uint32_t cp = c & (0x3f >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

void ConvertUpdate(const aggf_update& u, uint32_t index,
                   std::set<std::string>* seen_clients, UpdateInput* out) {
  UpdateInput& update = *out;
  update = UpdateInput{};
  update.num_examples = u.num_examples;
  const std::string where = "update #" + std::to_string(index);
  if (u.client_id == nullptr || u.client_id_len == 0) {
    update.invalid_reason = where + ": empty client id";
    return;
  }
  if (u.client_id_len > kMaxNameBytes ||
      !IsValidUtf8(u.client_id, u.client_id_len)) {
    update.invalid_reason = where + ": client id is not short valid UTF-8";
    return;
  }
  update.client_id.assign(u.client_id, u.client_id_len);
  if (!seen_clients->insert(update.client_id).second) {
    update.invalid_reason =
        where + ": duplicate client id '" + update.client_id + "'";
    return;
  }
  if (u.kind != AGGF_UPDATE_DELTA && u.kind != AGGF_UPDATE_WEIGHTS) {
    update.invalid_reason =
        where + ": unknown update kind " + std::to_string(u.kind);
    return;
  }
  update.kind =
      u.kind == AGGF_UPDATE_DELTA ? UpdateKind::kDelta : UpdateKind::kWeights;
  if (u.reserved0 != 0) {
    update.invalid_reason = where + ": reserved0 is not 0";
    return;
  }
  if (u.num_tensors == 0) {
    update.invalid_reason = where + ": no tensors";
    return;
  }
  Status status = ConvertTensors(u.tensors, u.num_tensors, &update.tensors);
  if (!status.ok()) {
    update.invalid_reason =
        where + " (client '" + update.client_id + "'): " + status.message();
    update.tensors.clear();
  }
}

Status ConvertRoundBegin(const aggf_round_begin* given, uint64_t* round,
                         std::vector<TensorView>* global) {
  if (given == nullptr) return InvalidArgument("round begin is null");
  aggf_round_begin begin;
  FLS_RETURN_IF_ERROR(
      ReadSizedStruct(given, sizeof(aggf_round_begin), "round begin", &begin));
  if (begin.reserved0 != 0 || begin.reserved1 != 0) {
    return InvalidArgument("round begin: a reserved field is not 0");
  }
  std::vector<TensorView> views;
  Status status =
      ConvertTensors(begin.global_tensors, begin.num_global_tensors, &views);
  if (!status.ok()) return status.WithContext("global model");
  *round = begin.round;
  *global = std::move(views);
  return Status::Ok();
}

Status ConvertRound(const aggf_round* given, RoundInput* out) {
  if (given == nullptr) return InvalidArgument("round is null");
  aggf_round copy;
  FLS_RETURN_IF_ERROR(ReadSizedStruct(given, kRoundSizeV1_0, "round", &copy));
  const aggf_round* round = &copy;
  if (round->reserved0 != 0) {
    return InvalidArgument("round.reserved0 is not 0");
  }
  if (round->num_updates > kMaxUpdatesPerRound) {
    return InvalidArgument("round has " + std::to_string(round->num_updates) +
                           " updates; at most " +
                           std::to_string(kMaxUpdatesPerRound) + " allowed");
  }
  if (round->num_updates > 0 && round->updates == nullptr) {
    return InvalidArgument("round.updates is null but num_updates is " +
                           std::to_string(round->num_updates));
  }
  RoundInput result;
  result.round = round->round;
  Status global = ConvertTensors(round->global_tensors,
                                 round->num_global_tensors, &result.global);
  if (!global.ok()) return global.WithContext("global model");

  std::set<std::string> seen_clients;
  result.updates.resize(round->num_updates);
  for (uint32_t i = 0; i < round->num_updates; ++i) {
    ConvertUpdate(round->updates[i], i, &seen_clients, &result.updates[i]);
  }
  *out = std::move(result);
  return Status::Ok();
}

}  // namespace flsentry
