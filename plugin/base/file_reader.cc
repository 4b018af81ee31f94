#include "base/file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flsentry {
namespace {

Status OsError(const std::string& path, int err) {
  if (err == ENOENT || err == ENOTDIR) return NotFound(path + ": no such file");
  return IoError(path + ": cannot read: " + std::strerror(err));
}

// Closes a descriptor when it goes out of scope.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

}  // namespace

Result<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return OsError(path, errno);
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return OsError(path, errno);
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(path + ": not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return InvalidArgument(path + ": larger than " + std::to_string(max_bytes) +
                           " bytes");
  }
  std::string text(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return OsError(path, errno);
    if (n == 0) break;  // the file shrank while we read it
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  // A file that grew while we read it: read on, up to the limit.
  char extra[4096];
  for (;;) {
    const ssize_t n = ::read(fd, extra, sizeof extra);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return OsError(path, errno);
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > max_bytes) {
      return InvalidArgument(path + ": larger than " +
                             std::to_string(max_bytes) + " bytes");
    }
    text.append(extra, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace flsentry
