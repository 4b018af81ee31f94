#include "base/base64.h"

#include <bit>
#include <cstdint>
#include <cstring>

namespace flsentry {

static_assert(std::endian::native == std::endian::little,
              "the state file's floats are little-endian");

namespace {

constexpr char kB64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string FloatsToBase64(std::span<const float> values) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  const size_t n = values.size() * sizeof(float);
  std::string out((n + 2) / 3 * 4, '=');
  char* p = out.data();
  size_t i = 0;
  for (; i + 3 <= n; i += 3, p += 4) {  // whole groups: no padding
    const uint32_t v =
        uint32_t{bytes[i]} << 16 | uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    p[0] = kB64[v >> 18];
    p[1] = kB64[(v >> 12) & 63];
    p[2] = kB64[(v >> 6) & 63];
    p[3] = kB64[v & 63];
  }
  if (i < n) {  // 1 or 2 bytes left; the rest of the group stays '='
    uint32_t v = uint32_t{bytes[i]} << 16;
    if (i + 1 < n) v |= uint32_t{bytes[i + 1]} << 8;
    p[0] = kB64[v >> 18];
    p[1] = kB64[(v >> 12) & 63];
    if (i + 1 < n) p[2] = kB64[(v >> 6) & 63];
  }
  return out;
}

Result<std::vector<float>> Base64ToFloats(const std::string& text,
                                          size_t expected) {
  if (text.size() % 4 != 0 || text.size() / 4 * 3 < expected * sizeof(float)) {
    return StateError("base64 data has the wrong length");
  }
  int8_t decode[256];
  std::memset(decode, -1, sizeof decode);
  for (int i = 0; i < 64; ++i)
    decode[static_cast<unsigned char>(kB64[i])] = static_cast<int8_t>(i);
  std::vector<unsigned char> bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad || decode[static_cast<unsigned char>(c)] < 0)
        return StateError("invalid base64 data");
      v = (v << 6) |
          static_cast<uint32_t>(decode[static_cast<unsigned char>(c)]);
    }
    bytes.push_back(static_cast<unsigned char>(v >> 16));
    if (pad < 2) bytes.push_back(static_cast<unsigned char>(v >> 8));
    if (pad < 1) bytes.push_back(static_cast<unsigned char>(v));
  }
  if (bytes.size() != expected * sizeof(float))
    return StateError("base64 data has the wrong length");
  std::vector<float> out(expected);
  // Not for no floats: memcpy from and to null (the empty vectors' data())
  // is undefined even for 0 bytes.
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

}  // namespace flsentry
