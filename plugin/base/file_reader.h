// file_reader.h — the one whole-file reader for the small files flsentry
// reads at once (policies, train configs, detector.json, manifests, state
// files). Large tensor files are mapped instead (mapped_file.h).
// Thread-safe; never throws.
#ifndef FLSENTRY_BASE_FILE_READER_H_
#define FLSENTRY_BASE_FILE_READER_H_

#include <cstdint>
#include <string>

#include "base/status.h"

namespace flsentry {

// Reads the regular file at `path` into a string of at most `max_bytes`
// bytes. Never blocks on a FIFO or device (they are refused, not opened for
// reading). Errors, each naming `path`: kNotFound "<path>: no such file";
// kInvalidArgument "<path>: not a regular file" or "<path>: larger than
// <max_bytes> bytes"; kIo "<path>: cannot read: <errno text>".
Result<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes);

}  // namespace flsentry

#endif  // FLSENTRY_BASE_FILE_READER_H_
