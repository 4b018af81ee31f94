// confined_open.h — opening a file below a directory without leaving it:
// every component of the relative path is opened with openat(2) and
// O_NOFOLLOW, so a symbolic link anywhere on the way (a file, a directory,
// a round folder) is refused instead of followed, and ".." is refused
// outright. For inputs that must stay inside a tree someone else prepared
// (round archives). The directory itself is opened as given.
#ifndef FLSENTRY_BASE_CONFINED_OPEN_H_
#define FLSENTRY_BASE_CONFINED_OPEN_H_

#include <string>
#include <string_view>

#include "base/status.h"

namespace flsentry {

// An owned file descriptor; closed when destroyed. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// Opens the directory `dir` (following symbolic links: the caller chose
// it). Errors: kNotFound, kIo naming `dir`.
Result<UniqueFd> OpenDirectory(const std::string& dir);

// Opens `relative` ("a/b/c.safetensors") below the directory `dir_fd` for
// reading, never following a symbolic link and never leaving the
// directory. want_directory: the last component must be a directory (else a
// regular file is required; FIFOs and devices are refused without blocking).
// `shown` names the path in messages. Errors: kInvalidArgument for an
// empty, absolute or ".."/"." component, a symbolic link ("... is a
// symbolic link; links are not followed") or the wrong file type;
// kNotFound; kIo.
Result<UniqueFd> OpenBeneath(int dir_fd, std::string_view relative,
                             bool want_directory, const std::string& shown);

}  // namespace flsentry

#endif  // FLSENTRY_BASE_CONFINED_OPEN_H_
