// mapped_file.h — a whole file held read-only in memory, the backing store
// that tensor views point into so tensor bytes are never copied: mapped
// (mmap) when larger than kReadWholeMaxBytes, read into a page-aligned
// buffer otherwise, so that a round of many small updates (replay, up to
// the C interface's 2^20 updates a round) never runs into the process's
// limit on mappings (vm.max_map_count, 65530 by default): at most one
// mapping per file over 1 MiB. The bytes keep the alignment a mapping
// would give. Immutable after Open; safe to read from several threads.
#ifndef FLSENTRY_BASE_MAPPED_FILE_H_
#define FLSENTRY_BASE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/status.h"

namespace flsentry {

// Files of at most this many bytes are read, not mapped.
inline constexpr size_t kReadWholeMaxBytes = size_t{1} << 20;

class MappedFile {
 public:
  // Maps (or reads, kReadWholeMaxBytes) the regular file at `path`. Returns
  // kIo when it cannot be opened, mapped or read in full, kInvalidArgument when
  // it is a directory or not a regular file, kCorrupt when it is empty.
  // Messages name the path. OWNERSHIP: the bytes live until the last shared_ptr
  // is released; put it in TensorSet::backing to keep views into it valid.
  static Result<std::shared_ptr<const MappedFile>> Open(
      const std::string& path);
  // As Open, for a file the caller opened (e.g. with OpenBeneath); `path`
  // names it in messages. OWNERSHIP: fd is borrowed; the caller closes it
  // (the bytes outlive it).
  static Result<std::shared_ptr<const MappedFile>> FromFd(
      int fd, const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // Whether the bytes are a mapping (else a buffer of their own).
  bool mapped() const { return mapped_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size, bool mapped)
      : path_(std::move(path)), data_(data), size_(size), mapped_(mapped) {}

  std::string path_;
  const uint8_t* data_;
  size_t size_;
  bool mapped_;  // munmap on destruction; else free
};

}  // namespace flsentry

#endif  // FLSENTRY_BASE_MAPPED_FILE_H_
