#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace flsentry {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

// Closes a file descriptor on scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// The file's `size` bytes from offset 0 in a page-aligned buffer of its own
// (the alignment a mapping gives); kIo when it cannot be read in full (it
// shrank, or a read failed). OWNERSHIP: the caller frees it with free().
Result<uint8_t*> ReadWhole(int fd, size_t size, const std::string& path) {
  constexpr size_t kPage = 4096;
  const size_t capacity = (size + kPage - 1) / kPage * kPage;
  auto* buffer = static_cast<uint8_t*>(std::aligned_alloc(kPage, capacity));
  if (buffer == nullptr) return IoError(path + ": cannot allocate its bytes");
  size_t done = 0;
  while (done < size) {
    const ssize_t n =
        ::pread(fd, buffer + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why =
          n < 0 ? "cannot read: " + ErrnoText(errno) : "short read";
      std::free(buffer);
      return IoError(path + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  return buffer;
}

}  // namespace

Result<std::shared_ptr<const MappedFile>> MappedFile::Open(
    const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
  // below as not a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound(path + ": no such file");
    return IoError(path + ": cannot open: " + ErrnoText(err));
  }
  FdCloser closer{fd};
  return FromFd(fd, path);
}

Result<std::shared_ptr<const MappedFile>> MappedFile::FromFd(
    int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return IoError(path + ": cannot stat: " + ErrnoText(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return InvalidArgument(path + ": is a directory, not a file");
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(path + ": is not a regular file");
  }
  if (st.st_size == 0) return Corrupt(path + ": file is empty");
  const size_t size = static_cast<size_t>(st.st_size);
  if (size <= kReadWholeMaxBytes) {
    FLS_ASSIGN_OR_RETURN(uint8_t * buffer, ReadWhole(fd, size, path));
    return std::shared_ptr<const MappedFile>(
        new MappedFile(path, buffer, size, /*mapped=*/false));
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (addr == MAP_FAILED) {
    return IoError(path + ": cannot map: " + ErrnoText(errno));
  }
  return std::shared_ptr<const MappedFile>(new MappedFile(
      path, static_cast<const uint8_t*>(addr), size, /*mapped=*/true));
}

MappedFile::~MappedFile() {
  if (mapped_) {
    ::munmap(const_cast<uint8_t*>(data_), size_);
  } else {
    std::free(const_cast<uint8_t*>(data_));
  }
}

}  // namespace flsentry
