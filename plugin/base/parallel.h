// parallel.h — runs the same body over many items on a few plain threads,
// safely: nothing a body throws and no failure to start a thread can
// terminate the process (a std::thread that is destroyed while joinable, or
// an exception leaving a thread's function, calls std::terminate).
//
// Threading: `body` runs concurrently on up to `threads` threads (the
// caller's included), each item exactly once; it must be safe to call
// concurrently for different items. Returns after every item ran.
#ifndef FLSENTRY_BASE_PARALLEL_H_
#define FLSENTRY_BASE_PARALLEL_H_

#include <cstddef>
#include <functional>

#include "base/status.h"

namespace flsentry {

// Runs body(i) for every i in [0, items), item i on thread i % workers
// (workers = min(threads, items), at least 1). When a thread cannot be
// started, its items run on the calling thread instead. An exception thrown
// by body(i) is caught on its thread; after all items ran, the first such
// item's error is returned as kInternal ("item <i>: <what>"), or kInternal
// "out of memory" for std::bad_alloc. Never throws.
Status ParallelFor(size_t items, int threads,
                   const std::function<void(size_t)>& body) noexcept;

// For tests: while set, starting a worker thread fails as if the system
// refused (std::system_error). Not thread-safe; set it only in tests.
void SetThreadStartFailureForTesting(bool fail);

}  // namespace flsentry

#endif  // FLSENTRY_BASE_PARALLEL_H_
