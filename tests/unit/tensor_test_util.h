// tensor_test_util.h — helpers shared by the tensor-file tests: temporary
// paths, whole-file I/O, and the float64 summary `flsentry inspect` prints.
#ifndef FLSENTRY_TESTS_TENSOR_TEST_UTIL_H_
#define FLSENTRY_TESTS_TENSOR_TEST_UTIL_H_

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "tensor/tensor_view.h"

namespace flsentry::testing {

inline std::string FixturePath(const std::string& name) {
  return std::string(FLSENTRY_FIXTURES) + "/tensorfiles/" + name;
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void WriteBytes(const std::string& path,
                       const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// The view's elements in row-major order, as contiguous bytes.
inline std::vector<uint8_t> RowMajorBytes(const TensorView& view) {
  std::vector<uint8_t> out;
  const size_t esize = DTypeSize(view.dtype);
  const auto* base = static_cast<const uint8_t*>(view.data);
  ForEachElementOffset(view, [&](int64_t, int64_t offset) {
    out.insert(out.end(), base + offset, base + offset + esize);
  });
  return out;
}

struct Summary {
  double sum = 0;
  double sum_abs = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  int64_t nonfinite = 0;
};

inline Summary Summarize(const TensorView& view) {
  Summary s;
  const auto* base = static_cast<const uint8_t*>(view.data);
  ForEachElementOffset(view, [&](int64_t, int64_t offset) {
    const double x = ElementAsDouble(base + offset, view.dtype, 0);
    if (!std::isfinite(x)) {
      ++s.nonfinite;
      return;
    }
    s.sum += x;
    s.sum_abs += std::fabs(x);
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  });
  return s;
}

}  // namespace flsentry::testing

#endif  // FLSENTRY_TESTS_TENSOR_TEST_UTIL_H_
