// c_sized.h — reading a struct of aggfilter.h that starts with its own
// `struct_size` (aggf_round, aggf_host_callbacks), as convention 1 of
// aggfilter.h promises: a host built against an older minor passes a
// smaller struct (the fields it lacks read as zero), a newer host a larger
// one whose bytes beyond what this plugin knows must all be zero (the rule
// of Linux's copy_struct_from_user: an unknown field that is set is a
// request this plugin cannot honour, so it is refused, not ignored).
#ifndef FLSENTRY_ABI_C_SIZED_H_
#define FLSENTRY_ABI_C_SIZED_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "base/status.h"

namespace flsentry {

// Copies *in (in->struct_size bytes, valid host memory by contract) into
// *out, zero-filling what the host's struct lacks. `min_size`: the struct's
// size in the minor that added it (1.0 for most), the smallest accepted. Errors
// (kInvalidArgument, naming `name`): struct_size below min_size; a non-zero
// byte past sizeof(T).
template <typename T>
Status ReadSizedStruct(const T* in, size_t min_size, const char* name, T* out) {
  static_assert(std::is_trivially_copyable_v<T>);
  const size_t given = in->struct_size;
  if (given < min_size) {
    return InvalidArgument(
        std::string(name) + ".struct_size " + std::to_string(given) +
        " is smaller than its first released size " + std::to_string(min_size));
  }
  std::memset(out, 0, sizeof(T));
  const size_t known = given < sizeof(T) ? given : sizeof(T);
  std::memcpy(out, in, known);
  const auto* bytes = reinterpret_cast<const unsigned char*>(in);
  for (size_t i = sizeof(T); i < given; ++i) {
    if (bytes[i] != 0) {
      return InvalidArgument(
          std::string(name) + ".struct_size " + std::to_string(given) +
          ": byte " + std::to_string(i) + " is set, beyond the " +
          std::to_string(sizeof(T)) +
          " bytes this plugin knows (a newer ABI's field it cannot honour)");
    }
  }
  out->struct_size = static_cast<uint32_t>(known);
  return Status::Ok();
}

}  // namespace flsentry

#endif  // FLSENTRY_ABI_C_SIZED_H_
