// audit_log.h — the append-only audit log: one JSON object per line (JSON
// Lines), one line per decision, a round's lines written with one write(2)
// and an fdatasync. Records come from Policy::DecideRound; their fields are
// documented in docs/audit-log.md. Lines are compact JSON with keys sorted,
// so the same records always give the same bytes.
//
// Crash consistency (docs/audit-log.md, "Crashes"): each line carries
// `update` (its index in the round) and `updates` (the round's count), so a
// round is whole exactly when its last line has update == updates - 1. The
// engine appends a round before it saves the state, and the state records
// the log's length after that round (its committed end). Open puts aside
// whatever follows the committed end — or, when it is not known, whatever
// follows the last whole round — into "<path>.uncommitted-<UTC time>" and
// cuts the log there, so a torn line is never glued to the next record.
//
// One writer: Open takes the lock "<path>.lock" (file_lock.h) for the
// AuditLog's life; a second AuditLog on the same file is refused (kState).
//
// Threading: not thread-safe; one call at a time per AuditLog.
#ifndef FLSENTRY_ENGINE_AUDIT_LOG_H_
#define FLSENTRY_ENGINE_AUDIT_LOG_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/file_lock.h"

namespace flsentry {

// The JSON Lines text for `records`: each dumped compactly (invalid UTF-8
// replaced by U+FFFD) and followed by '\n'.
std::string FormatAuditLines(std::span<const nlohmann::json> records);

class AuditLog {
 public:
  // Opens `path` for appending, creating it (mode 0644) and missing parent
  // directories, takes its lock, and repairs its tail (see above).
  // committed_end: the log's length after its last committed round, from
  // the state; nullopt when unknown. A log shorter than committed_end, or
  // whose committed end does not fall after a line, was changed outside
  // flsentry: it is repaired as when the end is unknown. *warning (may be
  // null) receives what was put aside or found, for the host's log; "" when
  // nothing. Errors: kState (locked by another instance), kIo naming the
  // file.
  static Result<std::unique_ptr<AuditLog>> Open(
      const std::string& path, std::optional<uint64_t> committed_end = {},
      std::string* warning = nullptr);

  ~AuditLog();  // closes the file and releases the lock
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one round: sets `update` and `updates` in each record, writes
  // one line per record and flushes them to disk. An empty round writes
  // nothing. Returns kIo on a failed or short write or flush; the log is
  // then cut back to its length before the call (best effort: a log that
  // cannot be cut is repaired by the next Open).
  Status AppendRound(std::vector<nlohmann::json> records);

  // Cuts the log back to `end` bytes (REQUIRES: end <= this->end()), e.g.
  // to undo a round whose state could not be saved. Returns kIo on failure.
  Status Truncate(uint64_t end);

  // The log's length in bytes after the last append or truncation.
  uint64_t end() const { return end_; }
  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, int fd, uint64_t end,
           std::unique_ptr<FileLock> lock);

  std::string path_;
  int fd_;  // owned
  uint64_t end_;
  std::unique_ptr<FileLock> lock_;
};

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_AUDIT_LOG_H_
