#include "base/parallel.h"

#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

using namespace flsentry;

TEST_CASE("ParallelFor runs every item once, on any number of threads") {
  for (int threads : {0, 1, 2, 3, 8, 100}) {
    CAPTURE(threads);
    std::vector<std::atomic<int>> runs(37);
    Status s = ParallelFor(runs.size(), threads, [&](size_t i) { ++runs[i]; });
    CHECK(s.ok());
    for (const auto& r : runs) CHECK(r.load() == 1);
  }
  CHECK(ParallelFor(0, 4, [](size_t) { FAIL("no items"); }).ok());
}

TEST_CASE("an exception in a body is the first failing item's error") {
  std::vector<std::atomic<int>> runs(20);
  Status s = ParallelFor(runs.size(), 3, [&](size_t i) {
    ++runs[i];
    if (i == 7 || i == 12)
      throw std::runtime_error("broken " + std::to_string(i));
    if (i == 15) throw std::bad_alloc();
  });
  CHECK(s.code() == ErrorCode::kInternal);
  CHECK(s.message() == "item 7: broken 7");
  for (const auto& r : runs) CHECK(r.load() == 1);  // the rest still ran
  Status oom = ParallelFor(4, 2, [](size_t i) {
    if (i == 2) throw std::bad_alloc();
  });
  CHECK(oom.message() == "item 2: out of memory");
}

TEST_CASE("threads that cannot start: their items run on the caller") {
  SetThreadStartFailureForTesting(true);
  std::vector<std::atomic<int>> runs(10);
  Status s = ParallelFor(runs.size(), 4, [&](size_t i) { ++runs[i]; });
  SetThreadStartFailureForTesting(false);
  CHECK(s.ok());
  for (const auto& r : runs) CHECK(r.load() == 1);
}
