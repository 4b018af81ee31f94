// file_writer.h — the one atomic writer: a new file is written through a
// temporary sibling ("<path>.tmp.<pid>"), fsync'd, renamed over `path` and
// the directory fsync'd, only by Commit(); so after a crash at any point
// `path` holds either its old bytes or all of the new ones, and a failed or
// abandoned write never leaves a partial file at `path`.
// Not thread-safe; one writer per file.
#ifndef FLSENTRY_BASE_FILE_WRITER_H_
#define FLSENTRY_BASE_FILE_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace flsentry {

class FileWriter {
 public:
  FileWriter() = default;
  // Removes the temporary file unless Commit() succeeded.
  ~FileWriter();
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  // Creates the temporary file. Returns kIo naming `path` on failure.
  Status Open(const std::string& path);
  // Appends bytes. REQUIRES: Open succeeded. Returns kIo on a short write.
  Status Write(std::span<const uint8_t> bytes);
  Status Write(const std::string& text) {
    return Write({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }
  // Bytes written so far (the offset the next Write starts at).
  uint64_t position() const { return position_; }
  // Repositions for rewriting earlier bytes (used by the zip writer).
  Status Seek(uint64_t offset);
  // Flushes and fsyncs the temporary file, renames it to `path`, fsyncs the
  // directory. kIo naming `path` on any failure (`path` then unchanged,
  // unless only the directory fsync failed: the rename is then done but
  // may not survive a power loss).
  Status Commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  uint64_t position_ = 0;
  bool committed_ = false;
};

// Writes `bytes` to `path` with a FileWriter (the guarantees above).
Status WriteFileAtomically(const std::string& path, std::string_view bytes);

// The temporary sibling a FileWriter of this process writes `path` through:
// "<path>.tmp.<pid>".
std::string TempPathFor(const std::string& path);

// Whether `name` (a file name, no directory) is a temporary sibling that a
// FileWriter of any process writes the file named `target_name` through:
// "<target_name>.tmp.<digits>".
bool IsTempNameFor(const std::string& target_name, const std::string& name);

// fsyncs the directory holding `path`, so that a rename into it (or out of
// it) survives a power loss. kIo naming the directory on failure; a
// filesystem that cannot fsync directories (EINVAL) is not an error.
Status SyncParentDirectory(const std::string& path);

}  // namespace flsentry

#endif  // FLSENTRY_BASE_FILE_WRITER_H_
