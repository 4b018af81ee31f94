// zip_reader.h — a read-only view of a zip archive held in memory (usually
// a MappedFile), built on minizip's unzip. Entries stored uncompressed are
// returned in place, as spans into the archive's bytes, so tensor storages
// are never copied; deflated entries are inflated into a bounded buffer.
// Every offset and size is checked against the archive before use, and CRCs
// are verified. Not thread-safe (one minizip handle); use one reader per
// thread.
#ifndef FLSENTRY_TENSOR_ZIP_READER_H_
#define FLSENTRY_TENSOR_ZIP_READER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace flsentry {

struct ZipEntry {
  std::string name;
  bool stored = false;  // compression method 0 (else deflate)
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint32_t crc32 = 0;
  uint64_t directory_position = 0;  // minizip's handle to seek back to it
  uint64_t directory_file_number = 0;
};

// The bytes of one entry: either in place inside the archive or owned.
struct ZipEntryBytes {
  std::span<const uint8_t> bytes;
  // Set when the bytes were inflated; `bytes` points into it.
  std::shared_ptr<std::vector<uint8_t>> owned;
};

class ZipReader {
 public:
  // Largest number of entries an archive may list.
  static constexpr size_t kMaxEntries = 1 << 20;

  // Reads the central directory of the archive in `archive`. REQUIRES:
  // `archive` outlives the reader and every span it returns. Returns
  // kCorrupt when it is not a zip, lists more than kMaxEntries entries,
  // repeats a name or uses encryption or a method other than stored/deflate.
  static Result<std::unique_ptr<ZipReader>> Open(
      std::span<const uint8_t> archive);

  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  // Entries in central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when there is no entry with exactly this name.
  const ZipEntry* Find(std::string_view name) const;

  // The entry's uncompressed bytes, at most `max_bytes` of them (kCorrupt
  // when it claims more). Stored entries come back in place after checking
  // that they lie inside the archive, that compressed and uncompressed sizes
  // agree with each other and with the local header, and that the CRC
  // matches; deflated entries are inflated and must produce exactly the
  // claimed size and CRC.
  Result<ZipEntryBytes> Read(const ZipEntry& entry, uint64_t max_bytes);

 private:
  struct Impl;
  explicit ZipReader(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  std::vector<ZipEntry> entries_;
};

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_ZIP_READER_H_
