#include "engine/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace flsentry {
namespace {

// "process 123" from the holder's "pid 123\n", or "" when the text is not
// exactly that (the lock file is ours, but never trusted blindly).
std::string Holder(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n < 6 || std::strncmp(buf, "pid ", 4) != 0) return "";
  long long pid = 0;
  ssize_t i = 4;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9' && i < 14; ++i)
    pid = pid * 10 + (buf[i] - '0');
  if (i == 4 || i >= n || buf[i] != '\n' || pid <= 0) return "";
  std::string text = "process " + std::to_string(pid);
  if (pid == static_cast<long long>(::getpid())) text += ", this process";
  return text;
}

}  // namespace

Result<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path,
                                                    std::string_view what) {
  const std::string lock_path = path + ".lock";
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return IoError(std::string(what) + " " + path +
                     ": cannot create directory " + dir + ": " + ec.message());
    }
  }
  const int fd = ::open(lock_path.c_str(),
                        O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    return IoError(std::string(what) + " " + path + ": cannot open " +
                   lock_path + ": " + std::strerror(errno));
  }
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    std::string holder = err == EWOULDBLOCK ? Holder(fd) : "";
    ::close(fd);
    if (err != EWOULDBLOCK) {
      return IoError(std::string(what) + " " + path + ": cannot lock " +
                     lock_path + ": " + std::strerror(err));
    }
    return StateError(
        std::string(what) + " " + path +
        " is in use by another flsentry instance (" +
        (holder.empty() ? std::string("holder unknown") : holder) + "; lock " +
        lock_path +
        "). One instance per file: give this instance its own path, or "
        "stop the other one first");
  }
  const std::string mine = "pid " + std::to_string(::getpid()) + "\n";
  // When this fails the lock is held all the same; only the holder's name
  // is missing from a refused instance's message.
  if (::ftruncate(fd, 0) == 0) {
    (void)!::pwrite(fd, mine.data(), mine.size(), 0);
  }
  return std::unique_ptr<FileLock>(new FileLock(lock_path, fd));
}

FileLock::~FileLock() { ::close(fd_); }

}  // namespace flsentry
