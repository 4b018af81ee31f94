#include "base/parallel.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace flsentry {
namespace {

std::atomic<bool> g_fail_thread_start{false};

// The first error seen by any worker, by item index.
class FirstError {
 public:
  void Record(size_t item, Status status) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!status_.ok() && item_ <= item) return;
    item_ = item;
    status_ = std::move(status);
  }
  Status Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return status_;
  }

 private:
  std::mutex mutex_;
  size_t item_ = 0;
  Status status_;
};

// Items first, first + step, ... of `items`; catches everything.
void RunStride(size_t first, size_t step, size_t items,
               const std::function<void(size_t)>& body, FirstError& errors) {
  for (size_t i = first; i < items; i += step) {
    try {
      body(i);
    } catch (const std::bad_alloc&) {
      errors.Record(
          i, InternalError("item " + std::to_string(i) + ": out of memory"));
    } catch (const std::exception& e) {
      errors.Record(
          i, InternalError("item " + std::to_string(i) + ": " + e.what()));
    } catch (...) {
      errors.Record(i, InternalError("item " + std::to_string(i) +
                                     ": unknown exception"));
    }
  }
}

}  // namespace

void SetThreadStartFailureForTesting(bool fail) { g_fail_thread_start = fail; }

Status ParallelFor(size_t items, int threads,
                   const std::function<void(size_t)>& body) noexcept {
  FirstError errors;
  size_t workers =
      std::max<size_t>(1, std::min<size_t>(std::max(threads, 1), items));
  std::vector<std::thread> pool;
  std::vector<size_t> not_started;
  try {
    pool.reserve(workers - 1);
    not_started.reserve(workers - 1);
  } catch (...) {
    workers = 1;  // no memory for the bookkeeping: run everything here
  }
  for (size_t w = 1; w < workers; ++w) {
    try {  // std::thread throws system_error (or bad_alloc) when it cannot
      if (g_fail_thread_start) {
        throw std::system_error(
            std::make_error_code(std::errc::resource_unavailable_try_again));
      }
      pool.emplace_back(RunStride, w, workers, items, std::cref(body),
                        std::ref(errors));
    } catch (...) {
      not_started.push_back(w);  // reserved: does not allocate
    }
  }
  RunStride(0, workers, items, body, errors);
  for (size_t w : not_started) RunStride(w, workers, items, body, errors);
  for (std::thread& t : pool) t.join();
  return errors.Take();
}

}  // namespace flsentry
