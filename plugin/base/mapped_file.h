// mapped_file.h — a whole file mapped read-only into memory (mmap), the
// backing store that tensor views point into so tensor bytes are never
// copied. Immutable after Open; safe to read from several threads.
#ifndef FLSENTRY_BASE_MAPPED_FILE_H_
#define FLSENTRY_BASE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/status.h"

namespace flsentry {

class MappedFile {
 public:
  // Maps the regular file at `path` read-only. Returns kIo when it cannot be
  // opened or mapped, kInvalidArgument when it is a directory or not a
  // regular file, kCorrupt when it is empty. Messages name the path.
  // OWNERSHIP: the mapping lives until the last shared_ptr is released; put
  // it in TensorSet::backing to keep views into it valid.
  static Result<std::shared_ptr<const MappedFile>> Open(
      const std::string& path);
  // As Open, for a file the caller opened (e.g. with OpenBeneath); `path`
  // names it in messages. OWNERSHIP: fd is borrowed; the caller closes it
  // (the mapping outlives it).
  static Result<std::shared_ptr<const MappedFile>> FromFd(
      int fd, const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace flsentry

#endif  // FLSENTRY_BASE_MAPPED_FILE_H_
