// simhash.h — the codes of the near-duplicate search's bucketed path
// (pairwise.h): each row's kPoolBits signs against Gaussian hyperplanes
// (random-hyperplane LSH, Charikar, STOC 2002), drawn from a seeded
// stream so that they are the same bits on every CPU, libm and thread
// count. Internal to detector/.
#ifndef FLSENTRY_DETECTOR_SIMHASH_H_
#define FLSENTRY_DETECTOR_SIMHASH_H_

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "detector/pairwise.h"

namespace flsentry {

// SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): a deterministic stream
// of 64-bit words; seeds the hyperplanes and the tables' bit draws.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1), a multiple of 2^-52.
  double Symmetric() {
    return static_cast<double>(Next() >> 11) * 0x1.0p-52 - 1.0;
  }

 private:
  uint64_t s_;
};

// The codes of `rows` rows of `dim` floats (`centred`, row-major: the
// round's centred rows), packed kPoolBits / 64 words a row: bit h of word h /
// 64 of row r is set when hyperplane h gives a positive product. The dim x
// kPoolBits hyperplanes are standard normals drawn from `stream` (16
// blocks of rows, each from its own stream seeded by the next word of
// `stream`, in block order: the matrix depends on `stream` alone, never on
// `threads`); the products are one Gemm on `threads` threads. Errors:
// kInternal when the work cannot run (ParallelFor's). Thread-compatible.
Result<std::vector<uint64_t>> SimHashCodes(const std::vector<float>& centred,
                                           int64_t rows, int64_t dim,
                                           SplitMix64& stream, int threads);

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_SIMHASH_H_
