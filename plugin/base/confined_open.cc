#include "base/confined_open.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flsentry {
namespace {

// Why openat(..., O_NOFOLLOW) failed, for `shown`.
Status OpenError(int err, int parent, const std::string& part,
                 const std::string& shown) {
  if (err == ENOENT) return NotFound(shown + ": no such file");
  struct stat st {};
  if ((err == ELOOP || err == ENOTDIR || err == EMLINK) &&
      ::fstatat(parent, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(st.st_mode)) {
    return InvalidArgument(shown + ": '" + part +
                           "' is a symbolic link; links are not followed "
                           "(the files of a round must lie inside it)");
  }
  if (err == ENOTDIR)
    return InvalidArgument(shown + ": '" + part + "' is not a directory");
  return IoError(shown + ": cannot open: " + std::strerror(err));
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<UniqueFd> OpenDirectory(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(),
                        O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound(dir + ": no such directory");
    return IoError(dir + ": cannot open: " + std::strerror(err));
  }
  return UniqueFd(fd);
}

Result<UniqueFd> OpenBeneath(int dir_fd, std::string_view relative,
                             bool want_directory, const std::string& shown) {
  if (relative.empty() || relative.front() == '/') {
    return InvalidArgument(shown + ": not a relative path");
  }
  UniqueFd current;  // the directory reached so far; dir_fd while empty
  size_t start = 0;
  while (true) {
    const size_t slash = relative.find('/', start);
    const bool last = slash == std::string_view::npos;
    const std::string part(
        relative.substr(start, last ? std::string_view::npos : slash - start));
    if (part.empty() || part == "." || part == ".." ||
        part.find('\0') != std::string::npos) {
      return InvalidArgument(shown + ": '" + part +
                             "' is not allowed in a path inside a round");
    }
    const int parent = current.get() >= 0 ? current.get() : dir_fd;
    const bool dir = !last || want_directory;
    // O_NONBLOCK: a FIFO must not block the open; it is refused below.
    const int flags =
        O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (dir ? O_DIRECTORY : O_NONBLOCK);
    const int fd = ::openat(parent, part.c_str(), flags);
    if (fd < 0) return OpenError(errno, parent, part, shown);
    UniqueFd opened(fd);
    if (last) {
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        return IoError(shown + ": cannot stat: " + std::strerror(errno));
      }
      if (!dir && !S_ISREG(st.st_mode)) {
        return InvalidArgument(shown + ": is not a regular file");
      }
      return opened;
    }
    current = std::move(opened);
    start = slash + 1;
  }
}

}  // namespace flsentry
