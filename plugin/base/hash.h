// hash.h — a small, fast, deterministic 64-bit hash for fingerprints (not
// cryptographic, not keyed: it tells accidental differences apart, it does
// not resist an adversary who chooses inputs to collide). Header-only.
#ifndef FLSENTRY_BASE_HASH_H_
#define FLSENTRY_BASE_HASH_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace flsentry {

// Feeds words and byte strings; the same sequence of calls gives the same
// value on every machine (bytes are read little-endian).
class Hasher {
 public:
  explicit Hasher(uint64_t seed = 0x6a09e667f3bcc908ULL) : h_(seed) {}

  void Add(uint64_t word) { h_ = Mix(h_ ^ word) + 0x9e3779b97f4a7c15ULL; }
  void Add(double value) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    Add(bits);
  }
  // Length first, so ("ab", "c") and ("a", "bc") differ.
  void Add(std::string_view bytes) { AddBytes(bytes.data(), bytes.size()); }
  void AddBytes(const void* data, size_t size) {
    Add(static_cast<uint64_t>(size));
    const auto* p = static_cast<const unsigned char*>(data);
    for (; size >= 8; p += 8, size -= 8) Add(Load(p, 8));
    if (size > 0) Add(Load(p, size));
  }
  uint64_t value() const { return Mix(h_); }

 private:
  static uint64_t Mix(uint64_t x) {  // SplitMix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  static uint64_t Load(const unsigned char* p, size_t n) {
    uint64_t v = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&v, p, n);
      return v;
    }
    for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
    return v;
  }

  uint64_t h_;
};

}  // namespace flsentry

#endif  // FLSENTRY_BASE_HASH_H_
