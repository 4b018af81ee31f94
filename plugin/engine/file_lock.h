// file_lock.h — one writer per file: an advisory lock (flock(2), exclusive,
// non-blocking) on a sibling "<path>.lock", held for the FileLock's life.
// The lock file holds "pid <N>\n" of the holder so that a refused instance
// can name it. The lock belongs to the open file description, so two
// instances in one process exclude each other as two processes do. The
// lock file is left in place when released (removing it would race with a
// process about to lock it). Advisory: programs that do not take the lock
// are not stopped; on network file systems flock may be emulated or absent.
//
// Threading: a FileLock is immutable; destroy it once.
#ifndef FLSENTRY_ENGINE_FILE_LOCK_H_
#define FLSENTRY_ENGINE_FILE_LOCK_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace flsentry {

class FileLock {
 public:
  // Locks `path` (through "<path>.lock", creating it and missing parent
  // directories). `what` names the file in messages ("state file").
  // Errors: kState "<what> <path> is in use by another flsentry instance
  // (process N[, this process]); ..." when another holder has it; kIo when
  // the lock file cannot be created or locked.
  static Result<std::unique_ptr<FileLock>> Acquire(const std::string& path,
                                                   std::string_view what);

  ~FileLock();  // releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const std::string& lock_path() const { return lock_path_; }

 private:
  FileLock(std::string lock_path, int fd)
      : lock_path_(std::move(lock_path)), fd_(fd) {}

  std::string lock_path_;
  int fd_;  // owned; holds the lock
};

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_FILE_LOCK_H_
