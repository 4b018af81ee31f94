// bench_stats.h — what the benchmark tools read of their own process
// (/proc/self/status) and the median they report. Header-only; Linux.
#ifndef FLSENTRY_INTEGRATION_BENCHMARK_BENCH_STATS_H_
#define FLSENTRY_INTEGRATION_BENCHMARK_BENCH_STATS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace flsentry::bench {

// A "<key> <n> kB" line of /proc/self/status in bytes (key with its colon,
// e.g. "VmHWM:"); -1 when absent.
inline int64_t ProcStatusBytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, len, key) == 0)
      return std::stoll(line.substr(len)) * 1024;
  }
  return -1;
}

// The resident-memory high-water mark and the resident size now, in bytes.
inline int64_t PeakRssBytes() { return ProcStatusBytes("VmHWM:"); }
inline int64_t CurrentRssBytes() { return ProcStatusBytes("VmRSS:"); }

// Resets the high-water mark to the resident size now; false when the
// kernel refused (clear_refs needs Linux >= 4.0).
inline bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  return static_cast<bool>(out);
}

// The upper median; NaN for no values.
inline double MedianOf(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCH_STATS_H_
