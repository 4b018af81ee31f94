// safetensors.h — reading and writing the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
// "__metadata__" string map, then the tensor bytes. No LibTorch.
//
// Reading validates everything before any view is handed out: header length
// (at most kMaxSafetensorsHeaderBytes and inside the file), JSON shape of
// every entry, known dtype, rank <= 8, checked arithmetic on shapes, byte
// counts equal to numel * dtype size, offsets contiguous from 0 without gaps
// or overlap, and data exactly covering the rest of the file.
#ifndef FLSENTRY_TENSOR_SAFETENSORS_H_
#define FLSENTRY_TENSOR_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "base/status.h"
#include "tensor/tensor_set.h"
#include "tensor/tensor_view.h"

namespace flsentry {

inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Parses a whole safetensors file held in `bytes`. Tensors come out in data
// offset order and point into `bytes` (copied to an aligned heap buffer only
// when the file places a tensor at an offset not aligned to its element
// size); "__metadata__" entries become string scalars keyed by their name.
// OWNERSHIP: `keep_alive` must own `bytes`; it is stored in
// TensorSet::backing. Returns kCorrupt / kUnsupported with a message that
// does not name the file (the caller adds it).
Result<TensorSet> ParseSafetensors(std::span<const uint8_t> bytes,
                                   std::shared_ptr<const void> keep_alive);

// Maps `path` and parses it. Errors name the path.
Result<TensorSet> ReadSafetensorsFile(const std::string& path);

// Writes `tensors` (any strides; written contiguous, in the given order) and
// `metadata` to `path` through a temporary file renamed into place, so a
// failed write never leaves a partial file at `path`. The JSON header is
// padded with spaces to a multiple of 8 bytes. Returns kInvalidArgument for
// duplicate names, a tensor named "__metadata__" or an invalid view; kIo when
// the file cannot be written.
Status WriteSafetensorsFile(const std::string& path,
                            std::span<const TensorView> tensors,
                            const std::map<std::string, std::string>& metadata);

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_SAFETENSORS_H_
