// libFuzzer target: arbitrary bytes through the safetensors reader. Must
// never crash, leak, hang or allocate without bound; every accepted tensor
// must lie inside the input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "tensor/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flsentry::Result<flsentry::TensorSet> set =
      flsentry::ParseSafetensors(std::span<const uint8_t>(data, size), nullptr);
  if (!set.ok()) return 0;
  for (const flsentry::TensorView& view : set->Views()) {
    int64_t numel = 0;
    int64_t extent = 0;
    if (!flsentry::ValidateView(view, &numel, &extent).ok()) __builtin_trap();
    const auto* base = static_cast<const volatile uint8_t*>(view.data);
    uint8_t sink = 0;
    for (int64_t i = 0; i < extent; ++i) sink ^= base[i];
    (void)sink;
  }
  return 0;
}
