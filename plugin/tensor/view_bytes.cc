#include "tensor/view_bytes.h"

#include <cstring>
#include <vector>

namespace flsentry {
namespace {
constexpr size_t kGatherChunkBytes = size_t{1} << 20;
}  // namespace

int64_t ContiguousByteSize(const TensorView& view) {
  return view.numel() * static_cast<int64_t>(DTypeSize(view.dtype));
}

Status StreamViewBytes(
    const TensorView& view,
    const std::function<Status(std::span<const uint8_t>)>& sink) {
  int64_t numel = 0;
  int64_t extent = 0;
  FLS_RETURN_IF_ERROR(ValidateView(view, &numel, &extent));
  if (numel == 0) return Status::Ok();
  const auto* base = static_cast<const uint8_t*>(view.data);
  const size_t esize = DTypeSize(view.dtype);
  if (view.IsContiguous()) {
    return sink({base, static_cast<size_t>(numel) * esize});
  }
  std::vector<uint8_t> chunk;
  chunk.reserve(kGatherChunkBytes);
  Status status;
  OffsetWalker walker(view);
  for (int64_t i = 0; i < numel; ++i, walker.Next()) {
    const uint8_t* element = base + walker.offset();
    chunk.insert(chunk.end(), element, element + esize);
    if (chunk.size() + esize > kGatherChunkBytes) {
      FLS_RETURN_IF_ERROR(sink(chunk));
      chunk.clear();
    }
  }
  if (!chunk.empty()) return sink(chunk);
  return Status::Ok();
}

}  // namespace flsentry
