// png_decode.h — a minimal PNG decoder for tests: 8-bit RGB or RGBA,
// non-interlaced (what Chromium's --screenshot writes), decoded with zlib.
// Anything else is reported as an error, never guessed.
#ifndef FLSENTRY_TESTS_REPLAY_PNG_DECODE_H_
#define FLSENTRY_TESTS_REPLAY_PNG_DECODE_H_

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace replaytest {

struct Image {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3, row-major
};

namespace png_detail {
inline uint32_t Be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
         (uint32_t(p[2]) << 8) | p[3];
}
inline uint8_t Paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b),
            pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
  return static_cast<uint8_t>(pb <= pc ? b : c);
}
}  // namespace png_detail

// Decodes `bytes` into *image. Returns "" on success, else what is wrong.
inline std::string DecodePng(const std::string& bytes, Image* image) {
  using namespace png_detail;
  const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  if (n < 8 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0)
    return "not a PNG file";
  uint32_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> idat;
  for (size_t pos = 8; pos + 12 <= n;) {
    const uint32_t len = Be32(d + pos);
    const std::string type(bytes, pos + 4, 4);
    if (len > n - pos - 12) return "truncated chunk " + type;
    const uint8_t* body = d + pos + 8;
    if (type == "IHDR") {
      if (len != 13) return "bad IHDR";
      width = Be32(body);
      height = Be32(body + 4);
      const uint8_t depth = body[8], color = body[9], interlace = body[12];
      if (depth != 8 || interlace != 0 || (color != 2 && color != 6)) {
        return "unsupported PNG (depth " + std::to_string(depth) +
               ", color type " + std::to_string(color) + ", interlace " +
               std::to_string(interlace) + ")";
      }
      channels = color == 6 ? 4 : 3;
      if (width == 0 || height == 0 || width > 20000 || height > 20000)
        return "bad size";
    } else if (type == "IDAT") {
      idat.insert(idat.end(), body, body + len);
    } else if (type == "IEND") {
      break;
    }
    pos += 12 + len;
  }
  if (channels == 0) return "no IHDR";
  const size_t stride = size_t(width) * channels;
  std::vector<uint8_t> raw((stride + 1) * height);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, idat.data(), idat.size()) != Z_OK ||
      raw_len != raw.size()) {
    return "bad image data";
  }
  std::vector<uint8_t> prev(stride, 0), cur(stride);
  image->width = width;
  image->height = height;
  image->rgb.assign(size_t(width) * height * 3, 0);
  for (uint32_t y = 0; y < height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* src = &raw[y * (stride + 1) + 1];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= channels ? cur[i - channels] : 0;
      const int b = prev[i];
      const int c = i >= channels ? prev[i - channels] : 0;
      int v = src[i];
      switch (filter) {
        case 0:
          break;
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) / 2;
          break;
        case 4:
          v += Paeth(a, b, c);
          break;
        default:
          return "bad filter type " + std::to_string(filter);
      }
      cur[i] = static_cast<uint8_t>(v);
    }
    for (uint32_t x = 0; x < width; ++x) {
      for (int k = 0; k < 3; ++k) {
        image->rgb[(size_t(y) * width + x) * 3 + k] =
            cur[size_t(x) * channels + k];
      }
    }
    std::swap(prev, cur);
  }
  return "";
}

}  // namespace replaytest

#endif  // FLSENTRY_TESTS_REPLAY_PNG_DECODE_H_
