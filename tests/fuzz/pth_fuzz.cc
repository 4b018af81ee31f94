// libFuzzer target: arbitrary bytes through the .pth reader (zip reader,
// restricted unpickler, storage resolution), with and without a key path,
// and straight through the unpickler as a data.pkl program. Must never
// crash, leak, hang or allocate without bound. The fuzz build skips zip CRC
// checks (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) so mutations reach the
// pickle.
#include <cstddef>
#include <cstdint>
#include <span>

#include "tensor/pickle_reader.h"
#include "tensor/pth_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  (void)flsentry::Unpickle(bytes);
  for (const char* key_path : {"", "model"}) {
    flsentry::Result<flsentry::TensorSet> set =
        flsentry::ParsePth(bytes, nullptr, key_path);
    if (!set.ok()) continue;
    // Touch every element the views claim, so out-of-bounds views show up.
    for (const flsentry::TensorView& view : set->Views()) {
      int64_t numel = 0;
      int64_t extent = 0;
      if (!flsentry::ValidateView(view, &numel, &extent).ok()) __builtin_trap();
      const auto* base = static_cast<const volatile uint8_t*>(view.data);
      uint8_t sink = 0;
      for (int64_t i = 0; i < extent; ++i) sink ^= base[i];
      (void)sink;
    }
  }
  return 0;
}
